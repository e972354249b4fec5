package vm

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
)

// StateHash is the hash an agent's heartbeat carries and the server computes
// from its database for the same node: SHA-256 over the sorted lines
// "<vm uuid>:<STATE>\n" of every VM on the node, hex-encoded. It uses only
// what both sides know, so equal views give equal hashes.
func StateHash(states map[string]State) string {
	ids := make([]string, 0, len(states))
	for id := range states {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{':'})
		h.Write([]byte(states[id]))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// HostView is the state a node's agent sees for a VM the inventory places
// on the node, and whether the agent sees it at all: VMs the host does not
// have (TERMINATED, LOST, MIGRATING away, placeholders of creates in
// CREATING, ignored UUIDs) are left out, and a VM in a transitional state
// of the control plane's own counts with the state it had when the action
// began (lastKnown), which the host still shows while the action runs.
// The server's side of a node's StateHash is over these.
func HostView(id string, state, lastKnown State) (State, bool) {
	switch {
	case IgnoredUUID(id):
		return "", false
	case HiddenFromHost(state):
		return "", false
	case state.Transitional() && lastKnown != "":
		return lastKnown, true
	}
	return state, true
}

// hiddenFromHost are the states of VMs the inventory places on a node that
// its host does not show.
var hiddenFromHost = []State{StateTerminated, StateLost, StateCreating, StateMigrating}

// HiddenFromHost reports whether a VM in state s is left out of its node's
// StateHash (HostView).
func HiddenFromHost(s State) bool {
	for _, h := range hiddenFromHost {
		if s == h {
			return true
		}
	}
	return false
}

// HiddenFromHostStates are the states HiddenFromHost reports.
func HiddenFromHostStates() []State { return append([]State(nil), hiddenFromHost...) }

// TransitionalStates are the states Transitional reports.
func TransitionalStates() []State { return append([]State(nil), transitional...) }
