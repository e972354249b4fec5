package backendtest

import (
	"context"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// testCreate checks CreateVM, how the new VM is reported, duplicate names
// and deleting a stopped VM without Force.
func testCreate(t *testing.T, e *env) {
	r := e.reserve(t, "create")
	spec := e.spec(t, r.name)
	spec.Description = "backendtest create " + randHex(4)

	vm, err := e.c.CreateVM(e.op(t), spec)
	e.add(r, vm)
	if err != nil {
		t.Fatalf("CreateVM(%q) = %s, want a new stopped VM", spec.Name, describe(err))
	}
	checkCreated := func(what string, got *backend.VM) {
		t.Helper()
		if got == nil {
			t.Errorf("%s: got no VM", what)
			return
		}
		if err := checkUUID(got.ID); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		if got.ID != vm.ID {
			t.Errorf("%s: id %q, want %q (the id CreateVM returned)", what, got.ID, vm.ID)
		}
		if got.Name != spec.Name {
			t.Errorf("%s: name %q, want %q", what, got.Name, spec.Name)
		}
		if got.State != backend.StateStopped {
			t.Errorf("%s: state %s, want %s for a VM just created", what, got.State, backend.StateStopped)
		}
		if !got.Managed {
			t.Errorf("%s: Managed false, want true for a VM created through the backend", what)
		}
		if got.Spec.Name != spec.Name {
			t.Errorf("%s: spec.name %q, want %q", what, got.Spec.Name, spec.Name)
		}
		if got.Spec.VCPUs != spec.VCPUs {
			t.Errorf("%s: spec.vcpus %d, want %d as created", what, got.Spec.VCPUs, spec.VCPUs)
		}
		if got.Spec.MemoryMiB != spec.MemoryMiB {
			t.Errorf("%s: spec.memory_mib %d, want %d as created", what, got.Spec.MemoryMiB, spec.MemoryMiB)
		}
		if got.Spec.Description != spec.Description {
			t.Errorf("%s: spec.description %q, want %q as created (a description is kept with the VM)", what, got.Spec.Description, spec.Description)
		}
	}
	if vm == nil {
		t.Fatalf("CreateVM(%q) returned no VM and no error", spec.Name)
	}
	checkCreated("CreateVM reply", vm)

	got, err := e.c.GetVM(e.op(t), vm.ID)
	if err != nil {
		t.Errorf("GetVM(%s) right after CreateVM = %s, want the VM", vm.ID, describe(err))
	} else {
		checkCreated("GetVM", got)
	}
	listed := e.listByName(t, spec.Name)
	if len(listed) != 1 {
		t.Errorf("ListVMs() has %d VMs named %q after CreateVM, want 1", len(listed), spec.Name)
	}
	if l := e.listByID(t, vm.ID); l == nil {
		t.Errorf("ListVMs() does not list VM %s (%q) after CreateVM", vm.ID, spec.Name)
	} else {
		checkCreated("ListVMs entry", l)
	}

	// The same name again is a conflict and leaves the first VM alone.
	dup := spec
	dup.VCPUs = spec.VCPUs + 1
	vm2, err := e.c.CreateVM(e.op(t), dup)
	e.add(r, vm2)
	wantKind(t, "CreateVM with a name already in use", err, plugin.KindConflict)
	if n := len(e.listByName(t, spec.Name)); n != 1 {
		t.Errorf("ListVMs() has %d VMs named %q after a duplicate CreateVM, want 1", n, spec.Name)
	}
	if got, err := e.c.GetVM(e.op(t), vm.ID); err != nil {
		t.Errorf("GetVM(%s) after a duplicate CreateVM = %s, want the first VM", vm.ID, describe(err))
	} else {
		checkCreated("GetVM after a duplicate CreateVM", got)
	}

	// A stopped VM is deleted without Force.
	if err := e.c.DeleteVM(e.op(t), vm.ID, backend.DeleteOptions{DeleteDisks: true}); err != nil {
		t.Fatalf("DeleteVM(%s) of a stopped VM without Force = %s, want success", vm.ID, describe(err))
	}
	e.wantGone(t, vm.ID, spec.Name)
}

// wantGone checks that a deleted VM is gone from GetVM and ListVMs.
func (e *env) wantGone(t *testing.T, id, name string) {
	t.Helper()
	got, err := e.c.GetVM(e.op(t), id)
	if plugin.KindOf(err) != plugin.KindNotFound {
		t.Errorf("GetVM(%s) after DeleteVM = %s, %s; want a not found error", id, fmtVM(got), describe(err))
	}
	if l := e.listByID(t, id); l != nil {
		t.Errorf("ListVMs() still lists deleted VM %s: %s", id, fmtVM(l))
	}
	if n := len(e.listByName(t, name)); n != 0 {
		t.Errorf("ListVMs() still lists %d VMs named %q after DeleteVM", n, name)
	}
}

// testInvalidSpec checks that CreateVM refuses bad specs with an
// invalid-argument error naming the field, and leaves nothing behind.
func testInvalidSpec(t *testing.T, e *env) {
	prefix := e.h.namePrefix()
	cases := []struct {
		name   string
		mutate func(s *backend.VMSpec)
		field  string
	}{
		{"ZeroVCPUs", func(s *backend.VMSpec) { s.VCPUs = 0 }, "vcpus"},
		{"Memory8MiB", func(s *backend.VMSpec) { s.MemoryMiB = 8 }, "memory_mib"},
		{"EmptyName", func(s *backend.VMSpec) { s.Name = "" }, "name"},
		{"Name65Chars", func(s *backend.VMSpec) {
			s.Name = s.Name + strings.Repeat("x", backend.MaxNameLength+1-len(s.Name))
		}, "name"},
		{"NameWithSlash", func(s *backend.VMSpec) { s.Name = prefix + "a/b-" + randHex(4) }, "name"},
		{"NameWithSpace", func(s *backend.VMSpec) { s.Name = prefix + "a b-" + randHex(4) }, "name"},
		{"BadNICType", func(s *backend.VMSpec) { s.NICs = []backend.NICSpec{{Type: "token-ring"}} }, "nics[0].type"},
		{"BadBootDevice", func(s *backend.VMSpec) { s.Boot = []string{"floppy"} }, "boot[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.reserve(t, "inv")
			spec := e.spec(t, r.name)
			tc.mutate(&spec)
			bad := r
			if spec.Name != r.name {
				bad = e.reserveName(t, spec.Name)
			}
			vm, err := e.c.CreateVM(e.op(t), spec)
			e.add(bad, vm)
			what := "CreateVM(" + tc.name + ")"
			if wantKind(t, what, err, plugin.KindInvalidArgument) {
				if f := plugin.FieldOf(err); f != tc.field {
					t.Errorf("%s: %s names field %q, want %q", what, describe(err), f, tc.field)
				}
			}
			if vm != nil {
				t.Errorf("%s returned VM %s, want none", what, fmtVM(vm))
			}
			for _, n := range []string{r.name, spec.Name} {
				if left := e.listByName(t, n); len(left) != 0 {
					t.Errorf("%s left %d VMs named %q on the host, want none: %s", what, len(left), n, fmtVM(left[0]))
				}
			}
		})
	}
}

// testNotFound checks that operations on an id no VM has are not-found
// errors, and that deleting such an id succeeds.
func testNotFound(t *testing.T, e *env) {
	id := randomUUID()
	type op struct {
		name string
		call func() error
	}
	ops := []op{
		{"GetVM", func() error { _, err := e.c.GetVM(e.op(t), id); return err }},
		{"StartVM", func() error { _, err := e.c.StartVM(e.op(t), id); return err }},
		{"StopVM(Force)", func() error { _, err := e.c.StopVM(e.op(t), id, backend.StopOptions{Force: true}); return err }},
		{"StopVM(graceful)", func() error {
			_, err := e.c.StopVM(e.op(t), id, backend.StopOptions{Timeout: e.h.gracefulStopTimeout()})
			return err
		}},
		{"PauseVM", func() error { _, err := e.c.PauseVM(e.op(t), id); return err }},
		{"ResumeVM", func() error { _, err := e.c.ResumeVM(e.op(t), id); return err }},
		{"RebootVM", func() error { _, err := e.c.RebootVM(e.op(t), id); return err }},
	}
	if e.info.Has(backend.CapLogs) {
		ops = append(ops,
			op{"TailLog", func() error { _, err := e.c.TailLog(e.op(t), id, 10); return err }},
			op{"StreamLog", func() error {
				sctx, scancel := context.WithTimeout(t.Context(), e.h.eventTimeout())
				defer scancel()
				err := e.c.StreamLog(sctx, id, 0, func(backend.LogLine) error { return nil })
				if err == nil && sctx.Err() != nil {
					t.Errorf("StreamLog(unknown id %s) kept following for %s without an error, want a not found error at once", id, e.h.eventTimeout())
				}
				return err
			}},
		)
	} else {
		t.Logf("backend does not announce %q: TailLog and StreamLog of an unknown id are not tested", backend.CapLogs)
	}
	for _, op := range ops {
		wantKind(t, op.name+"(unknown id "+id+")", op.call(), plugin.KindNotFound)
	}
	for _, opts := range []backend.DeleteOptions{{}, {Force: true, DeleteDisks: true}} {
		if err := e.c.DeleteVM(e.op(t), id, opts); err != nil {
			t.Errorf("DeleteVM(unknown id %s, %+v) = %s, want success (deleting a VM that does not exist succeeds)", id, opts, describe(err))
		}
	}
}
