package admission

import (
	"errors"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/vm"
)

func violation(t *testing.T, err error) *Violation {
	t.Helper()
	var v *Violation
	if !errors.As(err, &v) {
		t.Fatalf("error %v (%T), want a *Violation", err, err)
	}
	return v
}

// TestFits: one VM against the node's CPUs and memory times the ratios; a
// node that reported nothing is not checked.
func TestFits(t *testing.T) {
	o := Overcommit{}.WithDefaults()
	n := &node.Node{Name: "n1", Host: node.HostInfo{CPUs: 16, MemoryMiB: 64 << 10}}
	if err := o.Fits(n, 64, 96<<10); err != nil {
		t.Errorf("64 vCPUs and 96 GiB on 16 CPUs and 64 GiB (× 4, × 1.5): %v, want it to fit", err)
	}
	v := violation(t, o.Fits(n, 65, 1024))
	if v.Field != "vcpus" || v.Full || !strings.Contains(v.Message, "node n1 can run (16 CPUs × 4)") {
		t.Errorf("65 vCPUs: %+v", v)
	}
	v = violation(t, o.Fits(n, 1, 96<<10+1))
	if v.Field != "memory_mib" || !strings.Contains(v.Message, "(64 GiB × 1.5)") {
		t.Errorf("96 GiB + 1 MiB: %+v", v)
	}
	if err := o.Fits(&node.Node{Name: "new"}, 1025, 1<<40); err != nil {
		t.Errorf("a node that reported no capacity: %v, want no check", err)
	}
}

// TestRoom: at start, the VMs holding resources on the node count, the VM
// itself and stopped ones do not; over the bound is Full.
func TestRoom(t *testing.T) {
	o := Overcommit{CPU: 1, Memory: 1}
	n := &node.Node{Name: "n1", Host: node.HostInfo{CPUs: 4, MemoryMiB: 8192}}
	starting := &vm.VM{ID: "a", Name: "a", Spec: vm.Spec{VCPUs: 2, MemoryMiB: 4096}}
	others := []*vm.VM{
		{ID: "b", State: vm.StateRunning, Spec: vm.Spec{VCPUs: 2, MemoryMiB: 2048}},
		{ID: "c", State: vm.StateStopped, Spec: vm.Spec{VCPUs: 4, MemoryMiB: 8192}},
		{ID: "a", State: vm.StateStopped, Spec: starting.Spec},
	}
	if err := o.Room(n, starting, others); err != nil {
		t.Fatalf("2 + 2 vCPUs of 4, 4 + 2 GiB of 8: %v, want room", err)
	}
	others = append(others, &vm.VM{ID: "d", State: vm.StatePaused, Spec: vm.Spec{VCPUs: 1, MemoryMiB: 512}})
	v := violation(t, o.Room(n, starting, others))
	if v.Field != "vcpus" || !v.Full || !strings.Contains(v.Message, "stop another vm first") {
		t.Errorf("5 vCPUs of 4: %+v", v)
	}
}

func TestDisks(t *testing.T) {
	if err := Disks([]vm.Disk{{SizeGiB: MaxDiskGiB}}); err != nil {
		t.Errorf("a 64 TiB disk: %v", err)
	}
	v := violation(t, Disks([]vm.Disk{{SizeGiB: 1}, {SizeGiB: 99_999_999}}))
	if v.Field != "disks[1].size_gib" || v.Full {
		t.Errorf("a 99,999,999 GiB disk: %+v", v)
	}
}
