package vm

import (
	"fmt"
	"slices"
)

// Action is something a user asks of a VM.
type Action string

// The actions on a VM.
const (
	ActionStart      Action = "start"
	ActionStop       Action = "stop"
	ActionReboot     Action = "reboot"
	ActionPause      Action = "pause"
	ActionResume     Action = "resume"
	ActionDelete     Action = "delete"
	ActionEdit       Action = "edit"
	ActionResetState Action = "reset_state"
	ActionAdopt      Action = "adopt"
)

// Actions lists every action.
var Actions = []Action{ActionStart, ActionStop, ActionReboot, ActionPause, ActionResume, ActionDelete, ActionEdit, ActionResetState, ActionAdopt}

// rule says from which states an action may run and which state the VM is in
// while it runs ("" keeps the current state).
type rule struct {
	from    []State
	through State
}

var rules = map[Action]rule{
	// A paused VM "starts" by resuming.
	ActionStart:  {from: []State{StateStopped, StateCrashed, StatePaused}, through: StateStarting},
	ActionStop:   {from: []State{StateRunning, StatePaused, StateSuspended}, through: StateStopping},
	ActionReboot: {from: []State{StateRunning}, through: StateRebooting},
	ActionPause:  {from: []State{StateRunning}},
	ActionResume: {from: []State{StatePaused, StateSuspended}},
	// Delete without force: nothing is running.
	ActionDelete: {from: []State{StateStopped, StateCrashed, StateError, StateLost}, through: StateDeleting},
	// Spec edits: only while nothing runs.
	ActionEdit: {from: []State{StateStopped, StateCrashed, StateError}},
	// reset_state exists to get out of any state.
	ActionResetState: {from: States},
	// Adoption changes ownership, not power.
	ActionAdopt: {from: States},
}

// forceDelete lists the states a forced delete refuses: the VM is already
// going or gone.
var forceDeleteRefused = []State{StateDeleting, StateTerminated}

// TransitionError is a refused action: the API answers 409 with it.
type TransitionError struct {
	Action Action
	State  State
	Reason string
}

func (e *TransitionError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("cannot %s vm in state %s: %s", e.Action, e.State, e.Reason)
	}
	return fmt.Sprintf("cannot %s vm in state %s", e.Action, e.State)
}

// Check returns nil when action may run on a VM in state, or a
// *TransitionError saying why not. force only matters for delete, where it
// allows deleting a running VM.
func Check(action Action, state State, force bool) error {
	r, ok := rules[action]
	if !ok {
		return fmt.Errorf("unknown action %q", action)
	}
	if action == ActionDelete && force {
		if slices.Contains(forceDeleteRefused, state) {
			return &TransitionError{Action: action, State: state, Reason: "it is already being deleted or gone"}
		}
		return nil
	}
	if slices.Contains(r.from, state) {
		return nil
	}
	return &TransitionError{Action: action, State: state, Reason: hint(action, state)}
}

func hint(action Action, state State) string {
	switch {
	case state.Transitional():
		return "another action is in progress; wait for it or use reset_state"
	case action == ActionDelete && (state == StateRunning || state == StatePaused || state == StateSuspended):
		return "stop it first or use force=true"
	case action == ActionEdit:
		return "stop it first"
	case state == StateUnknown:
		return "its node is unreachable"
	}
	return ""
}

// Through returns the transitional state a VM shows while action runs, or ""
// when the action keeps the current state until it completes.
func Through(action Action) State { return rules[action].through }
