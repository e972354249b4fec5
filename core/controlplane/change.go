package controlplane

import (
	"context"
	"errors"
	"fmt"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/reconcile"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

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
		rl := func(c *vm.VM) reconcile.Verdict { return r.judge.Gone(c, nodeID, now) }
		if ch.Reason == reconcile.ReasonMigrated {
			rl = func(c *vm.VM) reconcile.Verdict { return r.judge.MigratedAway(c, nodeID, now) }
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
	rep := reconcile.HostReport{NodeID: nodeID, Observed: ch.VM, Reason: ch.Reason, ObservedAt: ch.ObservedAt, Now: now}
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
