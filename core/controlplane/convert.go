package controlplane

import (
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

// stateOf maps what a backend reports onto the control plane's states
// (vm.HostState, which agents hash with too).
func stateOf(p backend.PowerState) vm.State { return vm.HostState(string(p)) }

const gib = 1 << 30

// specOf is the spec of a VM as a host reports it, for VMs the control plane
// did not create.
func specOf(b *backend.VM) vm.Spec {
	s := vm.Spec{
		VCPUs:     b.Spec.VCPUs,
		MemoryMiB: b.Spec.MemoryMiB,
		Boot:      append([]string{}, b.Spec.Boot...),
	}
	for _, d := range b.Disks {
		s.Disks = append(s.Disks, vm.Disk{Name: d.Name, SizeGiB: d.SizeBytes / gib, BaseImage: d.BaseImage, Path: d.Path})
	}
	for _, n := range b.Spec.NICs {
		s.NICs = append(s.NICs, vm.NIC{Type: n.Type, Source: n.Source, MAC: n.MAC, Model: n.Model})
	}
	return s
}

// backendSpec is what a backend is asked to create for a VM.
func backendSpec(name, description string, s vm.Spec) backend.VMSpec {
	out := backend.VMSpec{
		Name:        name,
		VCPUs:       s.VCPUs,
		MemoryMiB:   s.MemoryMiB,
		Boot:        s.Boot,
		Description: description,
	}
	for _, d := range s.Disks {
		out.Disks = append(out.Disks, backend.DiskSpec{Name: d.Name, SizeGiB: d.SizeGiB, BaseImage: d.BaseImage, Bus: d.Bus})
	}
	for _, n := range s.NICs {
		out.NICs = append(out.NICs, backend.NICSpec{Type: n.Type, Source: n.Source, MAC: n.MAC, Model: n.Model})
	}
	return out
}

// withHostDisks completes a requested spec with what the host made of its
// disks: their names and paths, in order.
func withHostDisks(s vm.Spec, b *backend.VM) vm.Spec {
	disks := make([]vm.Disk, len(s.Disks))
	copy(disks, s.Disks)
	for i := range disks {
		if i >= len(b.Disks) {
			break
		}
		if disks[i].Name == "" {
			disks[i].Name = b.Disks[i].Name
		}
		disks[i].Path = b.Disks[i].Path
	}
	s.Disks = disks
	return s
}
