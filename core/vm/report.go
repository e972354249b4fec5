package vm

import "strings"

// hostStates are the states a host can report; the others (CREATING,
// REBOOTING, MIGRATING, DELETING, ERROR, LOST, TERMINATED) only the control
// plane decides.
var hostStates = map[State]bool{
	StateRunning: true, StateStopped: true, StatePaused: true, StateSuspended: true,
	StateCrashed: true, StateStarting: true, StateStopping: true,
}

// HostState maps the name of a power state as a host reports it onto a
// State: the state of that name when a host may report it, UNKNOWN for
// anything else. Agents hash what they see with it and the server applies
// reports with it, so both sides agree on every VM's line of StateHash.
func HostState(name string) State {
	if s := State(name); hostStates[s] {
		return s
	}
	return StateUnknown
}

// IgnoredUUID reports whether id is a VM UUID that reports must skip: empty,
// the nil UUID (all zero) or all 0xFF. Hypervisors use those for transient
// or half-defined domains; they never name a real VM.
func IgnoredUUID(id string) bool {
	hex := strings.ReplaceAll(strings.TrimSpace(id), "-", "")
	if hex == "" {
		return true
	}
	if len(hex) != 32 {
		return false
	}
	return strings.Trim(hex, "0") == "" || strings.Trim(strings.ToLower(hex), "f") == ""
}
