package backend

import (
	"fmt"
	"net"
	"regexp"
	"slices"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// Limits every backend enforces on a VMSpec.
const (
	MaxNameLength = 64
	MinMemoryMiB  = 16
	MaxVCPUs      = 4096
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// BootDevices are the values VMSpec.Boot accepts.
var BootDevices = []string{"hd", "cdrom", "network"}

// DiskBuses are the values DiskSpec.Bus accepts ("" means virtio).
var DiskBuses = []string{"", "virtio", "sata", "scsi", "ide"}

// ValidateName checks a VM name.
func ValidateName(field, name string) error {
	switch {
	case name == "":
		return plugin.InvalidArgument(field, "%s: must not be empty", field)
	case len(name) > MaxNameLength:
		return plugin.InvalidArgument(field, "%s: %d characters, at most %d allowed", field, len(name), MaxNameLength)
	case !nameRE.MatchString(name):
		return plugin.InvalidArgument(field, "%s: %q may only contain letters, digits, '.', '_' and '-'", field, name)
	case name == "." || name == "..":
		return plugin.InvalidArgument(field, "%s: %q is not a valid name", field, name)
	}
	return nil
}

// ValidateSpec checks what every backend requires of a spec. Errors are
// invalid-argument errors whose field is the path of the offending value.
func ValidateSpec(s VMSpec) error {
	if err := ValidateName("name", s.Name); err != nil {
		return err
	}
	if s.VCPUs == 0 {
		return plugin.InvalidArgument("vcpus", "vcpus: must be at least 1")
	}
	if s.VCPUs > MaxVCPUs {
		return plugin.InvalidArgument("vcpus", "vcpus: %d is more than %d", s.VCPUs, MaxVCPUs)
	}
	if s.MemoryMiB < MinMemoryMiB {
		return plugin.InvalidArgument("memory_mib", "memory_mib: %d MiB is less than the minimum of %d MiB", s.MemoryMiB, MinMemoryMiB)
	}
	for i, d := range s.Disks {
		f := fmt.Sprintf("disks[%d]", i)
		if d.Name != "" {
			if err := ValidateName(f+".name", d.Name); err != nil {
				return err
			}
		}
		if d.SizeGiB == 0 && d.BaseImage == "" {
			return plugin.InvalidArgument(f+".size_gib", "%s: needs size_gib for a new disk or base_image for an overlay", f)
		}
		if !slices.Contains(DiskBuses, d.Bus) {
			return plugin.InvalidArgument(f+".bus", "%s.bus: %q is not one of virtio, sata, scsi, ide", f, d.Bus)
		}
	}
	for i, n := range s.NICs {
		f := fmt.Sprintf("nics[%d]", i)
		switch n.Type {
		case NICNetwork, NICBridge:
			if n.Source == "" {
				return plugin.InvalidArgument(f+".source", "%s.source: a %s nic needs the %s name", f, n.Type, n.Type)
			}
		case NICUser:
		default:
			return plugin.InvalidArgument(f+".type", "%s.type: %q is not one of network, bridge, user", f, n.Type)
		}
		if n.MAC != "" {
			if _, err := net.ParseMAC(n.MAC); err != nil {
				return plugin.InvalidArgument(f+".mac", "%s.mac: %q is not a MAC address", f, n.MAC)
			}
		}
	}
	for i, b := range s.Boot {
		if !slices.Contains(BootDevices, b) {
			return plugin.InvalidArgument(fmt.Sprintf("boot[%d]", i), "boot[%d]: %q is not one of hd, cdrom, network", i, b)
		}
	}
	return nil
}
