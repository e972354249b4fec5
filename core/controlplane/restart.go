package controlplane

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/reconcile"
	"github.com/quantixvm/quantix/core/restart"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

// newRestarts returns a scheduler of restarts by restart policy (the
// verdicts of core/reconcile that ask for one): core/restart keeps the
// timers, backoff and giving up; attempts start the VM through the
// Executor. The writes that begin attempts and record giving up run under
// ctx: r.bg, or a term of leadership, whose fence they carry. fenced, when
// set, is called once an attempt was refused because another server leads.
func (r *Reconciler) newRestarts(ctx context.Context, fenced func()) *restart.Scheduler {
	return restart.New(r.opts.Restart, r.now, func(id string, attempt int) (restart.Outcome, error) {
		out, err := r.restartVM(ctx, id, attempt)
		if errors.Is(err, store.ErrFenced) && fenced != nil {
			fenced()
		}
		return out, err
	}, func(id string, failures int, window time.Duration, lastErr error) {
		r.gaveUpRestarting(ctx, id, failures, window, lastErr)
	})
}

// scheduler returns the scheduler of restarts, nil while this server does
// not lead (Elected).
func (r *Reconciler) scheduler() *restart.Scheduler {
	r.restartMu.Lock()
	defer r.restartMu.Unlock()
	return r.restarts
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
// message. The write to STARTING runs under ctx, so that on a leader it is
// fenced: a server that no longer leads fails it (store.ErrFenced) and
// starts nothing. Once it is written the attempt is under way and runs to
// its end whatever happens to the leadership (bounded by Close), so that
// the record tells what the host did.
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
	if errors.Is(err, store.ErrFenced) {
		// Another server leads now: it restarts the VM if it is still to be.
		r.log.Info("restart not begun: this server no longer leads", "id", id)
		return restart.Moot, err
	}
	if err != nil {
		return restart.Failed, err
	}
	cmd := nodeapi.Command{Op: agentv1.Op_OP_START, VMID: id}
	res, err := func() (*nodeapi.Result, error) {
		ectx, cancel := context.WithTimeout(r.bg, cmd.Timeout())
		defer cancel()
		return r.exec.Execute(ectx, v.NodeID, cmd)
	}()
	if err == nil && (res == nil || res.VM == nil) {
		err = fmt.Errorf("node %s reported no vm after start", v.NodeID)
	}
	wctx, cancel := detached(r.bg)
	defer cancel()
	if err != nil {
		msg := fmt.Sprintf(attemptFailedPrefix+"%d failed: %v", attempt, err)
		if _, rerr := r.Revert(wctx, id, vm.StateStarting, prev, Note{Cause: vm.CauseReconciler, Action: "restart", Message: msg}); rerr != nil {
			r.log.Error("reverting a failed restart", "id", id, "error", rerr)
		}
		r.log.Warn("restart failed", "vm", v.Name, "id", id, "attempt", attempt, "error", err)
		return restart.Failed, err
	}
	if _, err := r.Apply(wctx, v.NodeID, res.VM, Note{Cause: vm.CauseReconciler, Action: "restart",
		Message: fmt.Sprintf("restarted by restart_policy %s", v.RestartPolicy), ObservedAt: res.ObservedAt}); err != nil {
		return restart.Failed, err
	}
	r.log.Info("vm restarted by its restart policy", "vm", v.Name, "id", id, "policy", v.RestartPolicy, "attempt", attempt)
	return restart.Done, nil
}

// errMoot: the VM no longer wants a restart.
var errMoot = errors.New("no restart wanted")

// attemptFailedPrefix begins the message of a VM whose restart attempt
// failed (more follow, after the backoff).
const attemptFailedPrefix = "restart attempt "

// owedRestart reports whether v, down, is owed a restart by its policy
// that nobody made: the report that saw it go down asked for one (its
// message ends so), or the last attempt failed. A VM that was not running
// when it went down, that the user left down or whose restarts were given
// up is not: desired_state alone never starts a VM.
func owedRestart(v *vm.VM) bool {
	return wantsRestart(v) && (strings.HasSuffix(v.Message, reconcile.RestartingNote) || strings.HasPrefix(v.Message, attemptFailedPrefix))
}

// gaveUpPrefix begins the message of a VM the reconciler stopped
// restarting; the leader's scan for VMs to restart leaves those alone.
const gaveUpPrefix = "gave up restarting"

// gaveUpRestarting records, in the VM's message and history, that the
// reconciler stopped restarting it; under ctx, the scheduler's (fenced on
// a leader).
func (r *Reconciler) gaveUpRestarting(ctx context.Context, id string, failures int, window time.Duration, lastErr error) {
	ctx, cancel := detached(ctx)
	defer cancel()
	msg := fmt.Sprintf(gaveUpPrefix+" after %d failures within %s", failures, window)
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
