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
	// discovered counts the VMs inserted per node, to log.
	discovered []discovered
}

type discovered struct {
	nodeID string
	count  int
}

// discover counts n VMs of node nodeID inserted.
func (o *outbox) discover(nodeID string, n int) {
	if n == 0 {
		return
	}
	if k := len(o.discovered); k > 0 && o.discovered[k-1].nodeID == nodeID {
		o.discovered[k-1].count += n
		return
	}
	o.discovered = append(o.discovered, discovered{nodeID: nodeID, count: n})
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

// report is the work of one report for commitReports: the records to
// write (their verdicts are not empty) and the VMs to insert, all reported
// by node nodeID at now.
type report struct {
	nodeID   string
	now      time.Time
	writes   []item
	discover []*backend.VM
}

// newReport keeps the items of items whose verdict is not empty; nil when
// there is nothing at all to write.
func newReport(items []item, discover []*backend.VM, nodeID string, now time.Time) *report {
	writes := items[:0:0]
	for _, it := range items {
		if !it.vd.Empty() {
			writes = append(writes, it)
		}
	}
	if len(writes) == 0 && len(discover) == 0 {
		return nil
	}
	return &report{nodeID: nodeID, now: now, writes: writes, discover: discover}
}

// rows is how many records rep writes or inserts.
func (rep *report) rows() int { return len(rep.writes) + len(rep.discover) }

// commit writes the verdicts of items and inserts the VMs of discover (all
// reported by node nodeID) in one transaction, then publishes. Items whose
// verdict is empty cost nothing; when nothing at all is to be written no
// transaction is opened.
func (r *Reconciler) commit(ctx context.Context, items []item, discover []*backend.VM, nodeID string, now time.Time) error {
	rep := newReport(items, discover, nodeID, now)
	if rep == nil {
		return nil
	}
	return r.commitReports(ctx, []*report{rep})
}

// txRetries is how often a transaction of reports that PostgreSQL aborted
// as a deadlock or a serialization failure (store.Retryable) is run again
// as a whole.
const txRetries = 3

// commitReports applies reps in one transaction, then publishes. Locks are
// taken in one order: every record is written (updates, then inserts)
// before the events of the transaction are appended, all at once at the
// end, so that the event order lock (store.EventRepo) is taken last and
// held only for the append and the commit: a transaction holding it never
// waits for a record another one holds. A transaction PostgreSQL aborts
// anyway (store.Retryable: a deadlock with a writer that does not follow
// that order) is run again as a whole, up to txRetries times.
func (r *Reconciler) commitReports(ctx context.Context, reps []*report) error {
	inserts := false
	for _, rep := range reps {
		inserts = inserts || len(rep.discover) > 0
	}
	if inserts {
		r.insertMu.Lock()
		defer r.insertMu.Unlock()
	}
	var out outbox
	var err error
	for attempt := 0; ; attempt++ {
		err = r.store.Tx(ctx, func(tx store.Store) error {
			out = outbox{}
			var events []*vm.Event
			for _, rep := range reps {
				evs, err := r.writeRows(ctx, tx, rep.writes, &out)
				if err != nil {
					return err
				}
				events = append(events, evs...)
			}
			evs, err := r.discoverTx(ctx, tx, reps, &out)
			if err != nil {
				return err
			}
			events = append(events, evs...)
			if err := tx.Events().AppendMany(ctx, events); err != nil {
				return err
			}
			out.events = append(out.events, events...)
			return nil
		})
		if err == nil || !store.Retryable(err) || attempt >= txRetries || ctx.Err() != nil {
			break
		}
		r.log.Debug("running a transaction of reports again: the database aborted it", "attempt", attempt+1, "error", err)
	}
	if err != nil {
		return err
	}
	for _, d := range out.discovered {
		r.log.Info("vms discovered", "node", d.nodeID, "count", d.count)
	}
	r.flush(ctx, &out)
	return nil
}

// writeItems writes the verdict of each item in tx, and their events in
// one batch at the end (see writeRows).
func (r *Reconciler) writeItems(ctx context.Context, tx store.Store, items []item, out *outbox) error {
	events, err := r.writeRows(ctx, tx, items, out)
	if err != nil {
		return err
	}
	if err := tx.Events().AppendMany(ctx, events); err != nil {
		return err
	}
	out.events = append(out.events, events...)
	return nil
}

// writeRows writes the verdict of each item in tx and returns the events
// to append with them, which it does not append. A record that changed
// since it was read is read again and judged anew; one whose write would
// break a unique constraint (a TERMINATED VM coming back under a name that
// is taken now) is left as it is, with a warning, so that one VM cannot
// block the report of a whole node.
func (r *Reconciler) writeRows(ctx context.Context, tx store.Store, items []item, out *outbox) ([]*vm.Event, error) {
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
				return nil, err
			}
			if cur, err = tx.VMs().Get(ctx, cur.ID); errors.Is(err, store.ErrNotFound) {
				break
			} else if err != nil {
				return nil, err
			}
			vd = it.rule(cur)
		}
	}
	return events, nil
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
		// A verdict is written once per transaction: a transaction run
		// again writes a copy, since a successful write bumps the version
		// of the record it is given.
		next := *vd.Next
		if err := tx.VMs().UpdateStatus(ctx, &next); err != nil {
			return nil, err
		}
		ev = vd.Event
	}
	if vd.Restart {
		out.restarts = append(out.restarts, cur.ID)
	}
	return ev, nil
}

// discoverTx inserts, in tx, the VMs the reports of reps found and the
// inventory did not have when they were read, in one batch, and returns
// their events, which it does not append. If a record appeared meanwhile (a
// create completed, another server inserted it, two nodes of reps report
// one VM), the batch fails as a whole and each VM is taken on its own:
// inserted, or its report applied to the record that is there now.
func (r *Reconciler) discoverTx(ctx context.Context, tx store.Store, reps []*report, out *outbox) ([]*vm.Event, error) {
	var vms []*vm.VM
	var evs []*vm.Event
	for _, rep := range reps {
		for _, o := range rep.discover {
			v, ev := r.discovered(rep.nodeID, o, vm.CauseHost, rep.now)
			vms, evs = append(vms, v), append(evs, ev)
		}
	}
	if len(vms) == 0 {
		return nil, nil
	}
	err := tx.VMs().CreateMany(ctx, vms)
	if err == nil {
		for _, rep := range reps {
			out.discover(rep.nodeID, len(rep.discover))
		}
		return evs, nil
	}
	if !errors.Is(err, store.ErrConflict) {
		return nil, err
	}
	evs = evs[:0]
	for _, rep := range reps {
		for _, o := range rep.discover {
			v, ev := r.discovered(rep.nodeID, o, vm.CauseHost, rep.now)
			err := tx.VMs().Create(ctx, v)
			if err == nil {
				evs = append(evs, ev)
				out.discover(rep.nodeID, 1)
				r.log.Info("vm discovered", "vm", v.Name, "id", v.ID, "node", rep.nodeID, "state", v.State)
				continue
			}
			if !errors.Is(err, store.ErrConflict) {
				return nil, err
			}
			cur, gerr := tx.VMs().Get(ctx, o.ID)
			if gerr != nil {
				return nil, errors.Join(err, gerr)
			}
			rl := r.reportRule(reconcile.HostReport{NodeID: rep.nodeID, Observed: o, Now: rep.now})
			more, err := r.writeRows(ctx, tx, []item{newItem(cur, rl)}, out)
			if err != nil {
				return nil, err
			}
			evs = append(evs, more...)
		}
	}
	return evs, nil
}

func (r *Reconciler) reportRule(rep reconcile.HostReport) rule {
	return func(cur *vm.VM) reconcile.Verdict { return r.judge.Report(cur, rep) }
}
