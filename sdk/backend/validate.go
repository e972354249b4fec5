package backend

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// Limits every backend enforces on a VMSpec.
const (
	MaxNameLength = 64
	MinMemoryMiB  = 16
	MaxVCPUs      = 4096
	// MaxPathLength bounds Kernel and Initrd (Linux's PATH_MAX).
	MaxPathLength = 4096
	// MaxCmdlineLength bounds Cmdline (x86 Linux's COMMAND_LINE_SIZE).
	MaxCmdlineLength = 2048
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
	return validateKernelBoot(s)
}

// validateKernelBoot checks the direct kernel boot fields: absolute paths
// and a bounded command line, without NUL or other control characters;
// initrd and cmdline only with a kernel.
func validateKernelBoot(s VMSpec) error {
	if s.Kernel == "" {
		switch {
		case s.Initrd != "":
			return plugin.InvalidArgument("initrd", "initrd: only allowed with kernel (direct kernel boot); set kernel too or leave initrd empty")
		case s.Cmdline != "":
			return plugin.InvalidArgument("cmdline", "cmdline: only allowed with kernel (direct kernel boot); set kernel too or leave cmdline empty")
		}
		return nil
	}
	if err := validateHostPath("kernel", s.Kernel); err != nil {
		return err
	}
	if s.Initrd != "" {
		if err := validateHostPath("initrd", s.Initrd); err != nil {
			return err
		}
	}
	if len(s.Cmdline) > MaxCmdlineLength {
		return plugin.InvalidArgument("cmdline", "cmdline: %d bytes, at most %d allowed", len(s.Cmdline), MaxCmdlineLength)
	}
	if i := strings.IndexFunc(s.Cmdline, unicode.IsControl); i >= 0 {
		return plugin.InvalidArgument("cmdline", "cmdline: control character %q at byte %d; the kernel command line is one line of printable text", s.Cmdline[i], i)
	}
	if !utf8.ValidString(s.Cmdline) {
		return plugin.InvalidArgument("cmdline", "cmdline: not valid UTF-8")
	}
	return nil
}

// validateHostPath checks a path on the VM's host: absolute, bounded, no
// NUL or other control characters.
func validateHostPath(field, p string) error {
	switch {
	case len(p) > MaxPathLength:
		return plugin.InvalidArgument(field, "%s: %d bytes, at most %d allowed", field, len(p), MaxPathLength)
	case strings.IndexFunc(p, unicode.IsControl) >= 0:
		return plugin.InvalidArgument(field, "%s: %q contains a NUL or control character", field, p)
	case !utf8.ValidString(p):
		return plugin.InvalidArgument(field, "%s: %q is not valid UTF-8", field, p)
	case !path.IsAbs(p):
		return plugin.InvalidArgument(field, "%s: %q is not an absolute path; give the file's full path on the VM's host", field, p)
	}
	return nil
}

// CheckSpecSupported refuses a spec using what a backend that negotiated
// apiVersion and announces caps does not offer, with an unsupported error
// naming the field, so that no field is silently ignored: direct kernel
// boot needs API version 2 and CapKernelBoot. The host calls it before
// CreateVM.
func CheckSpecSupported(s VMSpec, apiVersion int, caps []string) error {
	if s.Kernel == "" && s.Initrd == "" && s.Cmdline == "" {
		return nil
	}
	if apiVersion < 2 {
		return &plugin.Error{Kind: plugin.KindUnsupported, Field: "kernel",
			Message: fmt.Sprintf("kernel: direct kernel boot needs backend API version 2, the backend speaks version %d; upgrade the backend plugin or leave kernel, initrd and cmdline empty", apiVersion)}
	}
	if !slices.Contains(caps, CapKernelBoot) {
		return &plugin.Error{Kind: plugin.KindUnsupported, Field: "kernel",
			Message: fmt.Sprintf("kernel: the backend does not offer direct kernel boot (capability %q); leave kernel, initrd and cmdline empty", CapKernelBoot)}
	}
	return nil
}
