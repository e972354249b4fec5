package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

func TestAddForeign(t *testing.T) {
	ctx := context.Background()
	b := newSim(t, Config{Hostname: "foreign"})
	w := watch(t, b)
	spec := minimalSpec("virsh-made")
	spec.NICs = []backend.NICSpec{{Type: backend.NICBridge, Source: "br0"}}
	vm, err := b.AddForeign(spec)
	if err != nil {
		t.Fatalf("AddForeign: %v", err)
	}
	if vm.Managed || vm.State != backend.StateStopped || vm.Name != spec.Name || vm.Spec.NICs[0].MAC == "" {
		t.Errorf("AddForeign = %+v, want an unmanaged stopped VM with a MAC on its NIC", vm)
	}
	checkEvents(t, "AddForeign", w.wait(t, 1), vm, []backend.Event{{Type: backend.EventCreated, State: backend.StateStopped, Reason: ReasonAdded}})
	if _, err := b.StartVM(ctx, vm.ID); err != nil {
		t.Fatalf("StartVM of a foreign VM: %v", err)
	}
	checkEvents(t, "StartVM", w.wait(t, 2)[1:], vm, []backend.Event{{Type: backend.EventStateChanged, State: backend.StateRunning, Reason: ReasonBooted}})
	if got, _ := b.GetVM(ctx, vm.ID); got == nil || got.Managed {
		t.Errorf("GetVM = %+v, want it still unmanaged", got)
	}

	_, err = b.AddForeign(minimalSpec("virsh-made"))
	if plugin.KindOf(err) != plugin.KindConflict {
		t.Errorf("AddForeign with a name in use = %v, want a conflict", err)
	}
	bad := minimalSpec("bad")
	bad.VCPUs = 0
	if _, err := b.AddForeign(bad); plugin.FieldOf(err) != "vcpus" {
		t.Errorf("AddForeign with 0 vcpus = %v, want an invalid argument on vcpus", err)
	}
	w.quiet(t, 2, 20*time.Millisecond)
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	b := newSim(t, Config{Hostname: "import"})
	w := watch(t, b)
	cases := []struct {
		name  string
		vm    backend.VM
		kind  plugin.Kind
		field string
	}{
		{"NilUUID", backend.VM{ID: "00000000-0000-0000-0000-000000000000", Name: "nil-uuid", State: backend.StateRunning}, 0, ""},
		{"AllOnesUUID", backend.VM{ID: "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", Name: "ones-uuid"}, 0, ""},
		{"Managed", backend.VM{ID: "5f0c7f0e-4a7b-4c55-9a1e-0d6f5e2b9a11", Name: "imported", Managed: true, State: backend.StatePaused, Spec: minimalSpec("imported")}, 0, ""},
		{"SameID", backend.VM{ID: "5F0C7F0E-4A7B-4C55-9A1E-0D6F5E2B9A11", Name: "other"}, plugin.KindConflict, ""},
		{"SameName", backend.VM{ID: "7d1d6b1e-3c3a-4b8e-8f5d-1c2b3a4d5e6f", Name: "imported"}, plugin.KindConflict, ""},
		{"BadID", backend.VM{ID: "not-a-uuid", Name: "bad-id"}, plugin.KindInvalidArgument, "id"},
		{"BadName", backend.VM{ID: "8d1d6b1e-3c3a-4b8e-8f5d-1c2b3a4d5e6f", Name: "a b"}, plugin.KindInvalidArgument, "name"},
		{"SpecOtherName", backend.VM{ID: "9d1d6b1e-3c3a-4b8e-8f5d-1c2b3a4d5e6f", Name: "x", Spec: minimalSpec("y")}, plugin.KindInvalidArgument, "spec.name"},
		{"BadState", backend.VM{ID: "ad1d6b1e-3c3a-4b8e-8f5d-1c2b3a4d5e6f", Name: "z", State: "DANCING"}, plugin.KindInvalidArgument, "state"},
	}
	created := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.Import(tc.vm)
			if tc.kind != 0 {
				if plugin.KindOf(err) != tc.kind || plugin.FieldOf(err) != tc.field {
					t.Errorf("Import(%+v) = %v (kind %v, field %q), want kind %v on %q", tc.vm, err, plugin.KindOf(err), plugin.FieldOf(err), tc.kind, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatalf("Import(%+v) = %v", tc.vm, err)
			}
			created++
			state := tc.vm.State
			if state == "" {
				state = backend.StateStopped
			}
			if got.ID != strings.ToLower(tc.vm.ID) || got.State != state || got.Managed != tc.vm.Managed || got.Spec.Name != tc.vm.Name {
				t.Errorf("Import(%+v) = %+v", tc.vm, got)
			}
			if back, err := b.GetVM(ctx, tc.vm.ID); err != nil || back.ID != got.ID {
				t.Errorf("GetVM(%s) after Import = %+v, %v", tc.vm.ID, back, err)
			}
			evs := w.wait(t, created)
			checkEvents(t, "Import", evs[created-1:], got, []backend.Event{{Type: backend.EventCreated, State: state, Reason: ReasonAdded}})
		})
	}
	w.quiet(t, created, 20*time.Millisecond)
}

// TestMove moves a running VM between two hosts and checks both hosts'
// inventories and events; a move onto a host where the name is taken
// leaves the VM where it was.
func TestMove(t *testing.T) {
	ctx := context.Background()
	src := newSim(t, Config{Hostname: "src", VMs: VMsConfig{Count: 3, State: "running", Managed: true}})
	dst := newSim(t, Config{Hostname: "dst", VMs: VMsConfig{Count: 1}})
	ws, wd := watch(t, src), watch(t, dst)
	id := PopulatedID("src", 1)
	before, _ := src.GetVM(ctx, id)
	moved, err := src.Move(id, dst)
	if err != nil {
		t.Fatalf("Move: %v", err)
	}
	if moved.ID != id || moved.Name != "src-1" || moved.State != backend.StateRunning || !moved.Managed || moved.Spec.VCPUs != before.Spec.VCPUs {
		t.Errorf("Move returned %+v, want %+v", moved, before)
	}
	if _, err := src.GetVM(ctx, id); plugin.KindOf(err) != plugin.KindNotFound {
		t.Errorf("GetVM on the source after Move = %v, want not found", err)
	}
	if got, err := dst.GetVM(ctx, id); err != nil || got.State != backend.StateRunning {
		t.Errorf("GetVM on the destination after Move = %+v, %v", got, err)
	}
	checkEvents(t, "Move on the destination", wd.wait(t, 1), moved, []backend.Event{{Type: backend.EventCreated, State: backend.StateRunning, Reason: ReasonMigrated}})
	checkEvents(t, "Move on the source", ws.wait(t, 1), moved, []backend.Event{{Type: backend.EventDeleted, Reason: ReasonMigrated}})
	if n := count(t, src); n != 2 {
		t.Errorf("source has %d VMs, want 2", n)
	}
	if n := count(t, dst); n != 2 {
		t.Errorf("destination has %d VMs, want 2", n)
	}

	// Back again keeps the UUID.
	if back, err := dst.Move(id, src); err != nil || back.ID != id {
		t.Fatalf("Move back = %+v, %v", back, err)
	}
	// A name taken on the destination: the VM stays.
	clash, err := dst.AddForeign(minimalSpec("src-2"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Move(PopulatedID("src", 2), dst)
	if plugin.KindOf(err) != plugin.KindConflict || !strings.Contains(err.Error(), "to host dst") {
		t.Errorf("Move onto a name in use = %v, want a conflict naming the destination", err)
	}
	if _, err := src.GetVM(ctx, PopulatedID("src", 2)); err != nil {
		t.Errorf("the VM left its host after a refused Move: %v", err)
	}
	if got, _ := dst.GetVM(ctx, clash.ID); got == nil || got.Name != "src-2" {
		t.Errorf("the VM already on the destination changed: %+v", got)
	}
	if _, err := src.Move(id, src); plugin.FieldOf(err) != "dst" {
		t.Errorf("Move onto the same host = %v, want an invalid argument on dst", err)
	}
	if _, err := src.Move(randomID(), dst); plugin.KindOf(err) != plugin.KindNotFound {
		t.Errorf("Move of an unknown VM = %v, want not found", err)
	}
}

func count(t *testing.T, b *Backend) int {
	t.Helper()
	vms, err := b.ListVMs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(vms)
}

func randomID() string { return "0badc0de-1111-4222-8333-444455556666" }

// TestDisconnect checks a simulated loss of the hypervisor connection:
// calls fail as unavailable, Health fails, changes made meanwhile send no
// event, and reconnecting sends an EventResync after which a listing shows
// them.
func TestDisconnect(t *testing.T) {
	ctx := context.Background()
	b := newSim(t, Config{Hostname: "flaky", VMs: VMsConfig{Count: 2, State: "running"}})
	w := watch(t, b)
	id := PopulatedID("flaky", 0)
	b.Disconnect()
	if err := b.Health(ctx); plugin.KindOf(err) != plugin.KindUnavailable || !strings.Contains(err.Error(), "flaky") {
		t.Errorf("Health while disconnected = %v, want unavailable naming the host", err)
	}
	for name, call := range map[string]func() error{
		"ListVMs":  func() error { _, err := b.ListVMs(ctx); return err },
		"GetVM":    func() error { _, err := b.GetVM(ctx, id); return err },
		"StopVM":   func() error { _, err := b.StopVM(ctx, id, backend.StopOptions{}); return err },
		"CreateVM": func() error { _, err := b.CreateVM(ctx, minimalSpec("x")); return err },
		"HostInfo": func() error { _, err := b.HostInfo(ctx); return err },
		"TailLog":  func() error { _, err := b.TailLog(ctx, id, 1); return err },
		"StreamLog": func() error {
			return b.StreamLog(ctx, id, 0, func(backend.LogLine) error { return nil })
		},
		"DeleteVM": func() error { return b.DeleteVM(ctx, id, backend.DeleteOptions{}) },
	} {
		if err := call(); plugin.KindOf(err) != plugin.KindUnavailable {
			t.Errorf("%s while disconnected = %v, want unavailable", name, err)
		}
	}
	if _, err := b.Crash(id); err != nil {
		t.Fatalf("Crash while disconnected: %v", err)
	}
	w.quiet(t, 0, 30*time.Millisecond)
	b.Reconnect()
	evs := w.wait(t, 1)
	if evs[0].Type != backend.EventResync {
		t.Errorf("first event after Reconnect = %s, want resync", fmtEvent(evs[0]))
	}
	if err := b.Health(ctx); err != nil {
		t.Errorf("Health after Reconnect = %v", err)
	}
	if vm, err := b.GetVM(ctx, id); err != nil || vm.State != backend.StateCrashed {
		t.Errorf("GetVM after Reconnect = %+v, %v; want the crash made meanwhile", vm, err)
	}
	b.Resync()
	if evs := w.wait(t, 2); evs[1].Type != backend.EventResync || evs[1].VMID != "" {
		t.Errorf("event after Resync = %s, want resync", fmtEvent(evs[1]))
	}
	w.quiet(t, 2, 20*time.Millisecond)
}

func TestSetStateInvalid(t *testing.T) {
	b := newSim(t, Config{Hostname: "set", VMs: VMsConfig{Count: 1}})
	if _, err := b.SetState(PopulatedID("set", 0), "DANCING"); plugin.FieldOf(err) != "state" {
		t.Errorf("SetState(DANCING) = %v, want an invalid argument on state", err)
	}
	if _, err := b.SetState(randomID(), backend.StateRunning); plugin.KindOf(err) != plugin.KindNotFound {
		t.Errorf("SetState of an unknown VM = %v, want not found", err)
	}
	if _, err := New().SetState(randomID(), backend.StateRunning); plugin.KindOf(err) != plugin.KindUnavailable {
		t.Errorf("SetState before Configure = %v, want unavailable", err)
	}
}
