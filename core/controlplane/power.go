package controlplane

import (
	"context"
	"fmt"
	"time"

	"github.com/quantixvm/quantix/core/agent/wire"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/vm"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
)

// ActionResult is the outcome of a power action, reset_state or delete:
// the VM afterwards and a sentence saying what happened.
type ActionResult struct {
	VM      *vm.VM
	Message string
}

// StopOptions tune Stop.
type StopOptions struct {
	// Force stops the VM hard at once.
	Force bool
	// Timeout bounds a graceful stop, after which the VM is stopped hard;
	// zero means backend.DefaultStopTimeout.
	Timeout time.Duration
}

// MaxStopTimeout is the longest graceful-stop timeout a request may ask
// for.
const MaxStopTimeout = time.Hour

// Start boots a stopped or crashed VM, or resumes a paused one.
func (s *Service) Start(ctx context.Context, ref string) (*ActionResult, error) {
	return s.power(ctx, ref, powerAction{action: vm.ActionStart, cmd: nodeapi.Command{Op: agentv1.Op_OP_START}, desired: vm.DesiredRunning, done: "VM started"})
}

// Stop shuts a VM down, gracefully within opts.Timeout or hard with
// opts.Force.
func (s *Service) Stop(ctx context.Context, ref string, opts StopOptions) (*ActionResult, error) {
	if opts.Timeout < 0 || opts.Timeout > MaxStopTimeout {
		return nil, errorf(KindBadRequest, "timeout: %s is outside 0s..%s", opts.Timeout, MaxStopTimeout)
	}
	cmd := nodeapi.Command{Op: agentv1.Op_OP_STOP, Stop: backend.StopOptions{Force: opts.Force, Timeout: opts.Timeout}}
	done := "VM stopped"
	if opts.Force {
		done = "VM stopped (forced)"
	}
	return s.power(ctx, ref, powerAction{action: vm.ActionStop, cmd: cmd, desired: vm.DesiredStopped, done: done,
		outcome: func(host *backend.VM) string { return stopOutcome(opts, host) }})
}

// stopOutcome says how a graceful stop went, by the state reason the host
// reports (backend.ReasonShutdown, backend.ReasonDestroyed): the guest shut
// down, or it did not within the timeout and was stopped hard. A forced
// stop, a VM that was not running (stopped hard, as it could not act on the
// request), or a reason the backend does not give say nothing more.
func stopOutcome(opts StopOptions, host *backend.VM) string {
	if opts.Force || host == nil || host.State != backend.StateStopped {
		return ""
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = backend.DefaultStopTimeout
	}
	switch host.StateReason {
	case backend.ReasonShutdown:
		return "VM stopped: the guest shut down"
	case backend.ReasonDestroyed:
		return fmt.Sprintf("VM stopped hard: the guest did not shut down within %s", timeout)
	}
	return ""
}

// Reboot restarts a running VM.
func (s *Service) Reboot(ctx context.Context, ref string) (*ActionResult, error) {
	return s.power(ctx, ref, powerAction{action: vm.ActionReboot, cmd: nodeapi.Command{Op: agentv1.Op_OP_REBOOT}, desired: vm.DesiredRunning, done: "VM rebooted"})
}

// Pause freezes a running VM.
func (s *Service) Pause(ctx context.Context, ref string) (*ActionResult, error) {
	return s.power(ctx, ref, powerAction{action: vm.ActionPause, cmd: nodeapi.Command{Op: agentv1.Op_OP_PAUSE}, done: "VM paused"})
}

// Resume continues a paused or suspended VM.
func (s *Service) Resume(ctx context.Context, ref string) (*ActionResult, error) {
	return s.power(ctx, ref, powerAction{action: vm.ActionResume, cmd: nodeapi.Command{Op: agentv1.Op_OP_RESUME}, desired: vm.DesiredRunning, done: "VM resumed"})
}

// powerAction describes one power action.
type powerAction struct {
	action vm.Action
	cmd    nodeapi.Command
	// desired is the desired_state the VM has once the action succeeded
	// ("" leaves it).
	desired vm.DesiredState
	done    string
	// outcome, when set, says how the action went from the VM the host
	// reports afterwards, instead of done ("" keeps done); the message is
	// also the VM's message and that of the action's event.
	outcome func(host *backend.VM) string
}

// power runs a power action: check the transition, move the VM to the
// transitional state, dispatch the command to its node, apply the state the
// host reports. When the command fails the VM goes back to the state it was
// in, with the error in its message.
func (s *Service) power(ctx context.Context, ref string, a powerAction) (*ActionResult, error) {
	v, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := requireManaged(v, string(a.action)); err != nil {
		return nil, err
	}
	if err := vm.Check(a.action, v.State, false); err != nil {
		return nil, transitionError(v, err)
	}
	if !s.connectedSoon(ctx, v.NodeID) {
		return nil, &Error{Kind: KindUnavailable, VM: v, Err: nodeapi.ErrNodeUnavailable,
			Message: fmt.Sprintf("vm %q: node %s is not connected, cannot %s it now", v.Name, nodeName(v), a.action)}
	}
	if a.action == vm.ActionStart && v.State != vm.StatePaused {
		if err := s.checkRoom(ctx, v); err != nil {
			return nil, err
		}
	}
	defer s.acting(v.ID)()
	v, prev, err := s.rec.Begin(ctx, v.ID, a.action, false)
	if err != nil {
		return nil, err
	}
	cmd := a.cmd
	cmd.VMID = v.ID
	if a.action == vm.ActionStart && prev == vm.StatePaused {
		cmd.Op = agentv1.Op_OP_RESUME
	}
	res, err := s.execute(context.WithoutCancel(ctx), v.NodeID, cmd)
	if err == nil && res.VM == nil {
		err = fmt.Errorf("node %s reported no vm after %s", v.NodeID, wire.OpName(cmd.Op))
	}
	wctx, cancel := detached(ctx)
	defer cancel()
	if err != nil {
		return nil, s.fail(wctx, v, a.action, prev, hostError(v, v.NodeID, cmd.Op, err, ""))
	}
	done, note := a.done, ""
	if a.outcome != nil {
		if o := a.outcome(res.VM); o != "" {
			done, note = o, o
		}
	}
	v, err = s.rec.Apply(wctx, v.NodeID, res.VM, Note{Cause: vm.CauseAPI, Action: string(a.action), Message: note, ObservedAt: res.ObservedAt})
	if err != nil {
		return nil, err
	}
	if a.desired != "" && v.DesiredState != a.desired {
		if v, err = s.setDesired(wctx, v.ID, a.desired); err != nil {
			return nil, err
		}
	}
	s.log.Info("vm "+string(a.action), "vm", v.Name, "id", v.ID, "state", v.State)
	return &ActionResult{VM: v, Message: done}, nil
}

// fail reverts a VM whose action failed and returns herr carrying the VM
// as it is afterwards.
func (s *Service) fail(ctx context.Context, v *vm.VM, action vm.Action, prev vm.State, herr *Error) error {
	reverted, err := s.rec.Revert(ctx, v.ID, vm.Through(action), prev, Note{Cause: vm.CauseAPI, Action: string(action), Message: herr.Message})
	if err != nil {
		s.log.Error("reverting the state of a failed action", "vm", v.Name, "action", action, "error", err)
		return herr
	}
	herr.VM = reverted
	s.log.Warn("vm action failed", "vm", v.Name, "id", v.ID, "action", action, "error", herr.Message)
	return herr
}

// nodeName names a VM's node in messages.
func nodeName(v *vm.VM) string {
	if v.NodeID == "" {
		return "(none)"
	}
	return v.NodeID
}
