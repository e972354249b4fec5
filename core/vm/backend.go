package vm

// The model as backends see it: what a host reports, turned into the
// inventory's terms, and what a backend is asked to create.

import "github.com/quantixvm/quantix/sdk/backend"

// StateOf maps what a backend reports onto the inventory's states
// (HostState, which agents hash with too).
func StateOf(p backend.PowerState) State { return HostState(string(p)) }

const gib = 1 << 30

// SpecOf is the spec of a VM as a host reports it, for VMs the control plane
// did not create.
func SpecOf(b *backend.VM) Spec {
	s := Spec{
		VCPUs:     b.Spec.VCPUs,
		MemoryMiB: b.Spec.MemoryMiB,
		Boot:      append([]string{}, b.Spec.Boot...),
		Kernel:    b.Spec.Kernel,
		Initrd:    b.Spec.Initrd,
		Cmdline:   b.Spec.Cmdline,
	}
	for _, d := range b.Disks {
		s.Disks = append(s.Disks, Disk{Name: d.Name, SizeGiB: d.SizeBytes / gib, BaseImage: d.BaseImage, Path: d.Path})
	}
	for _, n := range b.Spec.NICs {
		s.NICs = append(s.NICs, NIC{Type: n.Type, Source: n.Source, MAC: n.MAC, Model: n.Model})
	}
	return s
}

// BackendSpec is what a backend is asked to create for a VM of spec s.
func BackendSpec(name, description string, s Spec) backend.VMSpec {
	out := backend.VMSpec{
		Name:        name,
		VCPUs:       s.VCPUs,
		MemoryMiB:   s.MemoryMiB,
		Boot:        s.Boot,
		Description: description,
		Kernel:      s.Kernel,
		Initrd:      s.Initrd,
		Cmdline:     s.Cmdline,
	}
	for _, d := range s.Disks {
		out.Disks = append(out.Disks, backend.DiskSpec{Name: d.Name, SizeGiB: d.SizeGiB, BaseImage: d.BaseImage, Bus: d.Bus})
	}
	for _, n := range s.NICs {
		out.NICs = append(out.NICs, backend.NICSpec{Type: n.Type, Source: n.Source, MAC: n.MAC, Model: n.Model})
	}
	return out
}

// WithHostDisks completes a requested spec with what the host made of its
// disks: their names and paths, in order.
func WithHostDisks(s Spec, b *backend.VM) Spec {
	disks := make([]Disk, len(s.Disks))
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
