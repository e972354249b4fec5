// Package vm is the Quantix VM model: power states, origins, the spec/status
// split and the rules for which action may run in which state. It is pure Go:
// no I/O, no database, no clock.
package vm

import (
	"fmt"
	"slices"
	"strings"
)

// State is a VM's power state as the control plane tracks it.
type State string

// The power states of a VM.
const (
	StateCreating   State = "CREATING"
	StateStarting   State = "STARTING"
	StateRunning    State = "RUNNING"
	StateStopping   State = "STOPPING"
	StateStopped    State = "STOPPED"
	StatePaused     State = "PAUSED"
	StateSuspended  State = "SUSPENDED"
	StateRebooting  State = "REBOOTING"
	StateCrashed    State = "CRASHED"
	StateMigrating  State = "MIGRATING"
	StateDeleting   State = "DELETING"
	StateError      State = "ERROR"
	StateUnknown    State = "UNKNOWN"
	StateLost       State = "LOST"
	StateTerminated State = "TERMINATED"
)

// States lists every state, in the order of the design.
var States = []State{
	StateCreating, StateStarting, StateRunning, StateStopping, StateStopped,
	StatePaused, StateSuspended, StateRebooting, StateCrashed, StateMigrating,
	StateDeleting, StateError, StateUnknown, StateLost, StateTerminated,
}

var transitional = []State{StateCreating, StateStarting, StateStopping, StateRebooting, StateMigrating, StateDeleting}

// Transitional reports whether s is a state a VM passes through while an
// action runs; a VM stuck in one is re-checked by the reconciler.
func (s State) Transitional() bool { return slices.Contains(transitional, s) }

// Valid reports whether s is one of States.
func (s State) Valid() bool { return slices.Contains(States, s) }

// ParseState parses a state name, case-insensitively.
func ParseState(v string) (State, error) {
	s := State(strings.ToUpper(strings.TrimSpace(v)))
	if !s.Valid() {
		return "", fmt.Errorf("unknown state %q: must be one of %s", v, joinStates(States))
	}
	return s, nil
}

func joinStates(ss []State) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

// Origin says where a VM record came from.
type Origin string

// The origins of a VM.
const (
	// OriginControlPlane: created through the API.
	OriginControlPlane Origin = "control-plane"
	// OriginHostDiscovered: found on a host, not created here; read-only.
	OriginHostDiscovered Origin = "host-discovered"
	// OriginImported: a discovered VM adopted through the API.
	OriginImported Origin = "imported"
)

// Origins lists every origin.
var Origins = []Origin{OriginControlPlane, OriginHostDiscovered, OriginImported}

// Managed reports whether VMs of this origin are managed by Quantix.
func (o Origin) Managed() bool { return o != OriginHostDiscovered }

// ParseOrigin parses an origin name.
func ParseOrigin(v string) (Origin, error) {
	o := Origin(strings.ToLower(strings.TrimSpace(v)))
	if !slices.Contains(Origins, o) {
		return "", fmt.Errorf("unknown origin %q: must be one of control-plane, host-discovered, imported", v)
	}
	return o, nil
}

// DesiredState is what the user wants a VM to be doing.
type DesiredState string

// The desired states.
const (
	DesiredRunning DesiredState = "running"
	DesiredStopped DesiredState = "stopped"
)

// ParseDesiredState parses a desired state.
func ParseDesiredState(v string) (DesiredState, error) {
	switch d := DesiredState(strings.ToLower(strings.TrimSpace(v))); d {
	case DesiredRunning, DesiredStopped:
		return d, nil
	}
	return "", fmt.Errorf("unknown desired state %q: must be running or stopped", v)
}

// RestartPolicy says what happens when a VM stops without being asked to.
type RestartPolicy string

// The restart policies.
const (
	// RestartNever: a guest-initiated shutdown moves desired_state to stopped.
	RestartNever RestartPolicy = "never"
	// RestartOnCrash: a crashed VM is restarted with backoff.
	RestartOnCrash RestartPolicy = "on-crash"
	// RestartAlways: a VM that stops for any reason but a user's request is
	// restarted with backoff.
	RestartAlways RestartPolicy = "always"
)

// ParseRestartPolicy parses a restart policy; "" is never.
func ParseRestartPolicy(v string) (RestartPolicy, error) {
	switch p := RestartPolicy(strings.ToLower(strings.TrimSpace(v))); p {
	case "":
		return RestartNever, nil
	case RestartNever, RestartOnCrash, RestartAlways:
		return p, nil
	}
	return "", fmt.Errorf("unknown restart policy %q: must be never, on-crash or always", v)
}
