package controlplane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

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
}

// Reconciler is the only writer of VM status: state, last_known_state,
// node, last_seen and message. Every write is one transaction that reads the
// VM, changes it, stores it if nobody else wrote it meanwhile (retrying on
// store.ErrStale) and appends a vm.Event when the state or the message
// changed.
type Reconciler struct {
	store store.Store
	log   hclog.Logger
	now   func() time.Time
	// insertMu serialises the decisions that insert or replace VM records
	// (finishing a create, inserting a VM a host reports), so that one VM
	// never gets two records.
	insertMu sync.Mutex
}

// NewReconciler returns the status writer of s.
func NewReconciler(s store.Store, logger hclog.Logger) *Reconciler {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Reconciler{store: s, log: logger.Named("reconciler"), now: time.Now}
}

// errUnchanged, returned by a mutation, means there is nothing to write.
var errUnchanged = errors.New("unchanged")

// update is the write path of every status change of an existing VM.
func (r *Reconciler) update(ctx context.Context, id string, note Note, mutate func(v *vm.VM) error) (*vm.VM, error) {
	var out *vm.VM
	var err error
	for range staleRetries {
		err = r.store.Tx(ctx, func(tx store.Store) error {
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
			if err := tx.VMs().Update(ctx, v); err != nil {
				return err
			}
			out = v
			if v.State == old.State && v.Message == old.Message {
				return nil
			}
			return tx.Events().Append(ctx, &vm.Event{
				VMID: v.ID, Time: now, Action: note.Action, OldState: old.State, NewState: v.State,
				Cause: note.Cause, Message: note.Message,
			})
		})
		if !errors.Is(err, store.ErrStale) {
			break
		}
	}
	if err != nil {
		return nil, storeError(fmt.Sprintf("updating vm %s", id), err)
	}
	return out, nil
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

// Apply records what node nodeID reports about one of its VMs: state,
// node and last_seen, never the spec. A VM the inventory does not know is
// inserted as host-discovered, unless it is the VM being created under a
// placeholder of the same name on that node: then the report is left to
// Complete, and the placeholder is returned.
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
	return r.insertDiscovered(ctx, nodeID, observed, note)
}

func (r *Reconciler) applyKnown(ctx context.Context, nodeID string, observed *backend.VM, note Note) (*vm.VM, error) {
	return r.update(ctx, observed.ID, note, func(v *vm.VM) error {
		observe(v, nodeID, observed, r.now())
		v.Message = note.Message
		return nil
	})
}

// observe copies a host report into v's status fields.
func observe(v *vm.VM, nodeID string, observed *backend.VM, now time.Time) {
	v.State = stateOf(observed.State)
	if v.State != vm.StateUnknown {
		v.LastKnownState = v.State
	}
	v.NodeID = nodeID
	v.LastSeen = &now
}

// isPlaceholderFor reports whether v is the record of a VM being created on
// node nodeID.
func isPlaceholderFor(v *vm.VM, nodeID string) bool {
	return v.State == vm.StateCreating && v.IsManaged && v.NodeID == nodeID
}

func (r *Reconciler) insertDiscovered(ctx context.Context, nodeID string, observed *backend.VM, note Note) (*vm.VM, error) {
	now := r.now()
	v := &vm.VM{
		ID:            observed.ID,
		Name:          observed.Name,
		Description:   observed.Spec.Description,
		Origin:        vm.OriginHostDiscovered,
		IsManaged:     false,
		DesiredState:  "",
		RestartPolicy: vm.RestartNever,
		Spec:          specOf(observed),
		Message:       note.Message,
	}
	observe(v, nodeID, observed, now)
	err := r.store.Tx(ctx, func(tx store.Store) error {
		if err := tx.VMs().Create(ctx, v); err != nil {
			return err
		}
		return tx.Events().Append(ctx, &vm.Event{
			VMID: v.ID, Time: now, Action: "discover", NewState: v.State, Cause: note.Cause,
			Message: fmt.Sprintf("found on node %s", nodeID),
		})
	})
	if err != nil {
		return nil, storeError(fmt.Sprintf("inserting vm %s reported by node %s", observed.ID, nodeID), err)
	}
	r.log.Info("vm discovered", "vm", v.Name, "id", v.ID, "node", nodeID)
	return v, nil
}

// Reserve inserts the placeholder of a VM being created: state CREATING,
// under an id of the control plane's own until the backend assigns one. A
// name taken by another managed VM is a conflict.
func (r *Reconciler) Reserve(ctx context.Context, v *vm.VM, note Note) error {
	v.State = vm.StateCreating
	v.Message = ""
	err := r.store.Tx(ctx, func(tx store.Store) error {
		if err := tx.VMs().Create(ctx, v); err != nil {
			return err
		}
		return tx.Events().Append(ctx, &vm.Event{
			VMID: v.ID, Time: v.CreatedAt, Action: note.Action, NewState: vm.StateCreating, Cause: note.Cause, Message: note.Message,
		})
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &Error{Kind: KindConflict, Message: fmt.Sprintf("vm name %q is taken by another vm", v.Name), Err: err}
		}
		return storeError(fmt.Sprintf("creating vm %q", v.Name), err)
	}
	return nil
}

// Complete swaps the placeholder placeholderID for the VM's record under
// the backend's UUID, in the state the host reports, with spec as the spec;
// the placeholder's creation time and history are kept. A record a host
// report inserted for that UUID as host-discovered meanwhile is replaced.
func (r *Reconciler) Complete(ctx context.Context, placeholderID, nodeID string, observed *backend.VM, spec vm.Spec, note Note) (*vm.VM, error) {
	r.insertMu.Lock()
	defer r.insertMu.Unlock()
	var out *vm.VM
	err := r.store.Tx(ctx, func(tx store.Store) error {
		p, err := tx.VMs().Get(ctx, placeholderID)
		if err != nil {
			return err
		}
		history, err := tx.Events().List(ctx, placeholderID, 0, 1000)
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
		for _, e := range history {
			e.VMID = v.ID
			if err := tx.Events().Append(ctx, e); err != nil {
				return err
			}
		}
		out = &v
		return tx.Events().Append(ctx, &vm.Event{
			VMID: v.ID, Time: now, Action: note.Action, OldState: p.State, NewState: v.State, Cause: note.Cause, Message: note.Message,
		})
	})
	if err != nil {
		return nil, storeError(fmt.Sprintf("recording created vm %s", observed.ID), err)
	}
	return out, nil
}

// Discard removes the placeholder of a create that failed.
func (r *Reconciler) Discard(ctx context.Context, placeholderID string) error {
	if err := r.store.VMs().Delete(ctx, placeholderID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("discarding placeholder %s: %w", placeholderID, err)
	}
	return nil
}
