// Package reconcile holds the reconciliation rules: what a host's report
// of a VM, or its absence, means for the VM's record. Each rule is a pure
// function of the record as it is now and the report, returning a Verdict
// (the record to write and the event to record with it, or the record to
// remove, and whether the VM meets its restart policy); it reads nothing
// and writes nothing. The control plane's Reconciler reads the records,
// judges them, and writes the verdicts in one transaction, judging a record
// written meanwhile anew.
package reconcile

import (
	"fmt"
	"strings"
	"time"

	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

// Verdict is what a rule decides for one VM record.
type Verdict struct {
	// Next is the record to write; nil when nothing is written.
	Next *vm.VM
	// Event is recorded with the write (or, with Remove, published only).
	Event *vm.Event
	// Remove deletes the record: an unmanaged VM gone from its host.
	Remove bool
	// Restart hands the VM to its restart policy once committed.
	Restart bool
}

// Empty reports whether the verdict writes nothing.
func (vd Verdict) Empty() bool { return vd.Next == nil && !vd.Remove }

// HostReport is one VM as a node reports it.
type HostReport struct {
	NodeID   string
	Observed *backend.VM
	// Reason is the host's reason for the change, e.g. "shutdown".
	Reason string
	// ObservedAt is when the host observed Observed, by its own clock;
	// zero when not known (a full sync, an agent that does not say).
	ObservedAt time.Time
	Now        time.Time
}

// Older reports whether what node nodeID observed at observedAt is older
// than the status record cur holds: cur's status was observed by the same
// node, later. Only one host's observations are compared (two hosts'
// clocks are not); an observation time that is zero, or a record that has
// none, is never older. Reports and command replies travel apart (a change
// the agent sent before a command's reply can be applied after it), so the
// newest observation, not the last write, is what the host runs.
func Older(cur *vm.VM, nodeID string, observedAt time.Time) bool {
	return !observedAt.IsZero() && cur.ObservedAt != nil && cur.NodeID == nodeID &&
		observedAt.Before(*cur.ObservedAt)
}

// Stamp records on next, the record written from what node nodeID observed
// at observedAt, when that was; zero leaves no observation time (nothing
// known is older than the record then).
func Stamp(next *vm.VM, observedAt time.Time) {
	if observedAt.IsZero() {
		next.ObservedAt = nil
		return
	}
	t := observedAt
	next.ObservedAt = &t
}

// Judge holds what the rules need besides the record and the report.
type Judge struct {
	// NodeName names a node in messages (its name when known, else its
	// id); nil names nodes by id. It is called while a transaction is
	// open, so it must not wait for one.
	NodeName func(id string) string
	// LastSeenRefresh is how often, at most, a report that changes nothing
	// else refreshes a VM's last_seen.
	LastSeenRefresh time.Duration
}

func (j Judge) nodeName(id string) string {
	if j.NodeName == nil {
		return id
	}
	return j.NodeName(id)
}

// Report applies what a host reports of a VM the inventory knows:
// status only (state, node, last_seen, message), never spec, origin,
// is_managed, name or labels.
//
//   - A VM in a transitional state of the control plane's own keeps it
//     while the host still shows the state the action started from
//     (last_known_state), and DELETING whatever the host shows: the
//     action's own result, or the stuck-state check, ends it.
//   - A TERMINATED VM stays so: a report of it was sent before its delete
//     ended.
//   - A report the same node observed before the status the record holds
//     (Older) changes nothing: it is late, the record is newer.
//   - Another node reporting the VM means it moved: the record follows.
//   - UNKNOWN and LOST VMs come back to the reported state.
//   - A managed VM that stops or crashes without the control plane asking
//     meets its restart policy (restartPolicy).
//   - Nothing but last_seen changing writes only every LastSeenRefresh.
func (j Judge) Report(cur *vm.VM, rep HostReport) Verdict {
	if cur.State == vm.StateTerminated {
		// Deleted through the control plane and confirmed gone: a report
		// of the VM is one the host sent before the delete ended.
		return Verdict{}
	}
	if Older(cur, rep.NodeID, rep.ObservedAt) {
		// Sent before what the record holds was observed (a command's
		// reply applied first): applying it would put an older state
		// over a newer one.
		return Verdict{}
	}
	reported := vm.StateOf(rep.Observed.State)
	moved := cur.NodeID != rep.NodeID
	// MIGRATING is the host's doing, not an action's (MigratedAway):
	// the source showing the VM again ends it, as any other node does.
	// A delete stops the VM on its way: DELETING holds whatever the host
	// shows until the delete ends.
	hold := cur.State.Transitional() && cur.State != vm.StateMigrating && !moved &&
		(reported == cur.LastKnownState || cur.State == vm.StateDeleting)
	changed := !hold && reported != cur.State
	v := *cur
	v.LastSeen = &rep.Now
	switch {
	case !rep.ObservedAt.IsZero() && !hold:
		// The record holds what the report says, as observed then.
		Stamp(&v, rep.ObservedAt)
	case rep.ObservedAt.IsZero() && (changed || moved):
		// A state of unknown observation time: none to compare with.
		v.ObservedAt = nil
	}
	if !changed && !moved {
		if cur.LastSeen != nil && rep.Now.Sub(*cur.LastSeen) < j.LastSeenRefresh {
			return Verdict{}
		}
		return Verdict{Next: &v}
	}
	node := j.nodeName(rep.NodeID)
	var msg []string
	action := "move"
	if moved {
		if cur.NodeID == "" {
			msg = append(msg, "placed on node "+node)
		} else {
			msg = append(msg, fmt.Sprintf("moved from node %s to node %s", j.nodeName(cur.NodeID), node))
		}
	}
	v.NodeID = rep.NodeID
	restart := false
	if changed {
		action = "observe"
		v.State = reported
		v.StateChangedAt = rep.Now
		if reported != vm.StateUnknown {
			v.LastKnownState = reported
		}
		switch cur.State {
		case vm.StateLost:
			action = "found"
			msg = append(msg, fmt.Sprintf("found again on node %s: %s", node, reported))
		case vm.StateUnknown:
			msg = append(msg, fmt.Sprintf("node %s is reachable again: %s", node, reported))
		default:
			msg = append(msg, fmt.Sprintf("node %s reports %s%s", node, reported, reasonSuffix(rep.Reason)))
		}
		var note string
		if note, restart = restartPolicy(cur, &v); note != "" {
			msg = append(msg, note)
		}
	}
	v.LostReason, v.LostAt = "", nil
	v.Message = strings.Join(msg, "; ")
	ev := &vm.Event{VMID: v.ID, Time: rep.Now, Action: action, OldState: cur.State, NewState: v.State, Cause: vm.CauseHost, Message: v.Message}
	return Verdict{Next: &v, Event: ev, Restart: restart}
}

func reasonSuffix(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + reason + ")"
}

// RestartingNote ends the message of a VM whose restart policy asks for a
// restart: the record says so until the next change, so that a server
// taking over the restarts knows which VMs are owed one.
const RestartingNote = "restarting it"

// restartPolicy decides what a managed VM that was running (before its
// node became unreachable, for an UNKNOWN one; before it left its node, for
// a MIGRATING one) and is now stopped or crashed
// without a request of the control plane gets by its restart policy: never
// (and on-crash, for a clean stop) moves desired_state to stopped, as the
// host wins; on-crash restarts a crashed VM, always any stopped one. A VM
// whose desired_state is stopped is left alone. It returns a note for the
// event and whether to restart; next is the record to write.
func restartPolicy(cur, next *vm.VM) (note string, restart bool) {
	// (RestartingNote ends the note of a restart asked for.)
	if !cur.IsManaged || cur.DesiredState == vm.DesiredStopped {
		return "", false
	}
	before := cur.State
	if before == vm.StateUnknown || before == vm.StateMigrating {
		before = cur.LastKnownState
	}
	if before == vm.StateStopping && cur.LastKnownState == vm.StateStopping {
		// The host itself reported the VM shutting down (a guest powering
		// off is STOPPING for a moment before STOPPED); a stop of the
		// control plane keeps the last known state it started from.
		before = vm.StateRunning
	}
	if before != vm.StateRunning && before != vm.StatePaused && before != vm.StateSuspended {
		return "", false
	}
	policy := cur.RestartPolicy
	if policy == "" {
		policy = vm.RestartNever
	}
	switch next.State {
	case vm.StateStopped:
		if policy == vm.RestartAlways {
			return "restart_policy always: " + RestartingNote, true
		}
		next.DesiredState = vm.DesiredStopped
		return fmt.Sprintf("stopped without a request through quantix: desired_state set to stopped (restart_policy %s)", policy), false
	case vm.StateCrashed:
		if policy == vm.RestartNever {
			return "restart_policy never: it stays crashed", false
		}
		return fmt.Sprintf("restart_policy %s: %s", policy, RestartingNote), true
	}
	return "", false
}

// Gone applies that node nodeID does not have a VM (any more): a VM
// being deleted is TERMINATED, the record of an unmanaged one is removed, a
// managed one is LOST with the reason. Placeholders of creates, TERMINATED
// and LOST VMs stay as they are, and so does a VM whose record places it on
// another node (it moved) or that is migrating away from this one: its
// source no longer having it is no news (MigratedAway).
func (j Judge) Gone(cur *vm.VM, nodeID string, now time.Time) Verdict {
	if cur.NodeID != nodeID {
		return Verdict{}
	}
	switch cur.State {
	case vm.StateCreating, vm.StateTerminated, vm.StateLost, vm.StateMigrating:
		return Verdict{}
	}
	return j.Vanished(cur, nodeID, fmt.Sprintf("vm vanished from node %s without being deleted through the control plane", j.nodeName(nodeID)), now)
}

// Vanished applies that VM cur is on no host any more, as far as
// anyone reported: being deleted, it is TERMINATED; unmanaged, its record is
// removed; managed, it is LOST with lostReason.
func (j Judge) Vanished(cur *vm.VM, nodeID, lostReason string, now time.Time) Verdict {
	node := j.nodeName(nodeID)
	v := *cur
	v.StateChangedAt = now
	ev := &vm.Event{VMID: v.ID, Time: now, OldState: cur.State, Cause: vm.CauseHost}
	switch {
	case cur.State == vm.StateDeleting:
		v.State = vm.StateTerminated
		v.Message = fmt.Sprintf("gone from node %s: deletion confirmed", node)
		ev.Action = "terminate"
	case !cur.IsManaged:
		ev.Action = "remove"
		ev.Message = fmt.Sprintf("gone from node %s: the record of the unmanaged vm is removed", node)
		return Verdict{Remove: true, Event: ev}
	default:
		keepLastKnown(&v)
		v.State = vm.StateLost
		v.LostReason = lostReason
		v.LostAt = &now
		v.Message = v.LostReason
		ev.Action = "lost"
	}
	ev.NewState, ev.Message = v.State, v.Message
	return Verdict{Next: &v, Event: ev}
}

// ReasonMigrated is the reason backends give the events of a VM leaving
// its host by migration (libvirt's word, which the simulated backend uses
// too): the VM lives on, on another host.
const ReasonMigrated = "migrated"

// MigratedAway applies that node nodeID's VM left it by migration
// (a gone change with ReasonMigrated). The VM is not LOST, nor is its
// unmanaged record removed: it becomes MIGRATING on nodeID, its state before
// kept in last_known_state, until a node reports it. Its destination's
// report, which may come before or after this one, moves the record there
// (Report); the source reporting it again (a migration that failed)
// puts it back. MIGRATING VMs count on no node's state hash and their
// source's full syncs leave them alone; one that no node reports
// within the stuck timeout is checked against its source (Stuck).
// VMs being created, deleted, LOST or TERMINATED follow Gone.
func (j Judge) MigratedAway(cur *vm.VM, nodeID string, now time.Time) Verdict {
	switch cur.State {
	case vm.StateCreating, vm.StateDeleting, vm.StateTerminated, vm.StateLost:
		return j.Gone(cur, nodeID, now)
	}
	if cur.NodeID != nodeID || cur.State == vm.StateMigrating {
		return Verdict{}
	}
	v := *cur
	keepLastKnown(&v)
	v.State, v.StateChangedAt = vm.StateMigrating, now
	v.Message = fmt.Sprintf("migrated away from node %s: waiting for the node it went to to report it", j.nodeName(nodeID))
	ev := &vm.Event{VMID: v.ID, Time: now, Action: "migrate", OldState: cur.State, NewState: v.State, Cause: vm.CauseHost, Message: v.Message}
	return Verdict{Next: &v, Event: ev}
}

// keepLastKnown records v's state as its last known one, before v leaves
// it for a state no host shows (LOST, UNKNOWN), when none is recorded yet.
func keepLastKnown(v *vm.VM) {
	if v.LastKnownState == "" && vm.HostState(string(v.State)) == v.State {
		v.LastKnownState = v.State
	}
}

// Unreachable makes a VM of an unreachable node UNKNOWN, keeping what
// was last seen in last_known_state. Placeholders, LOST, TERMINATED and
// already UNKNOWN VMs stay.
func Unreachable(cur *vm.VM, nodeID, msg string, now time.Time) Verdict {
	switch cur.State {
	case vm.StateCreating, vm.StateLost, vm.StateTerminated, vm.StateUnknown:
		return Verdict{}
	}
	if cur.NodeID != nodeID {
		return Verdict{}
	}
	v := *cur
	keepLastKnown(&v)
	v.State, v.StateChangedAt, v.Message = vm.StateUnknown, now, msg
	ev := &vm.Event{VMID: v.ID, Time: now, Action: "node_unreachable", OldState: cur.State, NewState: v.State, Cause: vm.CauseReconciler, Message: msg}
	return Verdict{Next: &v, Event: ev}
}

// Stuck corrects a VM the scan saw as seen by what its host says
// (observed nil: the host does not have it). A VM that moved on since the
// scan read it is left as it is, and so is one its host still shows in the
// same transitional state. A VM MIGRATING away from its node that no node
// has reported since, and that its node does not have, vanished
// (Vanished: LOST when managed).
func (j Judge) Stuck(cur, seen *vm.VM, observed *backend.VM, now time.Time) Verdict {
	if cur.State != seen.State || !cur.StateChangedAt.Equal(seen.StateChangedAt) || cur.NodeID != seen.NodeID {
		return Verdict{}
	}
	v := *cur
	stuckFor := now.Sub(cur.StateChangedAt).Round(time.Second)
	if observed == nil && cur.State == vm.StateMigrating {
		vd := j.Vanished(cur, cur.NodeID, fmt.Sprintf("vm migrated away from node %s and no node has reported it for %s",
			j.nodeName(cur.NodeID), stuckFor), now)
		vd.Event.Cause = vm.CauseReconciler
		return vd
	}
	if observed == nil {
		v.State = vm.StateStopped
		if cur.State == vm.StateDeleting {
			v.State = vm.StateTerminated
		}
		v.Message = fmt.Sprintf("stuck in %s for %s: node %s does not have the vm, so it is %s now",
			cur.State, stuckFor, j.nodeName(cur.NodeID), v.State)
	} else {
		reported := vm.StateOf(observed.State)
		if reported == cur.State {
			return Verdict{}
		}
		v.State = reported
		if reported != vm.StateUnknown {
			v.LastKnownState = reported
		}
		v.LastSeen = &now
		v.LostReason, v.LostAt = "", nil
		v.Message = fmt.Sprintf("stuck in %s for %s: the host reports %s", cur.State, stuckFor, reported)
	}
	v.StateChangedAt = now
	ev := &vm.Event{VMID: v.ID, Time: now, Action: "stuck", OldState: cur.State, NewState: v.State, Cause: vm.CauseReconciler, Message: v.Message}
	return Verdict{Next: &v, Event: ev}
}
