package controlplane

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/vm"
)

// Overcommit is how much more than a node has its VMs may ask for: the
// node's CPUs times CPU is the most vCPUs, its memory times Memory the most
// memory. It bounds one VM at create and edit, and the VMs allocated on
// the node (running, paused or on their way) together at start.
type Overcommit struct {
	CPU    float64
	Memory float64
}

// The default overcommit ratios: vCPUs are time-shared, so four per CPU
// is the usual start; memory is only lightly overcommitted (ballooning,
// page sharing), and past that the host swaps or kills guests.
const (
	DefaultCPUOvercommit    = 4.0
	DefaultMemoryOvercommit = 1.5
)

// MaxDiskGiB is the largest disk a VM may ask for: 64 TiB.
const MaxDiskGiB = 64 << 10

// withDefaults fills unset ratios with the defaults.
func (o Overcommit) withDefaults() Overcommit {
	if o.CPU <= 0 {
		o.CPU = DefaultCPUOvercommit
	}
	if o.Memory <= 0 {
		o.Memory = DefaultMemoryOvercommit
	}
	return o
}

// limits returns the most vCPUs and memory node n may hold under o; zero
// for what the node has not reported (it is not checked then).
func (o Overcommit) limits(n *node.Node) (vcpus, memMiB uint64) {
	if n.Host.CPUs > 0 {
		vcpus = uint64(math.Floor(float64(n.Host.CPUs) * o.CPU))
	}
	if n.Host.MemoryMiB > 0 {
		memMiB = uint64(math.Floor(float64(n.Host.MemoryMiB) * o.Memory))
	}
	return vcpus, memMiB
}

// checkFits refuses a VM of vcpus and memMiB that node nodeID cannot hold
// even alone (invalid, naming the field). A node the inventory does not
// have (any more) is not checked.
func (s *Service) checkFits(ctx context.Context, nodeID string, vcpus uint32, memMiB uint64) error {
	n, err := s.node(ctx, nodeID)
	if KindOf(err) == KindNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	return s.fits(n, vcpus, memMiB)
}

// fits refuses a VM of vcpus and memMiB that node n cannot hold even alone.
func (s *Service) fits(n *node.Node, vcpus uint32, memMiB uint64) error {
	maxCPU, maxMem := s.overcommit.limits(n)
	if maxCPU > 0 && uint64(vcpus) > maxCPU {
		return invalid("vcpus", "vcpus: %d is more than node %s can run (%d CPUs × %s)", vcpus, n.Name, n.Host.CPUs, ratio(s.overcommit.CPU))
	}
	if maxMem > 0 && memMiB > maxMem {
		return invalid("memory_mib", "memory_mib: %d MiB is more than node %s can hold (%s × %s)", memMiB, n.Name, size(n.Host.MemoryMiB), ratio(s.overcommit.Memory))
	}
	return nil
}

// allocating lists the states in which a VM holds its vCPUs and memory on
// its host.
var allocating = map[vm.State]bool{
	vm.StateRunning: true, vm.StateStarting: true, vm.StateStopping: true, vm.StateRebooting: true, vm.StatePaused: true,
}

// checkRoom refuses to start v when the VMs allocated on its node (every
// record the node holds in an allocating state, managed or not) and v
// together would ask for more than the node can hold: a conflict naming
// the field and the numbers. Concurrent starts may both pass: the check
// is a guard against mistakes, not a reservation.
func (s *Service) checkRoom(ctx context.Context, v *vm.VM) error {
	n, err := s.node(ctx, v.NodeID)
	if KindOf(err) == KindNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.fits(n, v.Spec.VCPUs, v.Spec.MemoryMiB); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.VM = v
		}
		return err
	}
	maxCPU, maxMem := s.overcommit.limits(n)
	if maxCPU == 0 && maxMem == 0 {
		return nil
	}
	list, err := s.store.VMs().ListByNode(ctx, v.NodeID)
	if err != nil {
		return storeError(fmt.Sprintf("starting vm %q", v.Name), err)
	}
	var cpus, mem uint64
	for _, o := range list {
		if o.ID != v.ID && allocating[o.State] {
			cpus += uint64(o.Spec.VCPUs)
			mem += o.Spec.MemoryMiB
		}
	}
	if maxCPU > 0 && cpus+uint64(v.Spec.VCPUs) > maxCPU {
		return &Error{Kind: KindConflict, Field: "vcpus", VM: v, Message: fmt.Sprintf(
			"vcpus: vm %q needs %d; node %s has %d allocated to running vms of the %d it can run (%d CPUs × %s): stop another vm first",
			v.Name, v.Spec.VCPUs, n.Name, cpus, maxCPU, n.Host.CPUs, ratio(s.overcommit.CPU))}
	}
	if maxMem > 0 && mem+v.Spec.MemoryMiB > maxMem {
		return &Error{Kind: KindConflict, Field: "memory_mib", VM: v, Message: fmt.Sprintf(
			"memory_mib: vm %q needs %s; node %s has %s allocated to running vms of the %s it can hold (%s × %s): stop another vm first",
			v.Name, size(v.Spec.MemoryMiB), n.Name, size(mem), size(maxMem), size(n.Host.MemoryMiB), ratio(s.overcommit.Memory))}
	}
	return nil
}

// checkDisks refuses disks larger than MaxDiskGiB.
func checkDisks(disks []vm.Disk) error {
	for i, d := range disks {
		if d.SizeGiB > MaxDiskGiB {
			f := fmt.Sprintf("disks[%d].size_gib", i)
			return invalid(f, "%s: %d GiB is more than the largest disk allowed, %d GiB (64 TiB)", f, d.SizeGiB, MaxDiskGiB)
		}
	}
	return nil
}

// size formats a memory size in MiB, as GiB when it is whole GiB.
func size(mib uint64) string {
	if mib >= 1024 && mib%1024 == 0 {
		return fmt.Sprintf("%d GiB", mib/1024)
	}
	return fmt.Sprintf("%d MiB", mib)
}

// ratio formats an overcommit ratio.
func ratio(r float64) string { return strconv.FormatFloat(r, 'g', -1, 64) }
