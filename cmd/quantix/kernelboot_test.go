package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/testlibvirt"
)

// TestCLIKernelBoot: vm create -kernel -initrd -cmdline defines a direct
// kernel boot that vm show reads back, and vm edit changes and clears it;
// bad paths are refused naming the field. The VM is not started (its
// kernel is an empty file).
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
		{args: []string{"vm", "edit", name, "-cmdline", "console=ttyS0 loglevel=7"}, stdout: []string{"vm " + name + " updated (cmdline)"}},
		{args: []string{"vm", "show", name}, stdout: []string{"Kernel:          " + kernel, "Initrd:          " + initrd, "Cmdline:         console=ttyS0 loglevel=7"}},
		{args: []string{"vm", "edit", name, "-kernel", ""}, code: 1, stderr: []string{"initrd", "needs a kernel"}},
		{args: []string{"vm", "edit", name, "-kernel", "vmlinuz"}, code: 1, stderr: []string{"kernel", "not an absolute path"}},
		{args: []string{"vm", "edit", name}, code: 2, stderr: []string{"nothing to change"}},
		{args: []string{"vm", "edit", name, "-kernel", "", "-initrd", "", "-cmdline", ""}, stdout: []string{"vm " + name + " updated (cmdline, initrd, kernel)"}},
		{args: []string{"-output", "json", "vm", "show", name}, stdout: []string{`"kernel": ""`, `"initrd": ""`, `"cmdline": ""`}},
		{args: []string{"vm", "delete", name}, stdout: []string{"VM deleted"}},
	})
}
