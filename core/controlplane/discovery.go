package controlplane

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

// verdict is what a reconciliation rule decides for one VM record.
type verdict struct {
	// next is the record to write; nil when nothing is written.
	next *vm.VM
	// event is recorded with the write (or, with remove, published only).
	event *vm.Event
	// remove deletes the record: an unmanaged VM gone from its host.
	remove bool
	// restart hands the VM to the restart policy once committed.
	restart bool
}

func (vd verdict) empty() bool { return vd.next == nil && !vd.remove }

// rule decides what a report means for a record as it is now. Rules are
// pure: a record that changed before the write is judged again.
type rule func(cur *vm.VM) verdict

// item is a record, the rule for it and the verdict on the record as read.
type item struct {
	cur  *vm.VM
	rule rule
	vd   verdict
}

func newItem(cur *vm.VM, rl rule) item { return item{cur: cur, rule: rl, vd: rl(cur)} }

// outbox collects what a transaction did, to publish and act on once it
// has committed.
type outbox struct {
	events   []*vm.Event
	removed  []*vm.Event
	restarts []string
}

// flush publishes the committed changes and starts the restarts they call
// for.
func (r *Reconciler) flush(ctx context.Context, out *outbox) {
	r.broker.PublishVM(out.events...)
	for _, e := range out.removed {
		r.publishRemoved(ctx, e)
	}
	for _, id := range out.restarts {
		r.restarts.trigger(id)
	}
}

// commit writes the verdicts of items and inserts the VMs of discover (all
// reported by node nodeID) in one transaction, then publishes. Items whose
// verdict is empty cost nothing; when nothing at all is to be written no
// transaction is opened.
func (r *Reconciler) commit(ctx context.Context, items []item, discover []*backend.VM, nodeID string, now time.Time) error {
	writes := items[:0:0]
	for _, it := range items {
		if !it.vd.empty() {
			writes = append(writes, it)
		}
	}
	if len(writes) == 0 && len(discover) == 0 {
		return nil
	}
	if len(discover) > 0 {
		r.insertMu.Lock()
		defer r.insertMu.Unlock()
	}
	var out outbox
	err := r.store.Tx(ctx, func(tx store.Store) error {
		out = outbox{}
		if err := r.writeItems(ctx, tx, writes, &out); err != nil {
			return err
		}
		return r.discoverTx(ctx, tx, nodeID, discover, now, &out)
	})
	if err != nil {
		return err
	}
	r.flush(ctx, &out)
	return nil
}

// writeItems writes the verdict of each item in tx, and their events in
// one batch at the end. A record that changed since it was read is read
// again and judged anew; one whose write would break a unique constraint (a
// TERMINATED VM coming back under a name that is taken now) is left as it
// is, with a warning, so that one VM cannot block the report of a whole
// node.
func (r *Reconciler) writeItems(ctx context.Context, tx store.Store, items []item, out *outbox) error {
	var events []*vm.Event
	for _, it := range items {
		cur, vd := it.cur, it.vd
		for attempt := 0; ; attempt++ {
			ev, err := r.writeVerdict(ctx, tx, cur, vd, out)
			if err == nil {
				if ev != nil {
					events = append(events, ev)
				}
				break
			}
			if errors.Is(err, store.ErrConflict) {
				r.log.Warn("leaving a vm record as it is: the change would break a unique constraint", "id", cur.ID, "vm", cur.Name, "error", err)
				break
			}
			if !errors.Is(err, store.ErrStale) || attempt >= staleRetries {
				return err
			}
			if cur, err = tx.VMs().Get(ctx, cur.ID); errors.Is(err, store.ErrNotFound) {
				break
			} else if err != nil {
				return err
			}
			vd = it.rule(cur)
		}
	}
	if err := tx.Events().AppendMany(ctx, events); err != nil {
		return err
	}
	out.events = append(out.events, events...)
	return nil
}

// writeVerdict writes vd on cur's record and returns the event to store
// with it, if any.
func (r *Reconciler) writeVerdict(ctx context.Context, tx store.Store, cur *vm.VM, vd verdict, out *outbox) (*vm.Event, error) {
	var ev *vm.Event
	switch {
	case vd.remove:
		fresh, err := tx.VMs().Get(ctx, cur.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if fresh.Version != cur.Version {
			return nil, store.ErrStale
		}
		if err := tx.VMs().Delete(ctx, cur.ID); err != nil {
			return nil, err
		}
		if vd.event != nil {
			out.removed = append(out.removed, vd.event)
		}
	case vd.next != nil:
		if err := tx.VMs().UpdateStatus(ctx, vd.next); err != nil {
			return nil, err
		}
		ev = vd.event
	}
	if vd.restart {
		out.restarts = append(out.restarts, cur.ID)
	}
	return ev, nil
}

// discoverTx inserts the VMs node nodeID reports and the inventory did not
// have when the report was read, in one batch. If a record appeared
// meanwhile (a create completed, another server inserted it), the batch
// fails as a whole and each VM is taken on its own: inserted, or the report
// applied to the record that is there now.
func (r *Reconciler) discoverTx(ctx context.Context, tx store.Store, nodeID string, observed []*backend.VM, now time.Time, out *outbox) error {
	if len(observed) == 0 {
		return nil
	}
	vms := make([]*vm.VM, len(observed))
	evs := make([]*vm.Event, len(observed))
	for i, o := range observed {
		vms[i], evs[i] = r.discovered(nodeID, o, vm.CauseHost, now)
	}
	err := tx.VMs().CreateMany(ctx, vms)
	if err == nil {
		if err := tx.Events().AppendMany(ctx, evs); err != nil {
			return err
		}
		out.events = append(out.events, evs...)
		r.log.Info("vms discovered", "node", nodeID, "count", len(vms))
		return nil
	}
	if !errors.Is(err, store.ErrConflict) {
		return err
	}
	for _, o := range observed {
		_, ev, err := r.createDiscovered(ctx, tx, nodeID, o, vm.CauseHost, now)
		if err == nil {
			out.events = append(out.events, ev)
			continue
		}
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		cur, gerr := tx.VMs().Get(ctx, o.ID)
		if gerr != nil {
			return errors.Join(err, gerr)
		}
		rl := r.reportRule(hostReport{nodeID: nodeID, observed: o, now: now})
		if err := r.writeItems(ctx, tx, []item{newItem(cur, rl)}, out); err != nil {
			return err
		}
	}
	return nil
}

// hostReport is one VM as a node reports it.
type hostReport struct {
	nodeID   string
	observed *backend.VM
	// reason is the host's reason for the change, e.g. "shutdown".
	reason string
	now    time.Time
}

func (r *Reconciler) reportRule(rep hostReport) rule {
	return func(cur *vm.VM) verdict { return r.judgeReport(cur, rep) }
}

// judgeReport applies what a host reports of a VM the inventory knows:
// status only (state, node, last_seen, message), never spec, origin,
// is_managed, name or labels.
//
//   - A VM in a transitional state of the control plane's own keeps it
//     while the host still shows the state the action started from
//     (last_known_state): the action's own result, or the stuck-state check,
//     ends it.
//   - Another node reporting the VM means it moved: the record follows.
//   - UNKNOWN and LOST VMs come back to the reported state.
//   - A managed VM that stops or crashes without the control plane asking
//     meets its restart policy (restartPolicy).
//   - Nothing but last_seen changing writes only every LastSeenRefresh.
func (r *Reconciler) judgeReport(cur *vm.VM, rep hostReport) verdict {
	reported := stateOf(rep.observed.State)
	moved := cur.NodeID != rep.nodeID
	// MIGRATING is the host's doing, not an action's (judgeMigratedAway):
	// the source showing the VM again ends it, as any other node does.
	hold := cur.State.Transitional() && cur.State != vm.StateMigrating && reported == cur.LastKnownState && !moved
	changed := !hold && reported != cur.State
	v := *cur
	v.LastSeen = &rep.now
	if !changed && !moved {
		if cur.LastSeen != nil && rep.now.Sub(*cur.LastSeen) < r.opts.LastSeenRefresh {
			return verdict{}
		}
		return verdict{next: &v}
	}
	node := r.nodeName(rep.nodeID)
	var msg []string
	action := "move"
	if moved {
		if cur.NodeID == "" {
			msg = append(msg, "placed on node "+node)
		} else {
			msg = append(msg, fmt.Sprintf("moved from node %s to node %s", r.nodeName(cur.NodeID), node))
		}
	}
	v.NodeID = rep.nodeID
	restart := false
	if changed {
		action = "observe"
		v.State = reported
		v.StateChangedAt = rep.now
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
			msg = append(msg, fmt.Sprintf("node %s reports %s%s", node, reported, reasonSuffix(rep.reason)))
		}
		var note string
		if note, restart = restartPolicy(cur, &v); note != "" {
			msg = append(msg, note)
		}
	}
	v.LostReason, v.LostAt = "", nil
	v.Message = strings.Join(msg, "; ")
	ev := &vm.Event{VMID: v.ID, Time: rep.now, Action: action, OldState: cur.State, NewState: v.State, Cause: vm.CauseHost, Message: v.Message}
	return verdict{next: &v, event: ev, restart: restart}
}

func reasonSuffix(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + reason + ")"
}

// restartPolicy decides what a managed VM that was running (before its
// node became unreachable, for an UNKNOWN one; before it left its node, for
// a MIGRATING one) and is now stopped or crashed
// without a request of the control plane gets by its restart policy: never
// (and on-crash, for a clean stop) moves desired_state to stopped, as the
// host wins; on-crash restarts a crashed VM, always any stopped one. A VM
// whose desired_state is stopped is left alone. It returns a note for the
// event and whether to restart; next is the record to write.
func restartPolicy(cur, next *vm.VM) (note string, restart bool) {
	if !cur.IsManaged || cur.DesiredState == vm.DesiredStopped {
		return "", false
	}
	before := cur.State
	if before == vm.StateUnknown || before == vm.StateMigrating {
		before = cur.LastKnownState
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
			return "restart_policy always: restarting it", true
		}
		next.DesiredState = vm.DesiredStopped
		return fmt.Sprintf("stopped without a request through quantix: desired_state set to stopped (restart_policy %s)", policy), false
	case vm.StateCrashed:
		if policy == vm.RestartNever {
			return "restart_policy never: it stays crashed", false
		}
		return fmt.Sprintf("restart_policy %s: restarting it", policy), true
	}
	return "", false
}

// judgeGone applies that node nodeID does not have a VM (any more): a VM
// being deleted is TERMINATED, the record of an unmanaged one is removed, a
// managed one is LOST with the reason. Placeholders of creates, TERMINATED
// and LOST VMs stay as they are, and so does a VM whose record places it on
// another node (it moved) or that is migrating away from this one: its
// source no longer having it is no news (judgeMigratedAway).
func (r *Reconciler) judgeGone(cur *vm.VM, nodeID string, now time.Time) verdict {
	if cur.NodeID != nodeID {
		return verdict{}
	}
	switch cur.State {
	case vm.StateCreating, vm.StateTerminated, vm.StateLost, vm.StateMigrating:
		return verdict{}
	}
	return r.judgeVanished(cur, nodeID, fmt.Sprintf("vm vanished from node %s without being deleted through the control plane", r.nodeName(nodeID)), now)
}

// judgeVanished applies that VM cur is on no host any more, as far as
// anyone reported: being deleted, it is TERMINATED; unmanaged, its record is
// removed; managed, it is LOST with lostReason.
func (r *Reconciler) judgeVanished(cur *vm.VM, nodeID, lostReason string, now time.Time) verdict {
	node := r.nodeName(nodeID)
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
		return verdict{remove: true, event: ev}
	default:
		keepLastKnown(&v)
		v.State = vm.StateLost
		v.LostReason = lostReason
		v.LostAt = &now
		v.Message = v.LostReason
		ev.Action = "lost"
	}
	ev.NewState, ev.Message = v.State, v.Message
	return verdict{next: &v, event: ev}
}

// ReasonMigrated is the reason backends give the events of a VM leaving
// its host by migration (libvirt's word, which the simulated backend uses
// too): the VM lives on, on another host.
const ReasonMigrated = "migrated"

// judgeMigratedAway applies that node nodeID's VM left it by migration
// (a gone change with ReasonMigrated). The VM is not LOST, nor is its
// unmanaged record removed: it becomes MIGRATING on nodeID, its state before
// kept in last_known_state, until a node reports it. Its destination's
// report, which may come before or after this one, moves the record there
// (judgeReport); the source reporting it again (a migration that failed)
// puts it back. MIGRATING VMs count on no node's state hash (hostView) and
// their source's full syncs leave them alone; one that no node reports
// within the stuck timeout is checked against its source (judgeStuck).
// VMs being created, deleted, LOST or TERMINATED follow judgeGone.
func (r *Reconciler) judgeMigratedAway(cur *vm.VM, nodeID string, now time.Time) verdict {
	switch cur.State {
	case vm.StateCreating, vm.StateDeleting, vm.StateTerminated, vm.StateLost:
		return r.judgeGone(cur, nodeID, now)
	}
	if cur.NodeID != nodeID || cur.State == vm.StateMigrating {
		return verdict{}
	}
	v := *cur
	keepLastKnown(&v)
	v.State, v.StateChangedAt = vm.StateMigrating, now
	v.Message = fmt.Sprintf("migrated away from node %s: waiting for the node it went to to report it", r.nodeName(nodeID))
	ev := &vm.Event{VMID: v.ID, Time: now, Action: "migrate", OldState: cur.State, NewState: v.State, Cause: vm.CauseHost, Message: v.Message}
	return verdict{next: &v, event: ev}
}

// keepLastKnown records v's state as its last known one, before v leaves
// it for a state no host shows (LOST, UNKNOWN), when none is recorded yet.
func keepLastKnown(v *vm.VM) {
	if v.LastKnownState == "" && vm.HostState(string(v.State)) == v.State {
		v.LastKnownState = v.State
	}
}

// Change applies one VM's change as node nodeID's event stream saw it: the
// rules of FullSync for that VM alone. Reports of ignored UUIDs (nil, all
// zero, all 0xFF) are dropped.
func (r *Reconciler) Change(ctx context.Context, nodeID string, ch nodeapi.Change) error {
	if _, err := r.nodes.beat(ctx, nodeID, nil); err != nil {
		return fmt.Errorf("applying a change of node %s: %w", nodeID, err)
	}
	now := r.now()
	if ch.Gone {
		id := ch.VMID
		if id == "" && ch.VM != nil {
			id = ch.VM.ID
		}
		if vm.IgnoredUUID(id) {
			return nil
		}
		cur, err := r.store.VMs().Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("applying the removal of vm %s on node %s: %w", id, nodeID, err)
		}
		rl := func(c *vm.VM) verdict { return r.judgeGone(c, nodeID, now) }
		if ch.Reason == ReasonMigrated {
			rl = func(c *vm.VM) verdict { return r.judgeMigratedAway(c, nodeID, now) }
		}
		if err := r.commit(ctx, []item{newItem(cur, rl)}, nil, nodeID, now); err != nil {
			return fmt.Errorf("applying the removal of vm %s on node %s: %w", id, nodeID, err)
		}
		return nil
	}
	if ch.VM == nil {
		return fmt.Errorf("applying a change of node %s: neither a vm nor gone", nodeID)
	}
	if vm.IgnoredUUID(ch.VM.ID) {
		return nil
	}
	rep := hostReport{nodeID: nodeID, observed: ch.VM, reason: ch.Reason, now: now}
	var items []item
	var discover []*backend.VM
	cur, err := r.store.VMs().Get(ctx, ch.VM.ID)
	switch {
	case err == nil:
		items = []item{newItem(cur, r.reportRule(rep))}
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("applying a change of vm %s on node %s: %w", ch.VM.ID, nodeID, err)
	default:
		p, err := r.store.VMs().GetByName(ctx, ch.VM.Name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("applying a change of vm %s on node %s: %w", ch.VM.ID, nodeID, err)
		}
		if err == nil && isPlaceholderFor(p, nodeID) {
			// The VM this control plane is creating: Complete records it.
			return nil
		}
		discover = []*backend.VM{ch.VM}
	}
	if err := r.commit(ctx, items, discover, nodeID, now); err != nil {
		return fmt.Errorf("applying a change of vm %s on node %s: %w", ch.VM.ID, nodeID, err)
	}
	return nil
}
