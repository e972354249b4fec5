package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/reconcile"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// stuckBatch bounds how many VMs one scan looks at; the rest wait for the
// next scan.
const stuckBatch = 100

// scanStuck checks every VM that has been in a transitional state for
// longer than StuckTimeout against its host and corrects it (an automatic
// reset_state): the host's state when it has the VM, STOPPED when it does
// not (TERMINATED for a VM being deleted). VMs with an action of this
// process under way are left alone, and so are those whose node is not
// connected: they are tried again at a later scan. The placeholder of a
// create no process runs any more is removed (discardStuckCreate).
func (r *Reconciler) scanStuck(ctx context.Context) {
	if r.exec == nil {
		return
	}
	now := r.now()
	list, err := r.store.VMs().ListTransitional(ctx, now.Add(-r.opts.StuckTimeout), stuckBatch)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("listing vms in transitional states", "error", err)
		}
		return
	}
	if len(list) == 0 {
		return
	}
	connected := r.exec.Connected()
	for _, v := range list {
		if ctx.Err() != nil {
			return
		}
		if r.isBusy(v.ID) {
			continue
		}
		if v.State == vm.StateCreating {
			r.discardStuckCreate(ctx, v, now)
			continue
		}
		if !slices.Contains(connected, v.NodeID) {
			r.log.Debug("vm stuck on a node that is not connected; trying later", "vm", v.Name, "id", v.ID, "state", v.State, "node", v.NodeID)
			continue
		}
		r.correctStuck(ctx, v, now)
	}
}

// discardStuckCreate removes placeholder v of a create that has not
// finished within StuckTimeout and that this process does not run (the
// server stopped during it): the VM never got its record. A VM the host
// made for it is then in the node's state hash but not in the inventory,
// so the node's next heartbeat asks for a full sync, which discovers it
// (host-discovered, to adopt). A placeholder that changed since the scan
// read it is left alone.
func (r *Reconciler) discardStuckCreate(ctx context.Context, v *vm.VM, now time.Time) {
	release := r.hold(v.ID)
	defer release()
	removed := false
	err := r.store.Tx(ctx, func(tx store.Store) error {
		cur, err := tx.VMs().Get(ctx, v.ID)
		if err != nil {
			return err
		}
		if cur.State != vm.StateCreating || !cur.StateChangedAt.Equal(v.StateChangedAt) {
			return nil
		}
		removed = true
		return tx.VMs().Delete(ctx, v.ID)
	})
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	if err != nil {
		r.log.Error("removing the placeholder of a create that did not finish", "vm", v.Name, "id", v.ID, "error", err)
		return
	}
	if !removed {
		return
	}
	msg := fmt.Sprintf("the create of vm %q did not finish within %s and no request runs it any more (the server stopped during it?): "+
		"its placeholder is removed; a vm node %s made for it is discovered by the node's next full sync",
		v.Name, now.Sub(v.StateChangedAt).Round(time.Second), r.nodeName(v.NodeID))
	r.log.Warn(msg, "id", v.ID)
	r.publishRemoved(ctx, &vm.Event{VMID: v.ID, Time: now, Action: "discard", OldState: vm.StateCreating, Cause: vm.CauseReconciler, Message: msg})
}

// correctStuck asks v's host about v and writes what it says.
func (r *Reconciler) correctStuck(ctx context.Context, v *vm.VM, now time.Time) {
	release := r.hold(v.ID)
	defer release()
	cmd := nodeapi.Command{Op: agentv1.Op_OP_GET, VMID: v.ID}
	gctx, cancel := context.WithTimeout(ctx, cmd.Timeout())
	res, err := r.exec.Execute(gctx, v.NodeID, cmd)
	cancel()
	var observed *backend.VM
	switch {
	case plugin.KindOf(err) == plugin.KindNotFound:
	case err != nil:
		r.log.Warn("checking a stuck vm against its host; trying later", "vm", v.Name, "id", v.ID, "state", v.State, "node", v.NodeID, "error", err)
		return
	case res == nil || res.VM == nil:
		r.log.Warn("checking a stuck vm: the node reported no vm", "vm", v.Name, "id", v.ID, "node", v.NodeID)
		return
	default:
		observed = res.VM
	}
	rl := func(cur *vm.VM) reconcile.Verdict { return r.judge.Stuck(cur, v, observed, now) }
	if err := r.commit(ctx, []item{newItem(v, rl)}, nil, v.NodeID, now); err != nil {
		r.log.Error("correcting a stuck vm", "vm", v.Name, "id", v.ID, "error", err)
	}
}
