package libvirt

import (
	"slices"

	"libvirt.org/go/libvirtxml"

	"github.com/quantixvm/quantix/sdk/backend"
)

// Defaults of devices Quantix creates.
const (
	defaultBus      = "virtio"
	defaultNICModel = "virtio"
)

// nicPlan is a NIC of a VM being created.
type nicPlan struct {
	backend.NICSpec
}

// domainPlan is everything a new domain's XML is built from.
type domainPlan struct {
	Spec       backend.VMSpec
	DomainType string
	Disks      []diskPlan
	NICs       []nicPlan
	Metadata   string
}

// buildDomain renders a plan as a libvirt domain definition. The UUID is
// left to libvirt.
func buildDomain(p domainPlan) *libvirtxml.Domain {
	zero := uint(0)
	return &libvirtxml.Domain{
		Type:        p.DomainType,
		Name:        p.Spec.Name,
		Description: p.Spec.Description,
		Metadata:    &libvirtxml.DomainMetadata{XML: p.Metadata},
		Memory:      &libvirtxml.DomainMemory{Value: uint(p.Spec.MemoryMiB), Unit: "MiB"},
		VCPU:        &libvirtxml.DomainVCPU{Value: uint(p.Spec.VCPUs)},
		OS:          buildOS(p.Spec),
		Features: &libvirtxml.DomainFeatureList{
			ACPI: &libvirtxml.DomainFeature{},
			APIC: &libvirtxml.DomainFeatureAPIC{},
		},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Disks:       buildDisks(p.Disks),
			Controllers: buildControllers(p.Disks),
			Interfaces:  buildNICs(p.NICs, slices.Contains(p.Spec.Boot, "network")),
			Serials: []libvirtxml.DomainSerial{{
				Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
				Target: &libvirtxml.DomainSerialTarget{Port: &zero},
			}},
			Consoles: []libvirtxml.DomainConsole{{
				Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
				Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &zero},
			}},
			MemBalloon: &libvirtxml.DomainMemBalloon{Model: "none"},
		},
	}
}

// buildOS renders the boot order and, for direct kernel boot, the kernel,
// initrd and command line, which QEMU loads itself (libvirt's DAC driver
// gives the QEMU user read access to them while the VM runs).
func buildOS(spec backend.VMSpec) *libvirtxml.DomainOS {
	os := &libvirtxml.DomainOS{
		Type:    &libvirtxml.DomainOSType{Type: "hvm"},
		Kernel:  spec.Kernel,
		Initrd:  spec.Initrd,
		Cmdline: spec.Cmdline,
	}
	for _, dev := range spec.Boot {
		os.BootDevices = append(os.BootDevices, libvirtxml.DomainBootDevice{Dev: dev})
	}
	return os
}

// busPrefixes are the device name prefixes per disk bus.
var busPrefixes = map[string]string{"virtio": "vd", "sata": "sd", "scsi": "sd", "ide": "hd"}

func buildDisks(disks []diskPlan) []libvirtxml.DomainDisk {
	used := map[string]int{}
	out := make([]libvirtxml.DomainDisk, 0, len(disks))
	for _, d := range disks {
		bus := d.Bus
		if bus == "" {
			bus = defaultBus
		}
		prefix := busPrefixes[bus]
		out = append(out, libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: d.Format},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: d.Path}},
			Target: &libvirtxml.DomainDiskTarget{Dev: prefix + driveLetters(used[prefix]), Bus: bus},
		})
		used[prefix]++
	}
	return out
}

// driveLetters names the i-th drive the way Linux does: a..z, aa..az, ...
func driveLetters(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('a'+(i-1)%26)) + s
	}
	return s
}

func buildControllers(disks []diskPlan) []libvirtxml.DomainController {
	for _, d := range disks {
		if d.Bus == "scsi" {
			zero := uint(0)
			return []libvirtxml.DomainController{{Type: "scsi", Index: &zero, Model: "virtio-scsi"}}
		}
	}
	return nil
}

// buildNICs renders the NICs. Their option ROMs are off unless the VM boots
// from the network: a NIC needs no PXE ROM otherwise.
func buildNICs(nics []nicPlan, netBoot bool) []libvirtxml.DomainInterface {
	out := make([]libvirtxml.DomainInterface, 0, len(nics))
	for _, n := range nics {
		model := n.Model
		if model == "" {
			model = defaultNICModel
		}
		iface := libvirtxml.DomainInterface{
			Source: nicSource(n.NICSpec),
			Model:  &libvirtxml.DomainInterfaceModel{Type: model},
		}
		if n.MAC != "" {
			iface.MAC = &libvirtxml.DomainInterfaceMAC{Address: n.MAC}
		}
		if !netBoot {
			iface.ROM = &libvirtxml.DomainROM{Enabled: "no"}
		}
		out = append(out, iface)
	}
	return out
}

func nicSource(n backend.NICSpec) *libvirtxml.DomainInterfaceSource {
	switch n.Type {
	case backend.NICNetwork:
		return &libvirtxml.DomainInterfaceSource{Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: n.Source}}
	case backend.NICBridge:
		return &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: n.Source}}
	}
	return &libvirtxml.DomainInterfaceSource{User: &libvirtxml.DomainInterfaceSourceUser{}}
}

// testSpec is a minimal VM spec: 64 MiB, one vCPU, a user-mode NIC.
func testSpec(name string) backend.VMSpec {
	return backend.VMSpec{
		Name:      name,
		VCPUs:     1,
		MemoryMiB: 64,
		NICs:      []backend.NICSpec{{Type: backend.NICUser}},
	}
}
