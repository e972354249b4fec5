package controlplane

import (
	"context"
	"fmt"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/vm"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// forceHint tells how to get a VM out of a state when its node cannot be
// asked.
const forceHint = "use force=true to reset the state to STOPPED without asking the host"

// ResetState corrects the state of a VM, from any state. Without force it
// asks the VM's node for the real state and applies it (a VM its node does
// not have is STOPPED); an unreachable node is unavailable, with a hint to
// use force. With force the VM is STOPPED without asking anyone. A CREATING
// record of a create no request of this process runs (the server stopped
// during it) is settled instead (resetPlaceholder): it becomes the VM the
// host made for it, or is removed when the host has none (with force:
// removed without asking).
func (s *Service) ResetState(ctx context.Context, ref string, force bool) (*ActionResult, error) {
	v, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := requireManaged(v, "reset the state of"); err != nil {
		return nil, err
	}
	if err := vm.Check(vm.ActionResetState, v.State, force); err != nil {
		return nil, transitionError(v, err)
	}
	if err := s.refuseCreating(v, "reset the state of"); err != nil {
		return nil, err
	}
	if v.State == vm.StateCreating {
		return s.resetPlaceholder(ctx, v, force)
	}
	defer s.acting(v.ID)()
	note := Note{Cause: vm.CauseAPI, Action: string(vm.ActionResetState), Always: true}
	if force {
		note.Message = fmt.Sprintf("state reset from %s to STOPPED without asking the host", v.State)
		if v, err = s.rec.SetState(ctx, v.ID, vm.StateStopped, note); err != nil {
			return nil, err
		}
		s.log.Info("vm state reset", "vm", v.Name, "id", v.ID, "state", v.State, "forced", true)
		return &ActionResult{VM: v, Message: "VM state reset to STOPPED"}, nil
	}
	if !s.connected(v.NodeID) {
		return nil, &Error{Kind: KindUnavailable, VM: v, Err: nodeapi.ErrNodeUnavailable,
			Message: fmt.Sprintf("vm %q: node %s is unreachable, cannot ask it for the vm's state; %s", v.Name, nodeName(v), forceHint)}
	}
	res, err := s.execute(ctx, v.NodeID, nodeapi.Command{Op: agentv1.Op_OP_GET, VMID: v.ID})
	wctx, cancel := detached(ctx)
	defer cancel()
	switch {
	case plugin.KindOf(err) == plugin.KindNotFound:
		note.Message = fmt.Sprintf("node %s does not have the vm: state reset from %s to STOPPED", v.NodeID, v.State)
		v, err = s.rec.SetState(wctx, v.ID, vm.StateStopped, note)
	case err != nil:
		return nil, hostError(v, v.NodeID, agentv1.Op_OP_GET, err, forceHint)
	case res.VM == nil:
		return nil, &Error{Kind: KindBackend, VM: v, Message: fmt.Sprintf("vm %q: node %s reported no vm", v.Name, v.NodeID)}
	default:
		note.Message = fmt.Sprintf("node %s reports %s: state reset from %s", nodeName(v), vm.StateOf(res.VM.State), v.State)
		note.ObservedAt = res.ObservedAt
		v, err = s.rec.Apply(wctx, v.NodeID, res.VM, note)
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("vm state reset", "vm", v.Name, "id", v.ID, "state", v.State, "forced", false)
	return &ActionResult{VM: v, Message: fmt.Sprintf("VM state reset to %s", v.State)}, nil
}
