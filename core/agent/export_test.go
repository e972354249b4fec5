package agent

import "github.com/quantixvm/quantix/sdk/backend"

// EventsApplied returns how many lifecycle events of VMs the agent has
// applied to its view so far.
func (a *Agent) EventsApplied() uint64 { return a.view.begin() }

// VMState returns the state the agent's view has of VM id, "" when it has
// no such VM.
func (a *Agent) VMState(id string) backend.PowerState {
	states, _ := a.view.states()
	return states[id]
}
