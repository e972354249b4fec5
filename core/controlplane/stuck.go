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
		if err := r.correctStuck(ctx, v, now); errors.Is(err, store.ErrFenced) {
			r.log.Info("stuck-state scan stopped: this server no longer leads the cluster")
			return
		}
	}
}

// discardStuckCreate settles placeholder v of a create that has not
// finished within StuckTimeout and that this process does not run (the
// server stopped during it), as reset_state does (see placeholder.go): when
// v's node is connected and has the VM the create made, v becomes that VM;
// otherwise v is removed. A VM the host made that could not be asked for
// (node not connected, or the question failed) is then in the node's state
// hash but not in the inventory, so the node's next heartbeat asks for a
// full sync, which discovers it (host-discovered, to adopt). A placeholder
// that changed since the scan read it is left alone.
func (r *Reconciler) discardStuckCreate(ctx context.Context, v *vm.VM, now time.Time) {
	release := r.hold(v.ID)
	defer release()
	age := now.Sub(v.StateChangedAt).Round(time.Second)
	if slices.Contains(r.exec.Connected(), v.NodeID) {
		found, err := r.findCreated(ctx, v)
		switch {
		case err != nil:
			r.log.Warn("asking the node for the vm of a create that did not finish; removing its placeholder", "vm", v.Name, "id", v.ID, "node", v.NodeID, "error", err)
		case found != nil:
			msg := fmt.Sprintf("the create of vm %q did not finish within %s and no request runs it any more (the server stopped during it?): "+
				"node %s has the vm (%s, %s): the create is completed", v.Name, age, r.nodeName(v.NodeID), found.ID, vm.StateOf(found.State))
			out, err := r.takeOver(ctx, v, found, Note{Cause: vm.CauseReconciler, Action: "create", Message: msg})
			if err != nil {
				if ctx.Err() == nil && KindOf(err) != KindNotFound {
					r.log.Error("completing a create that did not finish", "vm", v.Name, "id", v.ID, "error", err)
				}
				return
			}
			r.log.Warn(msg, "id", out.ID, "placeholder", v.ID)
			return
		default:
			msg := fmt.Sprintf("the create of vm %q did not finish within %s and no request runs it any more (the server stopped during it?): "+
				"node %s has no vm of that name made by quantix: the placeholder is removed", v.Name, age, r.nodeName(v.NodeID))
			r.dropStuck(ctx, v, msg)
			return
		}
	}
	msg := fmt.Sprintf("the create of vm %q did not finish within %s and no request runs it any more (the server stopped during it?): "+
		"its placeholder is removed; a vm node %s made for it is discovered by the node's next full sync",
		v.Name, age, r.nodeName(v.NodeID))
	r.dropStuck(ctx, v, msg)
}

// dropStuck removes stuck placeholder v with msg as the reason.
func (r *Reconciler) dropStuck(ctx context.Context, v *vm.VM, msg string) {
	removed, err := r.dropPlaceholder(ctx, v, Note{Cause: vm.CauseReconciler, Message: msg})
	if err != nil {
		r.log.Error("removing the placeholder of a create that did not finish", "vm", v.Name, "id", v.ID, "error", err)
		return
	}
	if removed {
		r.log.Warn(msg, "id", v.ID)
	}
}

// correctStuck asks v's host about v and writes what it says. It returns
// the error of the write, which it has logged (store.ErrFenced: another
// server leads now).
func (r *Reconciler) correctStuck(ctx context.Context, v *vm.VM, now time.Time) error {
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
		return nil
	case res == nil || res.VM == nil:
		r.log.Warn("checking a stuck vm: the node reported no vm", "vm", v.Name, "id", v.ID, "node", v.NodeID)
		return nil
	default:
		observed = res.VM
	}
	rl := func(cur *vm.VM) reconcile.Verdict { return r.judge.Stuck(cur, v, observed, now) }
	err = r.commit(ctx, []item{newItem(v, rl)}, nil, v.NodeID, now)
	if err != nil && !errors.Is(err, store.ErrFenced) {
		r.log.Error("correcting a stuck vm", "vm", v.Name, "id", v.ID, "error", err)
	}
	return err
}
