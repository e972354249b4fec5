package controlplane

import (
	"context"
	"errors"
	"fmt"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// A placeholder is the CREATING record a create writes before it asks the
// host (Reserve). When no request of this process runs that create any
// more (the server stopped during it), the placeholder is settled by
// reset_state or by the stuck scan, in the same way: the host is asked for
// the VM of the placeholder's name that Quantix made (findCreated); when it
// has one, the placeholder becomes that VM (Complete: its record under the
// host's UUID, managed, origin control-plane, in the state the host
// reports); when it has none, the placeholder is removed (dropPlaceholder).

// placeholderForceHint tells how to get rid of a placeholder whose node
// cannot be asked.
const placeholderForceHint = "use force=true to remove the leftover record without asking the host " +
	"(a vm the host made for it is then discovered by the node's next full sync and can be adopted)"

// findCreated asks v's node for the VM a create of placeholder v made: the
// VM named v.Name that the host's metadata marks as made by Quantix. It
// returns nil when the host has no such VM (a foreign VM of that name does
// not count: it is discovered as host-discovered once the name is free).
func (r *Reconciler) findCreated(ctx context.Context, v *vm.VM) (*backend.VM, error) {
	cmd := nodeapi.Command{Op: agentv1.Op_OP_FIND_BY_NAME, Name: v.Name}
	cctx, cancel := context.WithTimeout(ctx, cmd.Timeout())
	defer cancel()
	res, err := r.exec.Execute(cctx, v.NodeID, cmd)
	switch {
	case plugin.KindOf(err) == plugin.KindNotFound:
		return nil, nil
	case err != nil:
		return nil, err
	case res == nil || res.VM == nil || res.VM.ID == "":
		return nil, fmt.Errorf("node %s reported no vm for name %q", v.NodeID, v.Name)
	case !res.VM.Managed || res.VM.Name != v.Name:
		return nil, nil
	}
	return res.VM, nil
}

// takeOver makes placeholder v the record of observed, the VM its create
// made on v's node.
func (r *Reconciler) takeOver(ctx context.Context, v *vm.VM, observed *backend.VM, note Note) (*vm.VM, error) {
	return r.Complete(ctx, v.ID, v.NodeID, observed, vm.WithHostDisks(v.Spec, observed), note)
}

// dropPlaceholder removes placeholder v, unless it changed since v was read
// (then removed is false), and publishes a "discard" event with note's
// cause and message.
func (r *Reconciler) dropPlaceholder(ctx context.Context, v *vm.VM, note Note) (removed bool, err error) {
	err = r.store.Tx(ctx, func(tx store.Store) error {
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
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if removed {
		r.publishRemoved(ctx, &vm.Event{VMID: v.ID, Time: r.now(), Action: "discard", OldState: vm.StateCreating, Cause: note.Cause, Message: note.Message})
	}
	return removed, nil
}

// resetPlaceholder is reset_state on placeholder v of a create no request
// of this process runs: it settles the placeholder as the package comment
// above says. With force it removes the placeholder without asking.
func (s *Service) resetPlaceholder(ctx context.Context, v *vm.VM, force bool) (*ActionResult, error) {
	defer s.acting(v.ID)()
	node := nodeName(v)
	drop := func(ctx context.Context, msg, reply string) (*ActionResult, error) {
		removed, err := s.rec.dropPlaceholder(ctx, v, Note{Cause: vm.CauseAPI, Action: string(vm.ActionResetState), Message: msg})
		if err != nil {
			return nil, storeError(fmt.Sprintf("removing the leftover record of vm %q", v.Name), err)
		}
		if !removed {
			return nil, &Error{Kind: KindConflict, Message: fmt.Sprintf("vm %q changed while its state was being reset; read it again", v.Name)}
		}
		s.log.Info("vm placeholder removed", "vm", v.Name, "id", v.ID, "node", v.NodeID, "forced", force)
		return &ActionResult{Message: reply}, nil
	}
	if force {
		return drop(ctx,
			fmt.Sprintf("reset_state with force: the record of the unfinished create is removed without asking node %s", node),
			fmt.Sprintf("VM %q was being created when the server stopped: its leftover record is removed without asking node %s; "+
				"a vm the node made for it is discovered by the node's next full sync and can be adopted", v.Name, node))
	}
	if !s.connected(v.NodeID) {
		return nil, &Error{Kind: KindUnavailable, VM: v, Err: nodeapi.ErrNodeUnavailable,
			Message: fmt.Sprintf("vm %q: node %s is unreachable, cannot ask it whether the unfinished create made the vm; %s", v.Name, node, placeholderForceHint)}
	}
	found, err := s.rec.findCreated(ctx, v)
	if err != nil {
		return nil, hostError(v, v.NodeID, agentv1.Op_OP_FIND_BY_NAME, err, placeholderForceHint)
	}
	wctx, cancel := detached(ctx)
	defer cancel()
	if found == nil {
		return drop(wctx,
			fmt.Sprintf("node %s has no vm named %q made by quantix: the create never finished there; the record is removed", node, v.Name),
			fmt.Sprintf("VM %q was never created on node %s (the server stopped during the create): its leftover record is removed; create it again", v.Name, node))
	}
	note := Note{Cause: vm.CauseAPI, Action: string(vm.ActionResetState),
		Message: fmt.Sprintf("node %s has the vm (%s, %s): the unfinished create is completed", node, found.ID, vm.StateOf(found.State))}
	out, err := s.rec.takeOver(wctx, v, found, note)
	if err != nil {
		return nil, err
	}
	s.log.Info("vm placeholder taken over", "vm", out.Name, "id", out.ID, "placeholder", v.ID, "state", out.State)
	return &ActionResult{VM: out, Message: fmt.Sprintf("VM %q was created on node %s before the server stopped: it is recorded under its host id %s, %s",
		out.Name, node, out.ID, out.State)}, nil
}
