package controlplane

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/restart"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
)

// elected makes a reconciler's duties the leader's, with quick scans.
func elected(o *ReconcilerOptions) {
	o.Elected = true
	o.HeartbeatFlush = 20 * time.Millisecond
	o.RestartScan = 50 * time.Millisecond
	o.LivenessScan = 10 * time.Millisecond
}

// takeLease takes the leader lease for server id, waiting for the lease of
// the server holding it to expire, and returns a context fenced by its
// epoch.
func takeLease(t *testing.T, s store.Store, id string, ttl time.Duration) (context.Context, int64) {
	t.Helper()
	var l store.Lease
	wait.Until(t, 10*time.Second, "server "+id+" to take the lease", func() bool {
		got, ok, err := s.Cluster().Acquire(context.Background(), id, 0, ttl)
		if err != nil {
			t.Fatalf("taking the lease for %s: %v", id, err)
		}
		l = got
		return ok
	})
	return store.WithFence(context.Background(), l.Epoch), l.Epoch
}

// secondReconciler is another server's reconciler on e's database whose
// commands reach e's node (as forwarding between servers does).
func (e *env) secondReconciler(t *testing.T, tune func(*ReconcilerOptions)) *Reconciler {
	t.Helper()
	o := ReconcilerOptions{Store: e.store, Executor: e.disp, Logger: testlog.New(t, hclog.Warn).Named("second")}
	if tune != nil {
		tune(&o)
	}
	r, err := NewReconciler(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// runDuty runs fn with ctx until the test ends or the returned func is
// called, which waits for fn to return.
func runDuty(t *testing.T, ctx context.Context, fn func(context.Context)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

// TestFencedDuties: once a successor has taken the lease, the writes of
// the deposed leader's duties fail with store.ErrFenced and change
// nothing: a silent node stays as it is, a crashed VM is not restarted;
// the successor's succeed.
func TestFencedDuties(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnvWith(t, driver, true, func(o *ReconcilerOptions) {
			elected(o)
			fastRestarts(o)
			o.HeartbeatInterval = 20 * time.Millisecond
		})
		silent := e.register(t, "silent", 0)
		e.seedAll(t, rec(u1, "on-silent", vm.StateRunning, silent, true))
		// STOPPING for an hour on the node, whose host does not have it.
		e.seedAll(t, with(rec(u3, "stuck", vm.StateStopping, e.node, true), func(v *vm.VM) {
			v.LastKnownState, v.StateChangedAt = vm.StateRunning, time.Now().Add(-time.Hour)
		}))
		v := e.makeVM(t, "fenced-restart", true, vm.RestartAlways)
		e.downOutOfBand(t, v.ID, true)
		wait.Until(t, 3*time.Second, "the crash recorded", func() bool { return e.get(t, v.ID).State == vm.StateCrashed })

		old, oldEpoch := takeLease(t, e.store, "server-a", 50*time.Millisecond)
		cur, curEpoch := takeLease(t, e.store, "server-b", time.Minute)
		if curEpoch != oldEpoch+1 {
			t.Fatalf("the successor's epoch is %d, want %d", curEpoch, oldEpoch+1)
		}
		writes := e.writes.Load()

		// The deposed leader: its liveness check finds the node silent
		// (no heartbeat for 3×20ms) but cannot write.
		wait.Until(t, time.Second, "the node past its deadline", func() bool {
			last, _, _ := e.rec.nodes.lastBeat(silent)
			return time.Since(last) > 100*time.Millisecond
		})
		e.rec.nodes.judge(old)
		e.rec.scanStuck(old)
		if got := e.get(t, u3); got.State != vm.StateStopping {
			t.Errorf("the deposed leader's stuck-state scan made the vm %s", got.State)
		}
		if n := e.nodeState(t, silent); n.State != node.StateReady {
			t.Errorf("the deposed leader made the node %s", n.State)
		}
		if got := e.get(t, u1); got.State != vm.StateRunning {
			t.Errorf("the deposed leader made the vm %s", got.State)
		}
		outcome, err := e.rec.restartVM(old, v.ID, 1)
		if outcome != restart.Moot || !errors.Is(err, store.ErrFenced) {
			t.Errorf("the deposed leader's restart = %v, %v; want moot, fenced", outcome, err)
		}
		if got := e.get(t, v.ID); got.State != vm.StateCrashed || len(e.restartEvents(t, v.ID)) != 0 {
			t.Errorf("after the deposed leader's restart: %s, %d restart events", got.State, len(e.restartEvents(t, v.ID)))
		}
		if hs := e.hostState(t, v.ID); hs != backend.StateCrashed {
			t.Errorf("the host has the vm %s after the deposed leader's restart", hs)
		}
		// Reads happened; no write reached the database.
		if w := e.writes.Load(); w != writes {
			t.Errorf("%d writes were attempted by the deposed leader and not refused before writing", w-writes)
		}
		_, err = e.rec.update(old, v.ID, Note{Cause: vm.CauseReconciler}, func(v *vm.VM) error { v.Message = "x"; return nil })
		if !errors.Is(err, store.ErrFenced) || KindOf(err) != KindUnavailable {
			t.Errorf("a fenced update = %v (kind %d), want ErrFenced as KindUnavailable", err, KindOf(err))
		}

		// The successor.
		e.rec.nodes.judge(cur)
		e.rec.scanStuck(cur)
		if got := e.get(t, u3); got.State != vm.StateStopped {
			t.Errorf("the leader's stuck-state scan left the vm %s, want STOPPED", got.State)
		}
		if n := e.nodeState(t, silent); n.State != node.StateUnreachable {
			t.Errorf("the leader left the silent node %s", n.State)
		}
		if got := e.get(t, u1); got.State != vm.StateUnknown {
			t.Errorf("the leader left the silent node's vm %s", got.State)
		}
		if outcome, err := e.rec.restartVM(cur, v.ID, 1); outcome != restart.Done || err != nil {
			t.Fatalf("the leader's restart = %v, %v", outcome, err)
		}
		if got := e.get(t, v.ID); got.State != vm.StateRunning || len(e.restartEvents(t, v.ID)) != 1 {
			t.Errorf("after the leader's restart: %s, %d restart events", got.State, len(e.restartEvents(t, v.ID)))
		}
	})
}

// TestRestartOnceAcrossLeaders: two servers' reconcilers on one PostgreSQL
// database. A VM crashes while the first leads; it is deposed before its
// restart attempt (it does not know yet), which is then refused; the
// successor finds the VM on taking over and restarts it: once.
func TestRestartOnceAcrossLeaders(t *testing.T) {
	e := newEnvWith(t, "postgres", true, func(o *ReconcilerOptions) {
		elected(o)
		o.Restart = restart.Options{BaseDelay: 700 * time.Millisecond, MaxDelay: time.Second, MaxFailures: 5, Window: time.Minute}
	})
	a := e.rec
	b := e.secondReconciler(t, func(o *ReconcilerOptions) { elected(o); fastRestarts(o) })
	// Down with desired_state running (set by hand) and policy always, but
	// no report asked for a restart: desired_state alone starts nothing.
	left := with(rec(u2, "left-down", vm.StateStopped, e.node, true), func(v *vm.VM) {
		v.DesiredState, v.RestartPolicy = vm.DesiredRunning, vm.RestartAlways
	})
	e.seedAll(t, left)

	ctxA, _ := takeLease(t, e.store, "server-a", 200*time.Millisecond)
	stopA := runDuty(t, ctxA, a.restartDuty)
	wait.Until(t, 2*time.Second, "server-a's restart duty", func() bool { return a.scheduler() != nil })
	sa := a.scheduler()

	v := e.makeVM(t, "crash-at-failover", true, vm.RestartAlways)
	e.downOutOfBand(t, v.ID, true)
	wait.Until(t, 3*time.Second, "server-a to plan the restart", func() bool { return sa.Tracked(v.ID) })

	ctxB, _ := takeLease(t, e.store, "server-b", time.Minute)
	// server-a's attempt comes due: refused, and forgotten.
	wait.Until(t, 5*time.Second, "server-a's attempt to be refused", func() bool { return !sa.Tracked(v.ID) })
	if n := len(e.restartEvents(t, v.ID)); n != 0 {
		t.Fatalf("the deposed leader began %d restarts", n)
	}
	if got := e.get(t, v.ID); got.State != vm.StateCrashed {
		t.Fatalf("after the deposed leader's attempt the vm is %s", got.State)
	}

	runDuty(t, ctxB, b.restartDuty)
	wait.Until(t, 5*time.Second, "the successor's restart", func() bool { return e.restarted(t, v.ID) })
	wait.Stays(t, 500*time.Millisecond, "one restart", func() bool { return len(e.restartEvents(t, v.ID)) == 1 })
	if hs := e.hostState(t, v.ID); hs != backend.StateRunning {
		t.Errorf("the host has the vm %s", hs)
	}
	stopA()

	// A crash reported to server-a (the node's agent is there) while
	// server-b leads: server-b learns of it by its scan and restarts it,
	// once.
	e.downOutOfBand(t, v.ID, false)
	wait.Until(t, 5*time.Second, "the second restart", func() bool {
		return len(e.restartEvents(t, v.ID)) == 2 && e.restarted(t, v.ID)
	})
	wait.Stays(t, 500*time.Millisecond, "two restarts in all", func() bool { return len(e.restartEvents(t, v.ID)) == 2 })
	if n := len(e.restartEvents(t, u2)); n != 0 {
		t.Errorf("a vm no report asked to restart was restarted %d times", n)
	}
}

// TestLivenessAcrossServers: the leader judges a node whose agent reports
// to another server by the heartbeats that server stores: it stays READY
// while they come, goes UNREACHABLE (its VMs UNKNOWN) when they stop, and
// comes back when they resume. A node stored READY without fresh
// heartbeats is left alone for one deadline after the takeover.
func TestLivenessAcrossServers(t *testing.T) {
	const interval = 100 * time.Millisecond
	tune := func(o *ReconcilerOptions) {
		elected(o)
		o.HeartbeatInterval = interval
	}
	e := newEnvWith(t, "postgres", false, tune)
	leader := e.rec
	holder := e.secondReconciler(t, tune)
	ctx := context.Background()
	runDuty(t, ctx, func(ctx context.Context) { _ = holder.Run(ctx) })

	far, err := holder.Register(ctx, nodeapi.Registration{NodeName: "far", Address: "10.0.0.2",
		Backend: node.Backend{Name: "sim", Version: "test", Healthy: true}})
	if err != nil {
		t.Fatal(err)
	}
	e.seedAll(t, rec(u1, "on-far", vm.StateRunning, far, true))
	hash, err := holder.NodeStateHash(ctx, far)
	if err != nil {
		t.Fatal(err)
	}
	beat := func() {
		if _, err := holder.Heartbeat(ctx, far, nodeapi.HeartbeatReport{StateHash: hash,
			Backend: node.Backend{Name: "sim", Version: "test", Healthy: true}}); err != nil {
			t.Error(err)
		}
	}
	beating := runDuty(t, ctx, func(ctx context.Context) { every(ctx, interval/3, func(context.Context) { beat() }) })

	// A node stored READY whose last heartbeat is long past.
	past := time.Now().Add(-time.Hour)
	if err := e.store.Nodes().Upsert(ctx, &node.Node{ID: "stale-node", Name: "stale", State: node.StateReady, LastHeartbeat: &past}); err != nil {
		t.Fatal(err)
	}

	lctx, _ := takeLease(t, e.store, "server-a", time.Minute)
	took := time.Now()
	runDuty(t, lctx, leader.livenessDuty)
	wait.Until(t, 3*time.Second, "the stale node UNREACHABLE", func() bool {
		return e.nodeState(t, "stale-node").State == node.StateUnreachable
	})
	if d := time.Since(took); d < 3*interval {
		t.Errorf("the stale node went UNREACHABLE %s after the takeover, before one deadline (%s)", d, 3*interval)
	}
	wait.Stays(t, 10*interval, "the node on the other server READY", func() bool {
		return e.nodeState(t, far).State == node.StateReady && e.get(t, u1).State == vm.StateRunning
	})

	beating()
	wait.Until(t, 3*time.Second, "the silent node UNREACHABLE", func() bool {
		return e.nodeState(t, far).State == node.StateUnreachable && e.get(t, u1).State == vm.StateUnknown
	})
	runDuty(t, ctx, func(ctx context.Context) { every(ctx, interval/3, func(context.Context) { beat() }) })
	wait.Until(t, 3*time.Second, "the node READY again", func() bool { return e.nodeState(t, far).State == node.StateReady })
	wait.Stays(t, 5*interval, "the node staying READY", func() bool { return e.nodeState(t, far).State == node.StateReady })
}

// TestWentDownSkipsDiscoveries: the restart duty reads the record of a VM
// whose event says it went down, but not of one a host was found to have
// stopped or crashed: a discovered record's restart policy is never, and a
// full sync discovering a host's VMs would cost the leader one read each.
func TestWentDownSkipsDiscoveries(t *testing.T) {
	r := newEnv(t, "sqlite", false).rec
	for _, tc := range []struct {
		name string
		ev   *vm.Event
		want bool
	}{
		{"crash", &vm.Event{Action: "report", OldState: vm.StateRunning, NewState: vm.StateCrashed, Cause: vm.CauseHost}, true},
		{"stop on the host", &vm.Event{Action: "report", OldState: vm.StateRunning, NewState: vm.StateStopped, Cause: vm.CauseHost}, true},
		{"discovered stopped", &vm.Event{Action: discoverAction, NewState: vm.StateStopped, Cause: vm.CauseHost}, false},
		{"discovered crashed", &vm.Event{Action: discoverAction, NewState: vm.StateCrashed, Cause: vm.CauseHost}, false},
		{"own restart", &vm.Event{Action: "restart", OldState: vm.StateRunning, NewState: vm.StateStopped, Cause: vm.CauseReconciler}, false},
		{"no change", &vm.Event{Action: "report", OldState: vm.StateStopped, NewState: vm.StateStopped, Cause: vm.CauseHost}, false},
	} {
		if got := wentDown(tc.ev); got != tc.want {
			t.Errorf("%s: wentDown = %v, want %v", tc.name, got, tc.want)
		}
	}
	// The discovered record is made with restart policy never: nothing
	// skipped here could have been owed a restart.
	v, ev := r.discovered("n1", &backend.VM{ID: "0b7e0c4e-5b1c-4b0e-9a52-0d6c1f3f2b11", Name: "found", State: backend.StateStopped}, vm.CauseHost, time.Now())
	if ev.Action != discoverAction || v.RestartPolicy != vm.RestartNever || owedRestart(v) {
		t.Errorf("discovered: event action %q, restart policy %q, owed a restart %v", ev.Action, v.RestartPolicy, owedRestart(v))
	}
}
