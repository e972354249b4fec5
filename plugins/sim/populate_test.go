package sim

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/quantixvm/quantix/sdk/backend"
)

// TestPopulate checks the pre-populated VMs: names, deterministic UUIDs,
// the state mix and that two hosts never share a UUID.
func TestPopulate(t *testing.T) {
	ctx := context.Background()
	const n = 250
	a := newSim(t, Config{Hostname: "host-a", VMs: VMsConfig{Count: n}})
	vms, err := a.ListVMs(ctx)
	if err != nil || len(vms) != n {
		t.Fatalf("ListVMs = %d VMs, %v; want %d", len(vms), err, n)
	}
	byName := map[string]*backend.VM{}
	counts := map[backend.PowerState]int{}
	for _, vm := range vms {
		byName[vm.Name] = vm
		counts[vm.State]++
		if vm.Managed {
			t.Errorf("VM %q Managed true, want false by default", vm.Name)
		}
		if len(vm.Disks) != 1 || len(vm.Spec.NICs) != 1 || vm.Spec.NICs[0].MAC == "" {
			t.Errorf("VM %q has %d disks and NICs %+v, want one disk and one NIC with a MAC", vm.Name, len(vm.Disks), vm.Spec.NICs)
		}
		if err := backend.ValidateSpec(vm.Spec); err != nil {
			t.Errorf("VM %q has a spec the backend would refuse: %v", vm.Name, err)
		}
	}
	for i := range n {
		vm := byName[fmt.Sprintf("host-a-%d", i)]
		if vm == nil {
			t.Fatalf("no VM named host-a-%d", i)
		}
		u, err := uuid.Parse(vm.ID)
		if err != nil || u.Version() != 5 || vm.ID != PopulatedID("host-a", i) {
			t.Errorf("VM host-a-%d has id %s, want the version 5 UUID %s", i, vm.ID, PopulatedID("host-a", i))
		}
	}
	// About 70/20/5/5: with 250 VMs every state of the mix is there.
	for _, st := range []backend.PowerState{backend.StateRunning, backend.StateStopped, backend.StatePaused, backend.StateCrashed} {
		if counts[st] == 0 {
			t.Errorf("no %s VM in a mixed population of %d: %v", st, n, counts)
		}
	}
	if counts[backend.StateRunning] < n/2 || counts[backend.StateRunning] > n*9/10 {
		t.Errorf("%d of %d running, want about 70%%: %v", counts[backend.StateRunning], n, counts)
	}

	// The same hostname and seed give the same host; another seed another
	// mix over the same UUIDs; another hostname other UUIDs.
	same := newSim(t, Config{Hostname: "host-a", VMs: VMsConfig{Count: n}})
	again, _ := same.ListVMs(ctx)
	if !equalVMs(vms, again) {
		t.Errorf("two hosts with the same config differ")
	}
	reseeded := newSim(t, Config{Hostname: "host-a", Seed: 99, VMs: VMsConfig{Count: n}})
	other, _ := reseeded.ListVMs(ctx)
	if equalVMs(vms, other) {
		t.Errorf("seeds 1 and 99 gave the same VMs")
	}
	if ids(vms)[0] != ids(other)[0] {
		t.Errorf("the seed changed the UUIDs; they derive from the hostname and index only")
	}
	b := newSim(t, Config{Hostname: "host-b", VMs: VMsConfig{Count: n}})
	vmsB, _ := b.ListVMs(ctx)
	for _, id := range ids(vmsB) {
		if slices.Contains(ids(vms), id) {
			t.Errorf("hosts host-a and host-b share VM id %s", id)
		}
	}
}

func ids(vms []*backend.VM) []string {
	out := make([]string, len(vms))
	for i, vm := range vms {
		out[i] = vm.ID
	}
	return out
}

func equalVMs(a, b []*backend.VM) bool {
	return slices.EqualFunc(a, b, func(x, y *backend.VM) bool {
		return x.ID == y.ID && x.Name == y.Name && x.State == y.State && x.Spec.VCPUs == y.Spec.VCPUs &&
			x.Spec.MemoryMiB == y.Spec.MemoryMiB && x.Spec.NICs[0].MAC == y.Spec.NICs[0].MAC && x.Disks[0].SizeBytes == y.Disks[0].SizeBytes
	})
}

func TestPopulateOptions(t *testing.T) {
	ctx := context.Background()
	b := newSim(t, Config{Hostname: "h", VMs: VMsConfig{Count: 10, Prefix: "web", State: "RUNNING", Managed: true}})
	vms, err := b.ListVMs(ctx)
	if err != nil || len(vms) != 10 {
		t.Fatalf("ListVMs = %d, %v", len(vms), err)
	}
	for _, vm := range vms {
		if vm.State != backend.StateRunning || !vm.Managed || vm.StateReason != ReasonBooted {
			t.Errorf("VM %s %q: state %s (%s), managed %v; want RUNNING (booted), managed", vm.ID, vm.Name, vm.State, vm.StateReason, vm.Managed)
		}
	}
	if _, err := b.GetVM(ctx, PopulatedID("h", 9)); err != nil {
		t.Errorf("GetVM(PopulatedID(h, 9)) = %v", err)
	}
	if vm, _ := b.GetVM(ctx, PopulatedID("h", 0)); vm == nil || vm.Name != "web-0" {
		t.Errorf("VM 0 = %+v, want web-0", vm)
	}
}

// TestList250Fast checks that a host of 250 VMs lists in well under the
// few milliseconds a scale test of 200 such hosts can afford.
func TestList250Fast(t *testing.T) {
	ctx := context.Background()
	b := newSim(t, Config{Hostname: "fast", VMs: VMsConfig{Count: 250}})
	limit := 3 * time.Millisecond
	if raceEnabled {
		limit = 30 * time.Millisecond
	}
	best := time.Hour
	for range 20 {
		start := time.Now()
		vms, err := b.ListVMs(ctx)
		took := time.Since(start)
		if err != nil || len(vms) != 250 {
			t.Fatalf("ListVMs = %d VMs, %v", len(vms), err)
		}
		best = min(best, took)
	}
	if best > limit {
		t.Errorf("ListVMs of 250 VMs took %s at best, want under %s", best, limit)
	}
	t.Logf("ListVMs of 250 VMs: %s at best", best)
}
