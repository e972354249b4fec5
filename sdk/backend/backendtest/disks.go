package backendtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

const gib = 1 << 30

// testDisks checks CreateVM with disks for backends announcing
// backend.CapDisks: bad disk specs, new empty disks as reported, their
// removal with DeleteDisks, and a failed disk leaving no VM behind.
func testDisks(t *testing.T, e *env) {
	e.needCap(t, backend.CapDisks, "CreateVM with disks")

	t.Run("Invalid", func(t *testing.T) {
		cases := []struct {
			name  string
			disks []backend.DiskSpec
			field string
		}{
			{"NoSizeNoBase", []backend.DiskSpec{{}}, "disks[0].size_gib"},
			{"BadBus", []backend.DiskSpec{{SizeGiB: 1}, {SizeGiB: 1, Bus: "floppy"}}, "disks[1].bus"},
			{"BadName", []backend.DiskSpec{{SizeGiB: 1, Name: "a/b"}}, "disks[0].name"},
		}
		for _, tc := range cases {
			r := e.reserve(t, "diskinv")
			spec := e.spec(t, r.name)
			spec.Disks = tc.disks
			vm, err := e.c.CreateVM(e.op(t), spec)
			e.add(r, vm)
			what := "CreateVM(" + tc.name + ")"
			if wantKind(t, what, err, plugin.KindInvalidArgument) {
				if f := plugin.FieldOf(err); f != tc.field {
					t.Errorf("%s: %s names field %q, want %q", what, describe(err), f, tc.field)
				}
			}
			if left := e.listByName(t, spec.Name); len(left) != 0 {
				t.Errorf("%s left %d VMs named %q on the host, want none", what, len(left), spec.Name)
			}
		}
	})

	t.Run("CreateDelete", func(t *testing.T) {
		r := e.reserve(t, "disks")
		spec := e.spec(t, r.name)
		spec.Disks = append(spec.Disks, backend.DiskSpec{SizeGiB: 1}, backend.DiskSpec{SizeGiB: 2, Bus: "sata"})
		vm, err := e.c.CreateVM(e.op(t), spec)
		e.add(r, vm)
		if err != nil {
			t.Fatalf("CreateVM(%q with a 1 GiB and a 2 GiB disk) = %s, want a new VM with both disks", spec.Name, describe(err))
		}
		check := func(what string, got *backend.VM) []string {
			t.Helper()
			if len(got.Disks) != len(spec.Disks) {
				t.Errorf("%s: %d disks %+v, want %d", what, len(got.Disks), got.Disks, len(spec.Disks))
				return nil
			}
			var local []string
			seen := map[string]bool{}
			for i, d := range got.Disks {
				want := spec.Disks[i].SizeGiB * gib
				switch {
				case d.Path == "":
					t.Errorf("%s: disk %d has no path", what, i)
				case seen[d.Path]:
					t.Errorf("%s: disk %d has the path %s of another disk", what, i, d.Path)
				}
				seen[d.Path] = true
				if !d.Owned {
					t.Errorf("%s: disk %d (%s) Owned false, want true for a disk created for the VM", what, i, d.Path)
				}
				if d.SizeBytes != want {
					t.Errorf("%s: disk %d (%s) SizeBytes %d, want %d (%d GiB as asked)", what, i, d.Path, d.SizeBytes, want, spec.Disks[i].SizeGiB)
				}
				if filepath.IsAbs(d.Path) {
					if _, err := os.Stat(d.Path); err == nil {
						local = append(local, d.Path)
					}
				}
			}
			return local
		}
		local := check("CreateVM reply", vm)
		got, err := e.c.GetVM(e.op(t), vm.ID)
		if err != nil {
			t.Fatalf("GetVM(%s) = %s, want the VM with its disks", vm.ID, describe(err))
		}
		check("GetVM", got)
		if len(local) == 0 {
			t.Logf("the disks are not files on this machine: their removal by DeleteDisks is not checked")
		}
		if err := e.c.DeleteVM(e.op(t), vm.ID, backend.DeleteOptions{DeleteDisks: true}); err != nil {
			t.Fatalf("DeleteVM(%s, DeleteDisks) = %s, want success", vm.ID, describe(err))
		}
		e.wantGone(t, vm.ID, spec.Name)
		for _, p := range local {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("disk %s of VM %q still exists after DeleteVM(DeleteDisks) (stat: %v), want it removed", p, spec.Name, err)
			}
		}
	})

	t.Run("MissingBaseImage", func(t *testing.T) {
		r := e.reserve(t, "diskbase")
		spec := e.spec(t, r.name)
		base := filepath.Join(os.TempDir(), fmt.Sprintf("qx-conf-missing-%s", randHex(6)), "base.qcow2")
		spec.Disks = append(spec.Disks, backend.DiskSpec{SizeGiB: 1}, backend.DiskSpec{BaseImage: base})
		vm, err := e.c.CreateVM(e.op(t), spec)
		e.add(r, vm)
		if err == nil {
			t.Errorf("CreateVM(%q with an overlay over missing %s) succeeded with %s, want an error", spec.Name, base, fmtVM(vm))
		} else {
			t.Logf("CreateVM with a missing base image: %s", describe(err))
		}
		if left := e.listByName(t, spec.Name); len(left) != 0 {
			t.Errorf("a failed CreateVM(%q) left %d VMs on the host, want none (on any error nothing of the VM is left)", spec.Name, len(left))
		}
	})
}
