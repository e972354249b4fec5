package controlplane

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/restart"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
)

// fastRestarts makes restarts quick for tests.
func fastRestarts(o *ReconcilerOptions) {
	o.Restart = restart.Options{BaseDelay: 20 * time.Millisecond, MaxDelay: time.Second, MaxFailures: 5, Window: time.Minute}
}

// downOutOfBand makes a running VM stop behind Quantix's back, its guest
// crashing or shutting itself down, and returns the reason its host gives.
func (e *env) downOutOfBand(t *testing.T, id string, crash bool) string {
	t.Helper()
	down := e.b.GuestShutdown
	if crash {
		down = e.b.Crash
	}
	h, err := down(id)
	if err != nil {
		t.Fatalf("stopping %s on the host (crash %v): %v", id, crash, err)
	}
	return h.StateReason
}

// hostState is what the host says of a VM.
func (e *env) hostState(t *testing.T, id string) backend.PowerState {
	t.Helper()
	h, err := e.b.GetVM(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return h.State
}

// restarted reports whether the last event of VM id is a restart that left
// it running.
func (e *env) restarted(t *testing.T, id string) bool {
	t.Helper()
	evs := e.events(t, id)
	last := evs[len(evs)-1]
	return last.Action == "restart" && last.Cause == vm.CauseReconciler && last.NewState == vm.StateRunning
}

// restartEvents are the restart attempts of a VM (STARTING by the
// reconciler), oldest first.
func (e *env) restartEvents(t *testing.T, id string) []*vm.Event {
	t.Helper()
	var out []*vm.Event
	for _, ev := range e.events(t, id) {
		if ev.Action == "restart" && ev.NewState == vm.StateStarting {
			out = append(out, ev)
		}
	}
	return out
}

// TestRestartPolicy: what happens to a running VM whose guest crashes or
// shuts itself down behind Quantix's back, per restart policy, as its
// host's agent reports it.
func TestRestartPolicy(t *testing.T) {
	e := newEnvWith(t, "sqlite", true, fastRestarts)
	ctx := context.Background()
	cases := []struct {
		name    string
		policy  vm.RestartPolicy
		crash   bool
		desired vm.DesiredState // set before the stop; "" leaves running
		// restart: the reconciler starts it again; otherwise it stays down
		// and desired_state becomes wantDesired.
		restart     bool
		wantState   vm.State
		wantDesired vm.DesiredState
		msg         string
	}{
		{"never, guest stop", vm.RestartNever, false, "", false, vm.StateStopped, vm.DesiredStopped, "desired_state set to stopped (restart_policy never)"},
		{"never, crash", vm.RestartNever, true, "", false, vm.StateCrashed, vm.DesiredRunning, "restart_policy never: it stays crashed"},
		{"on-crash, crash", vm.RestartOnCrash, true, "", true, vm.StateRunning, vm.DesiredRunning, "restart_policy on-crash: restarting it"},
		{"on-crash, guest stop", vm.RestartOnCrash, false, "", false, vm.StateStopped, vm.DesiredStopped, "desired_state set to stopped (restart_policy on-crash)"},
		{"always, guest stop", vm.RestartAlways, false, "", true, vm.StateRunning, vm.DesiredRunning, "restart_policy always: restarting it"},
		{"always, crash", vm.RestartAlways, true, "", true, vm.StateRunning, vm.DesiredRunning, "restart_policy always: restarting it"},
		{"always, but desired stopped", vm.RestartAlways, false, vm.DesiredStopped, false, vm.StateStopped, vm.DesiredStopped, "node "},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := e.makeVM(t, "rp-"+string(rune('a'+i)), true, c.policy)
			if c.desired != "" {
				d := string(c.desired)
				if _, err := e.svc.Patch(ctx, v.ID, PatchRequest{DesiredState: &d}); err != nil {
					t.Fatal(err)
				}
			}
			reason := e.downOutOfBand(t, v.ID, c.crash)
			if c.restart {
				wait.Until(t, 3*time.Second, "the restart", func() bool { return e.restarted(t, v.ID) })
				if hs := e.hostState(t, v.ID); hs != backend.StateRunning {
					t.Errorf("the host says %s after the restart", hs)
				}
			} else {
				e.settle(t)
				// Several backoff periods: nothing may restart it.
				down := e.hostState(t, v.ID)
				wait.Stays(t, 150*time.Millisecond, "the vm left down", func() bool {
					return e.hostState(t, v.ID) == down && len(e.restartEvents(t, v.ID)) == 0
				})
			}
			got := e.get(t, v.ID)
			if got.State != c.wantState || got.DesiredState != c.wantDesired {
				t.Errorf("vm is %s, desired %s; want %s, %s", got.State, got.DesiredState, c.wantState, c.wantDesired)
			}
			// The report of the vm going down; the one of its restart may
			// follow it.
			var observed *vm.Event
			for _, ev := range e.events(t, v.ID) {
				if ev.Action == "observe" && ev.Cause == vm.CauseHost && (ev.NewState == vm.StateStopped || ev.NewState == vm.StateCrashed) {
					observed = ev
				}
			}
			if observed == nil || !strings.Contains(observed.Message, c.msg) || !strings.Contains(observed.Message, "("+reason+")") {
				t.Errorf("the host's report was recorded as %+v, want it to mention %q", observed, c.msg)
			}
		})
	}
}

// TestRestartBackoff: failing restarts wait longer each time, and after
// MaxFailures the reconciler gives up with an event; a VM that crashes
// again soon after a restart counts as a failure too.
func TestRestartBackoff(t *testing.T) {
	e := newEnvWith(t, "sqlite", true, fastRestarts)
	ctx := context.Background()
	// A record whose VM the host does not have: every start fails.
	ghost := with(rec(u1, "ghost", vm.StateRunning, e.node, true), func(v *vm.VM) { v.RestartPolicy = vm.RestartOnCrash })
	e.seedAll(t, ghost)
	if err := e.rec.Change(ctx, e.node, nodeapi.Change{VM: hostVM(u1, "ghost", backend.StateCrashed), Reason: "crashed"}); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 5*time.Second, "giving up", func() bool {
		evs := e.events(t, u1)
		return evs[len(evs)-1].Action == "restart_give_up"
	})
	attempts := e.restartEvents(t, u1)
	if len(attempts) != 5 {
		t.Fatalf("%d attempts, want 5", len(attempts))
	}
	for i := 1; i < len(attempts); i++ {
		gap := attempts[i].Time.Sub(attempts[i-1].Time)
		if want := 20 * time.Millisecond << i; gap < want {
			t.Errorf("attempt %d came %s after the one before, want at least %s", i+1, gap, want)
		}
	}
	v := e.get(t, u1)
	if v.State != vm.StateCrashed || !strings.Contains(v.Message, "gave up restarting after 5 failures") {
		t.Errorf("after giving up: %s %q", v.State, v.Message)
	}
	wait.Stays(t, 200*time.Millisecond, "no attempt after giving up", func() bool { return len(e.restartEvents(t, u1)) == 5 })

	// A crash loop: each restart works, the VM crashes again at once.
	loop := e.makeVM(t, "crash-loop", true, vm.RestartOnCrash)
	var restarts []time.Time
	for i := range 2 {
		e.downOutOfBand(t, loop.ID, true)
		wait.Until(t, 3*time.Second, "a restart", func() bool { return len(e.restartEvents(t, loop.ID)) == i+1 && e.restarted(t, loop.ID) })
		evs := e.restartEvents(t, loop.ID)
		restarts = append(restarts, evs[len(evs)-1].Time)
	}
	crashes := []time.Time{}
	for _, ev := range e.events(t, loop.ID) {
		if ev.Action == "observe" && ev.NewState == vm.StateCrashed {
			crashes = append(crashes, ev.Time)
		}
	}
	if len(crashes) != 2 {
		t.Fatalf("%d crashes recorded, want 2", len(crashes))
	}
	if d := restarts[1].Sub(crashes[1]); d < 40*time.Millisecond {
		t.Errorf("the restart after the second crash came after %s, want the doubled delay (40ms) at least", d)
	}
	// The user stopping it through the API ends the story.
	if _, err := e.svc.Stop(ctx, loop.ID, StopOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if e.rec.restarts.Tracked(loop.ID) {
		t.Error("the restart history survived a stop through the API")
	}
}
