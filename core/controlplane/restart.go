package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

// RestartOptions tune restarts by restart policy; zero values take the
// defaults named on each field.
type RestartOptions struct {
	// BaseDelay is the wait before the first attempt; every failure within
	// Window doubles it (1s).
	BaseDelay time.Duration
	// MaxDelay caps the wait (1m).
	MaxDelay time.Duration
	// MaxFailures failures within Window make the reconciler give up, with
	// an event (5 in 10m). A failure is an attempt that failed, or the VM
	// stopping again within Window of a restart.
	MaxFailures int
	Window      time.Duration
}

// Defaults of RestartOptions.
const (
	DefaultRestartBaseDelay   = time.Second
	DefaultRestartMaxDelay    = time.Minute
	DefaultRestartMaxFailures = 5
	DefaultRestartWindow      = 10 * time.Minute
)

func (o *RestartOptions) setDefaults() {
	if o.BaseDelay <= 0 {
		o.BaseDelay = DefaultRestartBaseDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultRestartMaxDelay
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultRestartMaxFailures
	}
	if o.Window <= 0 {
		o.Window = DefaultRestartWindow
	}
}

// delay is the wait before the attempt that follows failures failures.
func (o RestartOptions) delay(failures int) time.Duration {
	d := o.BaseDelay
	for range failures {
		if d >= o.MaxDelay/2 {
			return o.MaxDelay
		}
		d *= 2
	}
	return min(d, o.MaxDelay)
}

// restarter starts again, through the Executor, the VMs whose restart
// policy says to (the verdicts of core/reconcile that ask for a restart),
// with exponential backoff, and gives up after MaxFailures failures within
// Window.
type restarter struct {
	r    *Reconciler
	opts RestartOptions

	mu      sync.Mutex
	vms     map[string]*restartState
	stopped bool
}

// restartState is one VM's restart history.
type restartState struct {
	failures []time.Time
	// restarted is when the last restart succeeded.
	restarted time.Time
	// timer is the pending attempt.
	timer   *time.Timer
	lastErr error
}

func newRestarter(r *Reconciler, opts RestartOptions) *restarter {
	return &restarter{r: r, opts: opts, vms: make(map[string]*restartState)}
}

// trigger schedules a restart of VM id, which stopped or crashed without
// being asked to and whose policy wants it running.
func (rs *restarter) trigger(id string) {
	now := rs.r.now()
	rs.mu.Lock()
	if rs.stopped {
		rs.mu.Unlock()
		return
	}
	st := rs.vms[id]
	if st == nil {
		st = &restartState{}
		rs.vms[id] = st
	}
	if st.timer != nil {
		rs.mu.Unlock()
		return
	}
	if !st.restarted.IsZero() && now.Sub(st.restarted) < rs.opts.Window {
		// Down again soon after a restart: that restart failed too.
		st.failures = append(st.failures, now)
		st.lastErr = errors.New("it stopped again soon after being restarted")
	}
	giveUp := rs.schedule(id, st, now)
	rs.mu.Unlock()
	if giveUp != nil {
		rs.giveUp(id, giveUp)
	}
}

// schedule arms the next attempt of VM id, or, past MaxFailures failures in
// Window, forgets the VM and returns what the giving up says; rs.mu is held.
func (rs *restarter) schedule(id string, st *restartState, now time.Time) *restartState {
	st.failures = slices.DeleteFunc(st.failures, func(t time.Time) bool { return now.Sub(t) >= rs.opts.Window })
	if len(st.failures) >= rs.opts.MaxFailures {
		delete(rs.vms, id)
		return st
	}
	st.timer = time.AfterFunc(rs.opts.delay(len(st.failures)), func() { rs.attempt(id) })
	return nil
}

// forget drops VM id's history and its pending attempt: a user acted on
// the VM.
func (rs *restarter) forget(id string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if st := rs.vms[id]; st != nil {
		if st.timer != nil {
			st.timer.Stop()
		}
		delete(rs.vms, id)
	}
}

// stop cancels every pending attempt; later triggers do nothing.
func (rs *restarter) stop() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.stopped = true
	for _, st := range rs.vms {
		if st.timer != nil {
			st.timer.Stop()
		}
	}
}

// restartOutcome is how an attempt went.
type restartOutcome int

const (
	restartDone restartOutcome = iota
	restartFailed
	// restartMoot: the VM no longer wants a restart (the user started or
	// stopped it, changed its policy or desired_state, it is gone).
	restartMoot
)

// attempt runs a scheduled restart of VM id and schedules the next one if
// it failed.
func (rs *restarter) attempt(id string) {
	rs.mu.Lock()
	st := rs.vms[id]
	if rs.stopped || st == nil {
		rs.mu.Unlock()
		return
	}
	st.timer = nil
	n := len(st.failures) + 1
	rs.r.wg.Add(1)
	rs.mu.Unlock()
	defer rs.r.wg.Done()

	outcome, err := rs.restart(rs.r.bg, id, n)
	now := rs.r.now()
	rs.mu.Lock()
	if rs.vms[id] != st || rs.stopped {
		// Forgotten meanwhile.
		rs.mu.Unlock()
		return
	}
	var giveUp *restartState
	switch outcome {
	case restartDone:
		st.restarted = now
	case restartMoot:
		delete(rs.vms, id)
	case restartFailed:
		st.failures = append(st.failures, now)
		st.lastErr = err
		giveUp = rs.schedule(id, st, now)
	}
	rs.mu.Unlock()
	if giveUp != nil {
		rs.giveUp(id, giveUp)
	}
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

// restart starts VM id through the Executor: STARTING, then the state the
// host reports, or back to the state it was in with the error kept in its
// message.
func (rs *restarter) restart(ctx context.Context, id string, attempt int) (restartOutcome, error) {
	r := rs.r
	v, err := r.store.VMs().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !wantsRestart(v)) {
		return restartMoot, nil
	}
	if err != nil {
		return restartFailed, err
	}
	if r.isBusy(id) || r.exec == nil {
		return restartMoot, nil
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
		return restartMoot, nil
	}
	if err != nil {
		return restartFailed, err
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
		return restartFailed, err
	}
	if _, err := r.Apply(wctx, v.NodeID, res.VM, Note{Cause: vm.CauseReconciler, Action: "restart",
		Message: fmt.Sprintf("restarted by restart_policy %s", v.RestartPolicy)}); err != nil {
		return restartFailed, err
	}
	r.log.Info("vm restarted by its restart policy", "vm", v.Name, "id", id, "policy", v.RestartPolicy, "attempt", attempt)
	return restartDone, nil
}

// errMoot: the VM no longer wants a restart.
var errMoot = errors.New("no restart wanted")

// giveUp records, in the VM's message and history, that the reconciler
// stopped restarting it.
func (rs *restarter) giveUp(id string, st *restartState) {
	r := rs.r
	ctx, cancel := detached(r.bg)
	defer cancel()
	msg := fmt.Sprintf("gave up restarting after %d failures within %s", len(st.failures), rs.opts.Window)
	if st.lastErr != nil {
		msg += fmt.Sprintf(" (last: %v)", st.lastErr)
	}
	msg += "; start it through the api"
	_, err := r.update(ctx, id, Note{Cause: vm.CauseReconciler, Action: "restart_give_up", Message: msg}, func(v *vm.VM) error {
		v.Message = msg
		return nil
	})
	if err != nil {
		r.log.Error("recording that restarts were given up", "id", id, "error", err)
	}
	r.log.Warn("gave up restarting a vm", "id", id, "failures", len(st.failures))
}
