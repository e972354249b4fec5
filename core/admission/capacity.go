package admission

import (
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

// WithDefaults fills unset ratios with the defaults.
func (o Overcommit) WithDefaults() Overcommit {
	if o.CPU <= 0 {
		o.CPU = DefaultCPUOvercommit
	}
	if o.Memory <= 0 {
		o.Memory = DefaultMemoryOvercommit
	}
	return o
}

// Limits returns the most vCPUs and memory node n may hold under o; zero
// for what the node has not reported (it is not checked then).
func (o Overcommit) Limits(n *node.Node) (vcpus, memMiB uint64) {
	if n.Host.CPUs > 0 {
		vcpus = uint64(math.Floor(float64(n.Host.CPUs) * o.CPU))
	}
	if n.Host.MemoryMiB > 0 {
		memMiB = uint64(math.Floor(float64(n.Host.MemoryMiB) * o.Memory))
	}
	return vcpus, memMiB
}

// Fits refuses a VM of vcpus and memMiB that node n cannot hold even alone.
func (o Overcommit) Fits(n *node.Node, vcpus uint32, memMiB uint64) error {
	maxCPU, maxMem := o.Limits(n)
	if maxCPU > 0 && uint64(vcpus) > maxCPU {
		return invalid("vcpus", "vcpus: %d is more than node %s can run (%d CPUs × %s)", vcpus, n.Name, n.Host.CPUs, ratio(o.CPU))
	}
	if maxMem > 0 && memMiB > maxMem {
		return invalid("memory_mib", "memory_mib: %d MiB is more than node %s can hold (%s × %s)", memMiB, n.Name, size(n.Host.MemoryMiB), ratio(o.Memory))
	}
	return nil
}

// allocating lists the states in which a VM holds its vCPUs and memory on
// its host.
var allocating = map[vm.State]bool{
	vm.StateRunning: true, vm.StateStarting: true, vm.StateStopping: true, vm.StateRebooting: true, vm.StatePaused: true,
}

// Room refuses to start v on node n when the VMs allocated there (every
// record of onNode in an allocating state, managed or not, other than v)
// and v together would ask for more than the node can hold: a Violation
// marked Full, naming the field and the numbers. It checks Fits first.
func (o Overcommit) Room(n *node.Node, v *vm.VM, onNode []*vm.VM) error {
	if err := o.Fits(n, v.Spec.VCPUs, v.Spec.MemoryMiB); err != nil {
		return err
	}
	maxCPU, maxMem := o.Limits(n)
	var cpus, mem uint64
	for _, other := range onNode {
		if other.ID != v.ID && allocating[other.State] {
			cpus += uint64(other.Spec.VCPUs)
			mem += other.Spec.MemoryMiB
		}
	}
	if maxCPU > 0 && cpus+uint64(v.Spec.VCPUs) > maxCPU {
		return &Violation{Field: "vcpus", Full: true, Message: fmt.Sprintf(
			"vcpus: vm %q needs %d; node %s has %d allocated to running vms of the %d it can run (%d CPUs × %s): stop another vm first",
			v.Name, v.Spec.VCPUs, n.Name, cpus, maxCPU, n.Host.CPUs, ratio(o.CPU))}
	}
	if maxMem > 0 && mem+v.Spec.MemoryMiB > maxMem {
		return &Violation{Field: "memory_mib", Full: true, Message: fmt.Sprintf(
			"memory_mib: vm %q needs %s; node %s has %s allocated to running vms of the %s it can hold (%s × %s): stop another vm first",
			v.Name, size(v.Spec.MemoryMiB), n.Name, size(mem), size(maxMem), size(n.Host.MemoryMiB), ratio(o.Memory))}
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
