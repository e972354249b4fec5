package controlplane

import (
	"context"
	"testing"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

// TestCreateReportRace: a host report of the VM being created, arriving
// before the create is recorded, does not make a second record; one
// arriving after updates the record.
func TestCreateReportRace(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver, false)
		r := e.svc.rec
		ctx := context.Background()
		p := &vm.VM{ID: "placeholder-1", Name: "racer", Origin: vm.OriginControlPlane, IsManaged: true, NodeID: "n1",
			DesiredState: vm.DesiredStopped, RestartPolicy: vm.RestartNever, Spec: vm.Spec{VCPUs: 1, MemoryMiB: 64}}
		if err := r.Reserve(ctx, p, Note{Cause: vm.CauseAPI, Action: "create", Message: "creation requested"}); err != nil {
			t.Fatal(err)
		}
		dup := &vm.VM{ID: "placeholder-2", Name: "racer", Origin: vm.OriginControlPlane, IsManaged: true, NodeID: "n1"}
		wantKind(t, r.Reserve(ctx, dup, Note{}), KindConflict, "racer", "taken")

		observed := &backend.VM{ID: "uuid-racer", Name: "racer", State: backend.StateStopped, Managed: true, Spec: backend.VMSpec{Name: "racer", VCPUs: 1, MemoryMiB: 64}}
		got, err := r.Apply(ctx, "n1", observed, Note{Cause: vm.CauseHost})
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != p.ID {
			t.Errorf("early report applied to %s, want the placeholder", got.ID)
		}
		if _, err := e.store.VMs().Get(ctx, observed.ID); err == nil {
			t.Fatal("an early report of the vm being created inserted a second record")
		}
		// The same name on another node is another VM.
		other := &backend.VM{ID: "uuid-elsewhere", Name: "racer", State: backend.StateRunning}
		if v, err := r.Apply(ctx, "n2", other, Note{Cause: vm.CauseHost}); err != nil || v.Origin != vm.OriginHostDiscovered || v.IsManaged {
			t.Fatalf("report from another node = %+v, %v; want a host-discovered vm", v, err)
		}

		v, err := r.Complete(ctx, p.ID, "n1", observed, p.Spec, Note{Cause: vm.CauseAPI, Action: "create"})
		if err != nil {
			t.Fatal(err)
		}
		if v.ID != observed.ID || v.State != vm.StateStopped || !v.IsManaged || !v.CreatedAt.Equal(p.CreatedAt) {
			t.Errorf("completed vm = %+v", v)
		}
		if _, err := e.store.VMs().Get(ctx, p.ID); err == nil {
			t.Error("the placeholder is still there")
		}
		evs := e.events(t, v.ID)
		if len(evs) != 2 || evs[0].NewState != vm.StateCreating || evs[1].OldState != vm.StateCreating || evs[1].NewState != vm.StateStopped {
			t.Errorf("history %+v, want CREATING then CREATING→STOPPED", evs)
		}

		observed.State = backend.StateRunning
		if v, err = r.Apply(ctx, "n1", observed, Note{Cause: vm.CauseHost}); err != nil || v.State != vm.StateRunning || v.LastSeen == nil {
			t.Fatalf("late report = %+v, %v", v, err)
		}
		page, _, err := e.store.VMs().List(ctx, store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, x := range page {
			if x.Name == "racer" && x.NodeID == "n1" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d records of the created vm, want 1", n)
		}
	})
}

// TestCompleteReplacesDiscovered: when a report inserted the new VM as
// host-discovered anyway (another control plane process saw it first), the
// create takes the record over.
func TestCompleteReplacesDiscovered(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	r := e.svc.rec
	ctx := context.Background()
	observed := &backend.VM{ID: "uuid-x", Name: "x", State: backend.StateStopped}
	if v, err := r.Apply(ctx, "n1", observed, Note{Cause: vm.CauseHost}); err != nil || v.Origin != vm.OriginHostDiscovered {
		t.Fatalf("report of an unknown vm = %+v, %v; want it discovered", v, err)
	}
	p := &vm.VM{ID: "ph", Name: "x", Origin: vm.OriginControlPlane, IsManaged: true, NodeID: "n1"}
	if err := r.Reserve(ctx, p, Note{Cause: vm.CauseAPI, Action: "create"}); err != nil {
		t.Fatal(err)
	}
	v, err := r.Complete(ctx, p.ID, "n1", observed, vm.Spec{VCPUs: 1, MemoryMiB: 64}, Note{Cause: vm.CauseAPI, Action: "create"})
	if err != nil {
		t.Fatal(err)
	}
	if !v.IsManaged || v.Origin != vm.OriginControlPlane {
		t.Errorf("completed vm = %+v, want managed", v)
	}
}

// TestRevert: a failed action puts the VM back only if it is still in the
// action's transitional state, and keeps the error.
func TestRevert(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	r := e.svc.rec
	ctx := context.Background()
	cases := []struct {
		now, through, prev, want vm.State
	}{
		{vm.StateStarting, vm.StateStarting, vm.StateStopped, vm.StateStopped},
		{vm.StateStopped, vm.StateStarting, vm.StateCrashed, vm.StateStopped}, // reset meanwhile: kept
		{vm.StateRunning, "", vm.StateRunning, vm.StateRunning},               // pause has no transitional state
	}
	for _, c := range cases {
		v := e.seed(t, "rv-"+string(c.now)+string(c.through), c.now, "n1")
		got, err := r.Revert(ctx, v.ID, c.through, c.prev, Note{Cause: vm.CauseAPI, Action: "x", Message: "boom"})
		if err != nil {
			t.Fatal(err)
		}
		if got.State != c.want || got.Message != "boom" {
			t.Errorf("revert from %s (through %q, prev %s) = %s %q, want %s \"boom\"", c.now, c.through, c.prev, got.State, got.Message, c.want)
		}
	}
}
