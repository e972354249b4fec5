package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/restart"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

// newRestarts returns the scheduler of restarts by restart policy (the
// verdicts of core/reconcile that ask for one): core/restart keeps the
// timers, backoff and giving up; attempts start the VM through the
// Executor.
func newRestarts(r *Reconciler, opts restart.Options) *restart.Scheduler {
	return restart.New(opts, r.now, func(id string, attempt int) (restart.Outcome, error) {
		return r.restartVM(r.bg, id, attempt)
	}, r.gaveUpRestarting)
}

// wantsRestart reports whether v, as stored now, is still to be restarted.
func wantsRestart(v *vm.VM) bool {
	if !v.IsManaged || v.DesiredState == vm.DesiredStopped {
		return false
	}
	switch v.RestartPolicy {
	case vm.RestartOnCrash:
		return v.State == vm.StateCrashed
	case vm.RestartAlways:
		return v.State == vm.StateCrashed || v.State == vm.StateStopped
	}
	return false
}

// restartVM starts VM id through the Executor: STARTING, then the state the
// host reports, or back to the state it was in with the error kept in its
// message.
func (r *Reconciler) restartVM(ctx context.Context, id string, attempt int) (restart.Outcome, error) {
	v, err := r.store.VMs().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !wantsRestart(v)) {
		return restart.Moot, nil
	}
	if err != nil {
		return restart.Failed, err
	}
	if r.isBusy(id) || r.exec == nil {
		return restart.Moot, nil
	}
	release := r.hold(id)
	defer release()
	note := Note{Cause: vm.CauseReconciler, Action: "restart",
		Message: fmt.Sprintf("restarting by restart_policy %s (attempt %d)", v.RestartPolicy, attempt)}
	var prev vm.State
	v, err = r.update(ctx, id, note, func(cur *vm.VM) error {
		if !wantsRestart(cur) {
			return errMoot
		}
		if err := vm.Check(vm.ActionStart, cur.State, false); err != nil {
			return err
		}
		prev, cur.State, cur.Message = cur.State, vm.StateStarting, note.Message
		return nil
	})
	if errors.Is(err, errMoot) {
		return restart.Moot, nil
	}
	if err != nil {
		return restart.Failed, err
	}
	cmd := nodeapi.Command{Op: agentv1.Op_OP_START, VMID: id}
	res, err := func() (*nodeapi.Result, error) {
		if !slices.Contains(r.exec.Connected(), v.NodeID) {
			return nil, fmt.Errorf("node %s is not connected: %w", nodeName(v), nodeapi.ErrNodeUnavailable)
		}
		ectx, cancel := context.WithTimeout(ctx, cmd.Timeout())
		defer cancel()
		return r.exec.Execute(ectx, v.NodeID, cmd)
	}()
	if err == nil && (res == nil || res.VM == nil) {
		err = fmt.Errorf("node %s reported no vm after start", v.NodeID)
	}
	wctx, cancel := detached(ctx)
	defer cancel()
	if err != nil {
		msg := fmt.Sprintf("restart attempt %d failed: %v", attempt, err)
		if _, rerr := r.Revert(wctx, id, vm.StateStarting, prev, Note{Cause: vm.CauseReconciler, Action: "restart", Message: msg}); rerr != nil {
			r.log.Error("reverting a failed restart", "id", id, "error", rerr)
		}
		r.log.Warn("restart failed", "vm", v.Name, "id", id, "attempt", attempt, "error", err)
		return restart.Failed, err
	}
	if _, err := r.Apply(wctx, v.NodeID, res.VM, Note{Cause: vm.CauseReconciler, Action: "restart",
		Message: fmt.Sprintf("restarted by restart_policy %s", v.RestartPolicy)}); err != nil {
		return restart.Failed, err
	}
	r.log.Info("vm restarted by its restart policy", "vm", v.Name, "id", id, "policy", v.RestartPolicy, "attempt", attempt)
	return restart.Done, nil
}

// errMoot: the VM no longer wants a restart.
var errMoot = errors.New("no restart wanted")

// gaveUpRestarting records, in the VM's message and history, that the
// reconciler stopped restarting it.
func (r *Reconciler) gaveUpRestarting(id string, failures int, window time.Duration, lastErr error) {
	ctx, cancel := detached(r.bg)
	defer cancel()
	msg := fmt.Sprintf("gave up restarting after %d failures within %s", failures, window)
	if lastErr != nil {
		msg += fmt.Sprintf(" (last: %v)", lastErr)
	}
	msg += "; start it through the api"
	_, err := r.update(ctx, id, Note{Cause: vm.CauseReconciler, Action: "restart_give_up", Message: msg}, func(v *vm.VM) error {
		v.Message = msg
		return nil
	})
	if err != nil {
		r.log.Error("recording that restarts were given up", "id", id, "error", err)
	}
	r.log.Warn("gave up restarting a vm", "id", id, "failures", failures)
}
