package backend

import (
	"strings"
	"testing"

	"github.com/quantixvm/quantix/sdk/plugin"
)

func TestValidateSpecKernelBoot(t *testing.T) {
	base := VMSpec{Name: "k", VCPUs: 1, MemoryMiB: 64}
	ok := []VMSpec{
		base,
		{Name: "k", VCPUs: 1, MemoryMiB: 64, Kernel: "/boot/vmlinuz"},
		{Name: "k", VCPUs: 1, MemoryMiB: 64, Kernel: "/boot/vmlinuz", Initrd: "/boot/initrd.img", Cmdline: "console=ttyS0 quiet"},
		{Name: "k", VCPUs: 1, MemoryMiB: 64, Kernel: "/b/k", Cmdline: strings.Repeat("x", MaxCmdlineLength)},
	}
	for _, s := range ok {
		if err := ValidateSpec(s); err != nil {
			t.Errorf("ValidateSpec(kernel %q, initrd %q, cmdline of %d bytes) = %v, want nil", s.Kernel, s.Initrd, len(s.Cmdline), err)
		}
	}
	bad := []struct {
		name                    string
		kernel, initrd, cmdline string
		field, says             string
	}{
		{"relative kernel", "vmlinuz", "", "", "kernel", "not an absolute path"},
		{"kernel with NUL", "/boot/vm\x00linuz", "", "", "kernel", "NUL"},
		{"kernel too long", "/" + strings.Repeat("a", MaxPathLength), "", "", "kernel", "at most 4096"},
		{"relative initrd", "/boot/vmlinuz", "boot/initrd", "", "initrd", "not an absolute path"},
		{"initrd without kernel", "", "/boot/initrd", "", "initrd", "only allowed with kernel"},
		{"cmdline without kernel", "", "", "quiet", "cmdline", "only allowed with kernel"},
		{"cmdline too long", "/boot/vmlinuz", "", strings.Repeat("x", MaxCmdlineLength+1), "cmdline", "at most 2048"},
		{"cmdline with NUL", "/boot/vmlinuz", "", "a\x00b", "cmdline", "control character"},
		{"cmdline with newline", "/boot/vmlinuz", "", "a\nb", "cmdline", "control character"},
		{"cmdline not UTF-8", "/boot/vmlinuz", "", "a\xffb", "cmdline", "UTF-8"},
	}
	for _, tc := range bad {
		s := base
		s.Kernel, s.Initrd, s.Cmdline = tc.kernel, tc.initrd, tc.cmdline
		err := ValidateSpec(s)
		if plugin.KindOf(err) != plugin.KindInvalidArgument || plugin.FieldOf(err) != tc.field || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: ValidateSpec = %v; want an invalid argument naming %s and saying %q", tc.name, err, tc.field, tc.says)
		}
		if err != nil && !strings.HasPrefix(err.Error(), tc.field+": ") {
			t.Errorf("%s: %q does not start with the field %q", tc.name, err, tc.field)
		}
	}
}

func TestCheckSpecSupported(t *testing.T) {
	plain := VMSpec{Name: "k", VCPUs: 1, MemoryMiB: 64}
	kernel := plain
	kernel.Kernel = "/boot/vmlinuz"
	caps := []string{CapEvents, CapKernelBoot}
	if err := CheckSpecSupported(plain, 1, nil); err != nil {
		t.Errorf("a spec without kernel boot on API version 1: %v", err)
	}
	if err := CheckSpecSupported(kernel, APIVersion, caps); err != nil {
		t.Errorf("kernel boot on version %d with %v: %v", APIVersion, caps, err)
	}
	for _, tc := range []struct {
		version int
		caps    []string
		says    string
	}{
		{1, caps, "needs backend API version 2"},
		{2, []string{CapEvents}, `does not offer direct kernel boot (capability "kernel-boot")`},
	} {
		err := CheckSpecSupported(kernel, tc.version, tc.caps)
		if plugin.KindOf(err) != plugin.KindUnsupported || plugin.FieldOf(err) != "kernel" || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("version %d, caps %v: %v; want unsupported naming kernel, saying %q", tc.version, tc.caps, err, tc.says)
		}
	}
}
