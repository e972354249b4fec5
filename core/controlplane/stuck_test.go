package controlplane

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
)

// setState writes a state straight into the store, entered at since.
func (e *env) setState(t *testing.T, id string, st, lastKnown vm.State, since time.Time) {
	t.Helper()
	v := e.get(t, id)
	v.State, v.LastKnownState, v.StateChangedAt = st, lastKnown, since
	if err := e.store.VMs().UpdateStatus(context.Background(), v); err != nil {
		t.Fatal(err)
	}
}

// makeVM creates a VM through the service on the node's host and, with
// start, starts it; it returns once the agent's reports of the host's
// changes are applied.
func (e *env) makeVM(t *testing.T, name string, start bool, policy vm.RestartPolicy) *vm.VM {
	t.Helper()
	ctx := context.Background()
	v, err := e.svc.Create(ctx, CreateRequest{Name: name, VCPUs: 1, MemoryMiB: 64, RestartPolicy: string(policy)})
	if err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	// The report of the new vm must not race the start.
	e.settle(t)
	if start {
		res, err := e.svc.Start(ctx, v.ID)
		if err != nil {
			t.Fatalf("starting %s: %v", name, err)
		}
		v = res.VM
	}
	e.settle(t)
	return v
}

// TestStuckStates: VMs in a transitional state for longer than the stuck
// timeout are checked against their host and corrected, with an event.
func TestStuckStates(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnvWith(t, driver, true, func(o *ReconcilerOptions) { o.StuckTimeout = time.Minute })
		ctx := context.Background()
		stopped := e.makeVM(t, "was-stopping", false, vm.RestartNever)
		running := e.makeVM(t, "was-starting", true, vm.RestartNever)
		recent := e.makeVM(t, "recent", false, vm.RestartNever)
		busy := e.makeVM(t, "busy", false, vm.RestartNever)
		long := time.Now().Add(-2 * time.Minute)
		e.seedAll(t,
			rec(u1, "ghost", vm.StateStarting, e.node, true),
			rec(u2, "ghost-deleting", vm.StateDeleting, e.node, true),
			rec(u3, "far", vm.StateStopping, "node-gone", true),
			rec(u4, "migrated-nowhere", vm.StateMigrating, e.node, true),
			rec(u5, "foreign-migrated-nowhere", vm.StateMigrating, e.node, false),
		)
		e.setState(t, stopped.ID, vm.StateStopping, vm.StateRunning, long)
		e.setState(t, running.ID, vm.StateStarting, vm.StateStopped, long)
		e.setState(t, recent.ID, vm.StateStopping, vm.StateRunning, time.Now().Add(-10*time.Second))
		e.setState(t, busy.ID, vm.StateStopping, vm.StateRunning, long)
		e.setState(t, u1, vm.StateStarting, vm.StateStopped, long)
		e.setState(t, u2, vm.StateDeleting, vm.StateStopped, long)
		e.setState(t, u3, vm.StateStopping, vm.StateRunning, long)
		e.setState(t, u4, vm.StateMigrating, vm.StateRunning, long)
		e.setState(t, u5, vm.StateMigrating, vm.StateRunning, long)
		release := e.rec.hold(busy.ID)

		e.rec.scanStuck(ctx)
		cases := []struct {
			id    string
			want  vm.State
			event string // a regexp the stuck event's message matches, "" for none
		}{
			{stopped.ID, vm.StateStopped, `stuck in STOPPING for 2m\d+s: the host reports STOPPED`},
			{running.ID, vm.StateRunning, `stuck in STARTING for 2m\d+s: the host reports RUNNING`},
			{u1, vm.StateStopped, "does not have the vm, so it is STOPPED now"},
			{u2, vm.StateTerminated, "does not have the vm, so it is TERMINATED now"},
			{recent.ID, vm.StateStopping, ""},
			{busy.ID, vm.StateStopping, ""},
			{u3, vm.StateStopping, ""},
			{u4, vm.StateLost, "vm migrated away from node"},
		}
		for _, c := range cases {
			v := e.get(t, c.id)
			if v.State != c.want {
				t.Errorf("%s: %s, want %s", v.Name, v.State, c.want)
			}
			evs := e.events(t, c.id)
			if c.event == "" {
				for _, ev := range evs {
					if ev.Action == "stuck" {
						t.Errorf("%s: corrected although it should be left: %+v", v.Name, ev)
					}
				}
				continue
			}
			if len(evs) == 0 {
				t.Fatalf("%s: no event", v.Name)
			}
			last := evs[len(evs)-1]
			action := "stuck"
			if c.want == vm.StateLost {
				action = "lost"
				if v.LostAt == nil || v.LostReason != last.Message || v.LastKnownState != vm.StateRunning {
					t.Errorf("%s: lost_reason %q lost_at %v last_known %s, want the event's reason, a time and RUNNING", v.Name, v.LostReason, v.LostAt, v.LastKnownState)
				}
			}
			if last.Action != action || last.Cause != vm.CauseReconciler || last.NewState != c.want || !regexp.MustCompile(c.event).MatchString(last.Message) {
				t.Errorf("%s: last event %+v, want a stuck correction saying %q", v.Name, last, c.event)
			}
			if v.Message != last.Message {
				t.Errorf("%s: message %q, want %q", v.Name, v.Message, last.Message)
			}
		}

		// The unmanaged VM that migrated nowhere is removed, as one gone
		// from its host.
		if _, err := e.store.VMs().Get(ctx, u5); err == nil {
			t.Errorf("the unmanaged vm that migrated nowhere still has a record")
		}

		// Run's loop does the same once the action holding busy is over.
		release()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		e.rec.opts.StuckScan = 10 * time.Millisecond
		go func() { _ = e.rec.Run(ctx) }()
		wait.Until(t, 5*time.Second, "the busy vm corrected by the loop", func() bool { return e.get(t, busy.ID).State == vm.StateStopped })
	})
}

// TestStuckCreateDiscarded: the placeholder of a create that no request
// runs any more (the server stopped during it) is removed once stuck, with
// an event on the stream, so that the VM the host made for it is
// discovered by the node's next full sync instead of hiding behind the
// placeholder for ever. A recent placeholder, and one whose create this
// process still runs, stay.
func TestStuckCreateDiscarded(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnvWith(t, driver, true, func(o *ReconcilerOptions) { o.StuckTimeout = time.Minute })
		ctx := context.Background()
		stream, err := e.svc.Subscribe(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		defer stream.Close()
		e.seedAll(t,
			rec("placeholder-dead", "half-made", vm.StateCreating, e.node, true),
			rec("placeholder-recent", "on-its-way", vm.StateCreating, e.node, true),
			rec("placeholder-running", "slow-create", vm.StateCreating, e.node, true),
		)
		e.setState(t, "placeholder-dead", vm.StateCreating, "", time.Now().Add(-2*time.Minute))
		e.setState(t, "placeholder-running", vm.StateCreating, "", time.Now().Add(-2*time.Minute))
		release := e.rec.hold("placeholder-running")
		defer release()

		// While the placeholder is there, the host's VM of that name is
		// taken for the create's own.
		made := hostVM(u1, "half-made", backend.StateStopped)
		if err := e.rec.FullSync(ctx, e.node, []*backend.VM{made}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.VMs().Get(ctx, u1); err == nil {
			t.Fatal("a vm named like a create's placeholder was discovered while the placeholder is there")
		}

		e.rec.scanStuck(ctx)
		if _, err := e.store.VMs().Get(ctx, "placeholder-dead"); err == nil {
			t.Error("the placeholder of a dead create is still there")
		}
		for _, id := range []string{"placeholder-recent", "placeholder-running"} {
			if v := e.get(t, id); v.State != vm.StateCreating {
				t.Errorf("%s: %s, want CREATING still", id, v.State)
			}
		}
		ev := nextEvent(t, stream)
		for ev.Kind != events.StreamVM {
			ev = nextEvent(t, stream)
		}
		if ev.VM.VMID != "placeholder-dead" || ev.VM.Action != "discard" || ev.VM.Cause != vm.CauseReconciler ||
			!strings.Contains(ev.VM.Message, "did not finish") {
			t.Errorf("stream event %+v, want the reconciler's discard of the dead create", ev.VM)
		}

		if err := e.rec.FullSync(ctx, e.node, []*backend.VM{made}); err != nil {
			t.Fatal(err)
		}
		v := e.get(t, u1)
		if v.IsManaged || v.Origin != vm.OriginHostDiscovered || v.Name != "half-made" {
			t.Errorf("the host's vm after the placeholder went: %+v, want it discovered", v)
		}
	})
}

// TestStuckCreateTakenOver: the stuck scan settles a dead create's
// placeholder as reset_state does: when the node has the VM the create
// made, the placeholder becomes it (one record for the name, the host's
// UUID and state, managed, its history kept); a foreign VM of that name
// does not count, and the placeholder of a create the host never got is
// removed.
func TestStuckCreateTakenOver(t *testing.T) {
	e := newEnvWith(t, "sqlite", true, func(o *ReconcilerOptions) { o.StuckTimeout = time.Minute })
	ctx := context.Background()
	e.seedAll(t,
		rec("placeholder-made", "made-on-host", vm.StateCreating, e.node, true),
		rec("placeholder-foreign", "foreign-name", vm.StateCreating, e.node, true),
	)
	for _, id := range []string{"placeholder-made", "placeholder-foreign"} {
		e.setState(t, id, vm.StateCreating, "", time.Now().Add(-2*time.Minute))
	}
	made, err := e.b.CreateVM(ctx, backend.VMSpec{Name: "made-on-host", VCPUs: 1, MemoryMiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.StartVM(ctx, made.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.AddForeign(backend.VMSpec{Name: "foreign-name", VCPUs: 1, MemoryMiB: 64}); err != nil {
		t.Fatal(err)
	}
	e.settle(t)

	e.rec.scanStuck(ctx)
	v := e.get(t, made.ID)
	if v.Name != "made-on-host" || v.State != vm.StateRunning || !v.IsManaged || v.Origin != vm.OriginControlPlane {
		t.Errorf("the host's vm after the scan: %+v, want it managed, RUNNING", v)
	}
	if _, err := e.store.VMs().Get(ctx, "placeholder-made"); err == nil {
		t.Error("the placeholder of the vm taken over is still there")
	}
	if evs := e.events(t, made.ID); len(evs) == 0 || !strings.Contains(evs[len(evs)-1].Message, "the create is completed") {
		t.Errorf("events of the vm taken over: %+v", evs)
	}
	if _, err := e.store.VMs().Get(ctx, "placeholder-foreign"); err == nil {
		t.Error("the placeholder named like a foreign vm is still there")
	}
}
