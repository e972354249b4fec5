package backendtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// testKernelBoot checks, on a backend announcing backend.CapKernelBoot,
// that a VM created with a direct kernel boot reads back with its kernel,
// initrd and command line, and that bad kernel boot fields are refused
// naming the field. The kernel and initrd are empty files: the VM is not
// started.
func testKernelBoot(t *testing.T, e *env) {
	e.needCap(t, backend.CapKernelBoot, "direct kernel boot")
	dir, err := os.MkdirTemp("", "backendtest-kernel-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// Readable by a hypervisor running as another user.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	kernel, initrd := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
	for _, f := range []string{kernel, initrd} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("ReadBack", func(t *testing.T) {
		r := e.reserve(t, "kernel")
		spec := e.spec(t, r.name)
		spec.Kernel, spec.Initrd, spec.Cmdline = kernel, initrd, "console=ttyS0 quiet"
		vm, err := e.c.CreateVM(e.op(t), spec)
		e.add(r, vm)
		if err != nil {
			t.Fatalf("CreateVM(%q) with kernel %s, initrd %s, cmdline %q = %s, want a new stopped VM", spec.Name, spec.Kernel, spec.Initrd, spec.Cmdline, describe(err))
		}
		check := func(what string, got *backend.VM) {
			t.Helper()
			if got == nil {
				t.Errorf("%s: got no VM", what)
				return
			}
			if got.Spec.Kernel != spec.Kernel || got.Spec.Initrd != spec.Initrd || got.Spec.Cmdline != spec.Cmdline {
				t.Errorf("%s: kernel %q, initrd %q, cmdline %q; want %q, %q, %q as created",
					what, got.Spec.Kernel, got.Spec.Initrd, got.Spec.Cmdline, spec.Kernel, spec.Initrd, spec.Cmdline)
			}
		}
		check("CreateVM reply", vm)
		if vm == nil {
			return
		}
		got, err := e.c.GetVM(e.op(t), vm.ID)
		if err != nil {
			t.Errorf("GetVM(%s) = %s, want the VM", vm.ID, describe(err))
		} else {
			check("GetVM", got)
		}
		check("ListVMs entry", e.listByID(t, vm.ID))
	})

	cases := []struct {
		name   string
		mutate func(s *backend.VMSpec)
		field  string
	}{
		{"RelativeKernel", func(s *backend.VMSpec) { s.Kernel = "vmlinuz" }, "kernel"},
		{"KernelWithNUL", func(s *backend.VMSpec) { s.Kernel = kernel + "\x00x" }, "kernel"},
		{"RelativeInitrd", func(s *backend.VMSpec) { s.Kernel, s.Initrd = kernel, "initrd.img" }, "initrd"},
		{"InitrdWithoutKernel", func(s *backend.VMSpec) { s.Initrd = initrd }, "initrd"},
		{"CmdlineWithoutKernel", func(s *backend.VMSpec) { s.Cmdline = "console=ttyS0" }, "cmdline"},
		{"CmdlineTooLong", func(s *backend.VMSpec) {
			s.Kernel, s.Cmdline = kernel, strings.Repeat("x", backend.MaxCmdlineLength+1)
		}, "cmdline"},
		{"CmdlineWithNewline", func(s *backend.VMSpec) { s.Kernel, s.Cmdline = kernel, "console=ttyS0\ninit=/bin/sh" }, "cmdline"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.reserve(t, "kinv")
			spec := e.spec(t, r.name)
			tc.mutate(&spec)
			vm, err := e.c.CreateVM(e.op(t), spec)
			e.add(r, vm)
			what := "CreateVM(" + tc.name + ")"
			if wantKind(t, what, err, plugin.KindInvalidArgument) {
				if f := plugin.FieldOf(err); f != tc.field {
					t.Errorf("%s: %s names field %q, want %q", what, describe(err), f, tc.field)
				}
			}
			if left := e.listByName(t, r.name); len(left) != 0 {
				t.Errorf("%s left %d VMs named %q on the host, want none", what, len(left), r.name)
			}
		})
	}
}
