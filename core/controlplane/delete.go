package controlplane

import (
	"context"
	"fmt"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/vm"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Delete removes a VM and the disks it owns from its host; without force a
// running, paused or suspended VM is refused. The VM passes through
// DELETING and, once its node confirms it is gone, stays in the inventory
// as TERMINATED (hidden from lists unless asked for; its name is free
// again). When the host fails, the VM goes back to its state with the error
// in its message.
func (s *Service) Delete(ctx context.Context, ref string, force bool) (*ActionResult, error) {
	v, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := requireManaged(v, "delete"); err != nil {
		return nil, err
	}
	if err := vm.Check(vm.ActionDelete, v.State, force); err != nil {
		return nil, transitionError(v, err)
	}
	if err := s.refuseCreating(v, "delete"); err != nil {
		return nil, err
	}
	if !s.connectedSoon(ctx, v.NodeID) {
		return nil, &Error{Kind: KindUnavailable, VM: v, Err: nodeapi.ErrNodeUnavailable,
			Message: fmt.Sprintf("vm %q: node %s is not connected, cannot delete the vm from it now", v.Name, nodeName(v))}
	}
	defer s.acting(v.ID)()
	v, prev, err := s.rec.Begin(ctx, v.ID, vm.ActionDelete, force)
	if err != nil {
		return nil, err
	}
	ectx := context.WithoutCancel(ctx)
	_, err = s.execute(ectx, v.NodeID, nodeapi.Command{Op: agentv1.Op_OP_DELETE, VMID: v.ID, Delete: backend.DeleteOptions{Force: force, DeleteDisks: true}})
	if err == nil {
		// Confirm: TERMINATED means gone from the host.
		if _, gerr := s.execute(ectx, v.NodeID, nodeapi.Command{Op: agentv1.Op_OP_GET, VMID: v.ID}); gerr == nil {
			err = fmt.Errorf("the vm is still there after the delete")
		} else if plugin.KindOf(gerr) != plugin.KindNotFound {
			err = gerr
		}
	}
	wctx, cancel := detached(ctx)
	defer cancel()
	if err != nil {
		return nil, s.fail(wctx, v, vm.ActionDelete, prev, hostError(v, v.NodeID, agentv1.Op_OP_DELETE, err, ""))
	}
	v, err = s.rec.SetState(wctx, v.ID, vm.StateTerminated, Note{Cause: vm.CauseAPI, Action: string(vm.ActionDelete),
		Message: fmt.Sprintf("deleted from node %s", v.NodeID)})
	if err != nil {
		return nil, err
	}
	s.log.Info("vm deleted", "vm", v.Name, "id", v.ID, "forced", force)
	return &ActionResult{VM: v, Message: "VM deleted"}, nil
}
