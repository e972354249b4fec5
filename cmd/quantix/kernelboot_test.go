package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/testlibvirt"
)

// TestCLIKernelBoot: vm create -kernel -initrd -cmdline defines a direct
// kernel boot that vm show reads back; bad paths are refused naming the
// field. The VM is not started (its kernel is an empty file).
func TestCLIKernelBoot(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	dir, err := os.MkdirTemp("", "qx-cli-kernel-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	kernel, initrd := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
	for _, f := range []string{kernel, initrd} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	name := vmPrefix + testid.Hex(4)
	t.Cleanup(func() { _ = testlibvirt.RemoveDomain(name) })
	d.steps(t, name, []step{
		{args: []string{"vm", "create", name, "-memory", "64", "-kernel", kernel, "-initrd", initrd, "-cmdline", "console=ttyS0 quiet"},
			stdout: []string{"created vm " + name}, domain: "shut off"},
		{args: []string{"vm", "show", name}, stdout: []string{"Kernel:          " + kernel, "Initrd:          " + initrd, "Cmdline:         console=ttyS0 quiet"}},
		{args: []string{"vm", "create", name + "-x", "-memory", "64", "-kernel", "vmlinuz"}, code: 1, stderr: []string{"kernel", "not an absolute path"}},
		{args: []string{"vm", "create", name + "-x", "-memory", "64", "-initrd", initrd}, code: 1, stderr: []string{"initrd", "only allowed with kernel"}},
		{args: []string{"vm", "create", name + "-x", "-memory", "64", "-kernel", filepath.Join(dir, "nope")}, code: 1, stderr: []string{"kernel", "no such file"}},
		{args: []string{"vm", "delete", name}, stdout: []string{"VM deleted"}},
	})
}
