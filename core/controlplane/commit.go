package controlplane

import (
	"context"
	"errors"
	"time"

	"github.com/quantixvm/quantix/core/reconcile"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

// rule decides what a report means for a record as it is now. Rules are
// pure: a record that changed before the write is judged again.
type rule func(cur *vm.VM) reconcile.Verdict

// item is a record, the rule for it and the verdict on the record as read.
type item struct {
	cur  *vm.VM
	rule rule
	vd   reconcile.Verdict
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
	r.pub.PublishVM(out.events...)
	for _, e := range out.removed {
		r.publishRemoved(ctx, e)
	}
	// Elected, the leader learns of VMs going down from the events
	// (restartDuty), wherever their reports arrive.
	if r.opts.Elected {
		return
	}
	for _, id := range out.restarts {
		r.restarts.Trigger(id)
	}
}

// commit writes the verdicts of items and inserts the VMs of discover (all
// reported by node nodeID) in one transaction, then publishes. Items whose
// verdict is empty cost nothing; when nothing at all is to be written no
// transaction is opened.
func (r *Reconciler) commit(ctx context.Context, items []item, discover []*backend.VM, nodeID string, now time.Time) error {
	writes := items[:0:0]
	for _, it := range items {
		if !it.vd.Empty() {
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
func (r *Reconciler) writeVerdict(ctx context.Context, tx store.Store, cur *vm.VM, vd reconcile.Verdict, out *outbox) (*vm.Event, error) {
	var ev *vm.Event
	switch {
	case vd.Remove:
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
		if vd.Event != nil {
			out.removed = append(out.removed, vd.Event)
		}
	case vd.Next != nil:
		if err := tx.VMs().UpdateStatus(ctx, vd.Next); err != nil {
			return nil, err
		}
		ev = vd.Event
	}
	if vd.Restart {
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
		rl := r.reportRule(reconcile.HostReport{NodeID: nodeID, Observed: o, Now: now})
		if err := r.writeItems(ctx, tx, []item{newItem(cur, rl)}, out); err != nil {
			return err
		}
	}
	return nil
}

func (r *Reconciler) reportRule(rep reconcile.HostReport) rule {
	return func(cur *vm.VM) reconcile.Verdict { return r.judge.Report(cur, rep) }
}
