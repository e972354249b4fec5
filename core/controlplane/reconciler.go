package controlplane

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/reconcile"
	"github.com/quantixvm/quantix/core/restart"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

// staleRetries is how often a write that lost an optimistic-concurrency race
// is tried again (reading the VM anew each time) before the caller gets a
// conflict.
const staleRetries = 5

// Note says who changes a VM and why. Its Message becomes the VM's message
// (an error is kept there until the next change; success clears it) and the
// text of the change's vm.Event.
type Note struct {
	Cause   vm.Cause
	Action  string
	Message string
	// Always records the event even when neither the state nor the
	// message changes: an operator's action belongs in the VM's history
	// whatever it found.
	Always bool
	// ObservedAt is, for Apply, when the host observed the VM it reports
	// (nodeapi.Result.ObservedAt, the host's clock); zero when not known.
	ObservedAt time.Time
}

// Reconciler is the only writer of VM status: state, last_known_state,
// node, last_seen, lost_reason, lost_at and message. Every write is one
// transaction that reads the VM, changes it, stores it if nobody else wrote
// it meanwhile (retrying on store.ErrStale) and appends a vm.Event when the
// state or the message changed; once committed, the event is published on
// the events.Broker.
//
// It is also the nodeapi.ReportHandler agents report to (registrations and
// node liveness in liveness.go, full syncs in fullsync.go, changes in
// change.go, heartbeats in heartbeat.go), corrects VMs stuck in a
// transitional state and restarts VMs by their restart policy. Run runs the
// periodic part of that work; Close stops what is left of it.
type Reconciler struct {
	store  store.Store
	exec   nodeapi.Executor
	log    hclog.Logger
	now    func() time.Time
	opts   ReconcilerOptions
	broker *events.Broker
	// pub is where committed changes are published: the broker, or what
	// carries them to every server's broker (ReconcilerOptions.Publisher).
	pub events.Publisher
	// insertMu serialises the decisions that insert or replace VM records
	// (finishing a create, inserting a VM a host reports), so that one VM
	// never gets two records.
	insertMu sync.Mutex
	// groups commits the writes of full syncs in groups (group.go).
	groups reportGroups
	// busy counts, per VM id, the actions this process runs on it now; the
	// stuck-state scan leaves those VMs alone.
	busyMu sync.Mutex
	busy   map[string]int

	nodes *liveness
	// hashMismatches counts heartbeats whose state hash differed from the
	// database's (metrics.go).
	hashMismatches atomic.Uint64
	// restarts is the scheduler of restarts by restart policy: made at
	// once without Elected, and for each term of leadership with it (nil
	// while this server does not lead). restartMu guards the field.
	restartMu sync.Mutex
	restarts  *restart.Scheduler
	// judge decides what reports mean for records (core/reconcile).
	judge reconcile.Judge

	// bg bounds the work the reconciler starts on its own (restarts);
	// Close cancels it and waits for wg.
	bg     context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// The Reconciler applies what agents report.
var _ nodeapi.ReportHandler = (*Reconciler)(nil)

// ReconcilerOptions configure a Reconciler. Zero values take the defaults
// named on each field.
type ReconcilerOptions struct {
	// Store is the inventory (required).
	Store store.Store
	// Executor carries the commands the reconciler sends on its own: the
	// host check of a stuck VM and restarts. Without one neither happens.
	Executor nodeapi.Executor
	// Logger receives the reconciler's log; nil discards.
	Logger hclog.Logger
	// Broker publishes every change; nil makes one with default sizes.
	Broker *events.Broker
	// Publisher, when set, is where changes are published instead of
	// Broker: on PostgreSQL, the core/clusterbus.Bus that delivers them to
	// the Broker of every server on the database, this one's included.
	Publisher events.Publisher
	// HeartbeatInterval is the heartbeat interval of nodes that register
	// without giving theirs (5s, the agent's default).
	HeartbeatInterval time.Duration
	// MissedHeartbeats is how many intervals a node may stay silent before
	// it is UNREACHABLE (3).
	MissedHeartbeats int
	// LivenessScan is how often node deadlines are checked (1s).
	LivenessScan time.Duration
	// NodeWriteInterval is how often, at most, a heartbeat that changes
	// nothing else refreshes the node's stored last_heartbeat (1m).
	NodeWriteInterval time.Duration
	// LastSeenRefresh is how often, at most, a report that changes nothing
	// else refreshes a VM's stored last_seen (1m).
	LastSeenRefresh time.Duration
	// StuckTimeout is how long a VM may stay in a transitional state before
	// it is checked against its host (config.DefaultStuckTimeout, 5m).
	StuckTimeout time.Duration
	// StuckScan is how often VMs are looked at for that (5s).
	StuckScan time.Duration
	// Restart tunes restarts by restart policy.
	Restart restart.Options
	// Elected makes the cluster-wide duties (node liveness, the stuck-state
	// scan, restarts by restart policy) the leader's: they run only in the
	// functions Duties returns, which the daemon runs through cluster.Lead
	// while this server leads, with a context that fences their writes.
	// Reports on any server then only record what hosts say, and Run
	// writes the heartbeats of this server's sessions to the database for
	// the leader to judge. Without it one process does everything: Run
	// runs the liveness and stuck-state scans, and reports start restarts.
	Elected bool
	// HeartbeatFlush is how often, at most, the heartbeats this server
	// received are written to the database, one statement for all its
	// nodes that beat (2s; Elected only).
	HeartbeatFlush time.Duration
	// RestartScan is how often the leader looks for VMs down that their
	// restart policy wants running, besides the events it receives (5s;
	// Elected only).
	RestartScan time.Duration
	// Now is the clock of timestamps and deadlines; nil is time.Now.
	Now func() time.Time
}

// Defaults of ReconcilerOptions.
const (
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultMissedHeartbeats  = 3
	DefaultLivenessScan      = time.Second
	DefaultNodeWriteInterval = time.Minute
	DefaultLastSeenRefresh   = time.Minute
	DefaultStuckTimeout      = 5 * time.Minute
	DefaultStuckScan         = 5 * time.Second
	DefaultHeartbeatFlush    = 2 * time.Second
	DefaultRestartScan       = 5 * time.Second
)

func (o *ReconcilerOptions) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&o.LivenessScan, DefaultLivenessScan)
	def(&o.NodeWriteInterval, DefaultNodeWriteInterval)
	def(&o.LastSeenRefresh, DefaultLastSeenRefresh)
	def(&o.StuckTimeout, DefaultStuckTimeout)
	def(&o.StuckScan, DefaultStuckScan)
	def(&o.HeartbeatFlush, DefaultHeartbeatFlush)
	def(&o.RestartScan, DefaultRestartScan)
	if o.MissedHeartbeats <= 0 {
		o.MissedHeartbeats = DefaultMissedHeartbeats
	}
	o.Restart.SetDefaults()
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Broker == nil {
		o.Broker = events.NewBroker(events.BrokerOptions{})
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// NewReconciler returns the status writer of opts.Store. It starts nothing:
// Run runs the liveness and stuck-state loops, and Close ends restarts in
// progress.
func NewReconciler(opts ReconcilerOptions) (*Reconciler, error) {
	if opts.Store == nil {
		return nil, errors.New("reconciler: a store is required")
	}
	opts.setDefaults()
	r := &Reconciler{
		store:  opts.Store,
		exec:   opts.Executor,
		log:    opts.Logger.Named("reconciler"),
		now:    opts.Now,
		opts:   opts,
		broker: opts.Broker,
		pub:    opts.Publisher,
		busy:   make(map[string]int),
	}
	if r.pub == nil {
		r.pub = r.broker
	}
	r.bg, r.cancel = context.WithCancel(context.Background())
	r.nodes = newLiveness(r)
	r.judge = reconcile.Judge{NodeName: r.nodeName, LastSeenRefresh: opts.LastSeenRefresh}
	if !opts.Elected {
		r.restarts = r.newRestarts(r.bg, nil)
	}
	return r, nil
}

// Broker returns the broker the reconciler publishes on.
func (r *Reconciler) Broker() *events.Broker { return r.broker }

// Close stops pending restarts and waits for those under way. Reports
// after Close are still applied; restarts they call for are not made.
func (r *Reconciler) Close() {
	r.cancel()
	if s := r.scheduler(); s != nil {
		s.Stop()
	}
	r.wg.Wait()
}

// hold marks an action on VM id as running in this process until the
// returned func is called.
func (r *Reconciler) hold(id string) (release func()) {
	r.busyMu.Lock()
	r.busy[id]++
	r.busyMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.busyMu.Lock()
			if r.busy[id]--; r.busy[id] <= 0 {
				delete(r.busy, id)
			}
			r.busyMu.Unlock()
		})
	}
}

// isBusy reports whether an action of this process runs on VM id.
func (r *Reconciler) isBusy(id string) bool {
	r.busyMu.Lock()
	defer r.busyMu.Unlock()
	return r.busy[id] > 0
}

// errUnchanged, returned by a mutation, means there is nothing to write.
var errUnchanged = errors.New("unchanged")

// update is the write path of every status change of one existing VM.
func (r *Reconciler) update(ctx context.Context, id string, note Note, mutate func(v *vm.VM) error) (*vm.VM, error) {
	var out *vm.VM
	var ev *vm.Event
	err := retryStale(func() error {
		ev = nil
		return r.store.Tx(ctx, func(tx store.Store) error {
			v, err := tx.VMs().Get(ctx, id)
			if err != nil {
				return err
			}
			old := *v
			if err := mutate(v); err != nil {
				if errors.Is(err, errUnchanged) {
					out = v
					return nil
				}
				return err
			}
			now := r.now()
			if v.State != old.State {
				v.StateChangedAt = now
			}
			if err := tx.VMs().UpdateStatus(ctx, v); err != nil {
				return err
			}
			out = v
			if v.State == old.State && v.Message == old.Message && !note.Always {
				return nil
			}
			ev = &vm.Event{
				VMID: v.ID, Time: now, Action: note.Action, OldState: old.State, NewState: v.State,
				Cause: note.Cause, Message: note.Message,
			}
			return tx.Events().Append(ctx, ev)
		})
	})
	if err != nil {
		return nil, storeError(fmt.Sprintf("updating vm %s", id), err)
	}
	if ev != nil {
		r.pub.PublishVM(ev)
	}
	return out, nil
}

// retryStale runs fn again, up to staleRetries times, while it fails with
// store.ErrStale.
func retryStale(fn func() error) error {
	var err error
	for range staleRetries {
		if err = fn(); !errors.Is(err, store.ErrStale) {
			return err
		}
	}
	return err
}

// Begin checks that action may run on the VM now and moves it to the
// action's transitional state (vm.Through), clearing its message. It
// returns the VM as written and the state it was in. Of concurrent Begins on
// one VM whose action has a transitional state exactly one succeeds; the
// others see that state and get a conflict.
func (r *Reconciler) Begin(ctx context.Context, id string, action vm.Action, force bool) (*vm.VM, vm.State, error) {
	var prev vm.State
	v, err := r.update(ctx, id, Note{Cause: vm.CauseAPI, Action: string(action)}, func(v *vm.VM) error {
		if err := vm.Check(action, v.State, force); err != nil {
			return transitionError(v, err)
		}
		prev = v.State
		through := vm.Through(action)
		if through == "" && v.Message == "" {
			return errUnchanged
		}
		if through != "" {
			v.State = through
		}
		v.Message = ""
		return nil
	})
	return v, prev, err
}

// Revert puts a VM whose action failed back into prev, if it is still in
// the action's transitional state through ("" when the action has none),
// and keeps the error in its message.
func (r *Reconciler) Revert(ctx context.Context, id string, through, prev vm.State, note Note) (*vm.VM, error) {
	return r.update(ctx, id, note, func(v *vm.VM) error {
		if through != "" && v.State == through {
			v.State = prev
		}
		v.Message = note.Message
		return nil
	})
}

// SetState sets a state the control plane decided on without a host report
// (a forced reset_state, TERMINATED after a confirmed delete).
func (r *Reconciler) SetState(ctx context.Context, id string, state vm.State, note Note) (*vm.VM, error) {
	return r.update(ctx, id, note, func(v *vm.VM) error {
		v.State = state
		v.Message = note.Message
		return nil
	})
}

// Apply records what node nodeID reports about one of its VMs after a
// command of the control plane: state, node and last_seen, never the spec;
// note.Message becomes the VM's message. A record the node reported
// something newer of meanwhile (a change it observed after
// note.ObservedAt, applied first: reconcile.Older) keeps its state, unless
// it is still in an action's transitional state, which the reply ends. A VM the inventory does not know is
// inserted as host-discovered, unless it is the VM being created under a
// placeholder of the same name on that node: then the report is left to
// Complete, and the placeholder is returned. Reports agents push go through
// the ReportHandler methods instead, which follow the rules of docs/reconciliation.md.
func (r *Reconciler) Apply(ctx context.Context, nodeID string, observed *backend.VM, note Note) (*vm.VM, error) {
	if observed == nil || observed.ID == "" {
		return nil, errorf(KindInternal, "applying a report of node %s: no vm", nodeID)
	}
	v, err := r.applyKnown(ctx, nodeID, observed, note)
	if KindOf(err) != KindNotFound {
		return v, err
	}
	r.insertMu.Lock()
	defer r.insertMu.Unlock()
	// The record may have appeared while the lock was taken.
	v, err = r.applyKnown(ctx, nodeID, observed, note)
	if KindOf(err) != KindNotFound {
		return v, err
	}
	if p, err := r.store.VMs().GetByName(ctx, observed.Name); err == nil && isPlaceholderFor(p, nodeID) {
		return p, nil
	}
	var ev *vm.Event
	err = r.store.Tx(ctx, func(tx store.Store) error {
		v, ev, err = r.createDiscovered(ctx, tx, nodeID, observed, note.Cause, r.now())
		return err
	})
	if err != nil {
		return nil, storeError(fmt.Sprintf("inserting vm %s reported by node %s", observed.ID, nodeID), err)
	}
	r.pub.PublishVM(ev)
	return v, nil
}

func (r *Reconciler) applyKnown(ctx context.Context, nodeID string, observed *backend.VM, note Note) (*vm.VM, error) {
	return r.update(ctx, observed.ID, note, func(v *vm.VM) error {
		v.Message = note.Message
		if reconcile.Older(v, nodeID, note.ObservedAt) && !v.State.Transitional() {
			return nil
		}
		observe(v, nodeID, observed, r.now())
		reconcile.Stamp(v, note.ObservedAt)
		return nil
	})
}

// observe copies a host report into v's status fields. A VM the host has
// is not LOST any more.
func observe(v *vm.VM, nodeID string, observed *backend.VM, now time.Time) {
	v.State = vm.StateOf(observed.State)
	if v.State != vm.StateUnknown {
		v.LastKnownState = v.State
	}
	v.NodeID = nodeID
	v.LastSeen = &now
	v.LostReason, v.LostAt = "", nil
}

// isPlaceholderFor reports whether v is the record of a VM being created on
// node nodeID.
func isPlaceholderFor(v *vm.VM, nodeID string) bool {
	return v.State == vm.StateCreating && v.IsManaged && v.NodeID == nodeID
}

// discoverAction is the action of the event recording a VM found on a
// host that the inventory did not have.
const discoverAction = "discover"

// discovered is the record, and its first event, of a VM a host has and
// the inventory does not: host-discovered, not managed, with the spec and
// name the host reports.
func (r *Reconciler) discovered(nodeID string, observed *backend.VM, cause vm.Cause, now time.Time) (*vm.VM, *vm.Event) {
	v := &vm.VM{
		ID:            observed.ID,
		Name:          observed.Name,
		Description:   observed.Spec.Description,
		Origin:        vm.OriginHostDiscovered,
		IsManaged:     false,
		RestartPolicy: vm.RestartNever,
		Spec:          vm.SpecOf(observed),
		CreatedAt:     now,
	}
	observe(v, nodeID, observed, now)
	v.StateChangedAt = now
	v.Message = fmt.Sprintf("found on node %s; not managed by quantix until adopted", r.nodeName(nodeID))
	return v, &vm.Event{VMID: v.ID, Time: now, Action: discoverAction, NewState: v.State, Cause: cause, Message: v.Message}
}

// createDiscovered inserts, in tx, the record of a VM a host has and the
// inventory did not. The caller holds insertMu.
func (r *Reconciler) createDiscovered(ctx context.Context, tx store.Store, nodeID string, observed *backend.VM, cause vm.Cause, now time.Time) (*vm.VM, *vm.Event, error) {
	v, ev := r.discovered(nodeID, observed, cause, now)
	if err := tx.VMs().Create(ctx, v); err != nil {
		return nil, nil, err
	}
	if err := tx.Events().Append(ctx, ev); err != nil {
		return nil, nil, err
	}
	r.log.Info("vm discovered", "vm", v.Name, "id", v.ID, "node", nodeID, "state", v.State)
	return v, ev, nil
}

// Reserve inserts the placeholder of a VM being created: state CREATING,
// under an id of the control plane's own until the backend assigns one. A
// name taken by another managed VM is a conflict.
func (r *Reconciler) Reserve(ctx context.Context, v *vm.VM, note Note) error {
	v.State = vm.StateCreating
	v.Message = ""
	var ev *vm.Event
	err := r.store.Tx(ctx, func(tx store.Store) error {
		if err := tx.VMs().Create(ctx, v); err != nil {
			return err
		}
		ev = &vm.Event{
			VMID: v.ID, Time: v.CreatedAt, Action: note.Action, NewState: vm.StateCreating, Cause: note.Cause, Message: note.Message,
		}
		return tx.Events().Append(ctx, ev)
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &Error{Kind: KindConflict, Message: fmt.Sprintf("vm name %q is taken by another vm", v.Name), Err: err}
		}
		return storeError(fmt.Sprintf("creating vm %q", v.Name), err)
	}
	r.pub.PublishVM(ev)
	return nil
}

// Complete swaps the placeholder placeholderID for the VM's record under
// the backend's UUID, in the state the host reports, with spec as the spec;
// the placeholder's creation time and history (its events, under their
// ids, in the store and in the broker's ring) are kept. A record a host
// report inserted for that UUID as host-discovered meanwhile is replaced.
func (r *Reconciler) Complete(ctx context.Context, placeholderID, nodeID string, observed *backend.VM, spec vm.Spec, note Note) (*vm.VM, error) {
	r.insertMu.Lock()
	defer r.insertMu.Unlock()
	var out *vm.VM
	var done *vm.Event
	err := r.store.Tx(ctx, func(tx store.Store) error {
		p, err := tx.VMs().Get(ctx, placeholderID)
		if err != nil {
			return err
		}
		history, err := tx.Events().List(ctx, placeholderID, 0, MaxEventPage)
		if err != nil {
			return err
		}
		if err := tx.VMs().Delete(ctx, placeholderID); err != nil {
			return err
		}
		if old, err := tx.VMs().Get(ctx, observed.ID); err == nil {
			if old.IsManaged {
				return fmt.Errorf("%w: vm %s is already in the inventory as %q", store.ErrConflict, observed.ID, old.Name)
			}
			// A report inserted the VM meanwhile: its events (its
			// discovery), published and removed with its record, stay
			// the VM's, so that a replay from the store tells what a
			// stream resumed from the ring does.
			found, err := tx.Events().List(ctx, observed.ID, 0, MaxEventPage)
			if err != nil {
				return err
			}
			history = append(history, found...)
			slices.SortFunc(history, func(a, b *vm.Event) int { return cmp.Compare(a.ID, b.ID) })
			if err := tx.VMs().Delete(ctx, observed.ID); err != nil {
				return err
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := r.now()
		v := *p
		v.ID = observed.ID
		v.Spec = spec
		v.Message = note.Message
		observe(&v, nodeID, observed, now)
		v.StateChangedAt = now
		if err := tx.VMs().Create(ctx, &v); err != nil {
			return err
		}
		// The placeholder's history (removed with it) is the VM's, under
		// the same event ids, with that of a record a report inserted:
		// replays of the stream see it where it was.
		for _, e := range history {
			e.VMID = v.ID
		}
		if err := tx.Events().Restore(ctx, history); err != nil {
			return err
		}
		out = &v
		done = &vm.Event{
			VMID: v.ID, Time: now, Action: note.Action, OldState: p.State, NewState: v.State, Cause: note.Cause, Message: note.Message,
		}
		return tx.Events().Append(ctx, done)
	})
	if err != nil {
		return nil, storeError(fmt.Sprintf("recording created vm %s", observed.ID), err)
	}
	r.pub.Rehome(placeholderID, out.ID)
	r.pub.PublishVM(done)
	return out, nil
}

// Discard removes the placeholder of a create that failed.
func (r *Reconciler) Discard(ctx context.Context, placeholderID string) error {
	if err := r.store.VMs().Delete(ctx, placeholderID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("discarding placeholder %s: %w", placeholderID, err)
	}
	r.publishRemoved(ctx, &vm.Event{VMID: placeholderID, Time: r.now(), Action: "discard", OldState: vm.StateCreating,
		Cause: vm.CauseAPI, Message: "the create failed: the record is removed"})
	return nil
}
