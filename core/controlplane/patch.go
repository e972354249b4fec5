package controlplane

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/quantixvm/quantix/core/admission"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

// PatchRequest changes some fields of a VM; nil fields stay as they are.
// Name, description, labels, restart_policy and desired_state may change in
// any state; the spec fields (vcpus, memory_mib, disks, nics, boot, kernel,
// initrd, cmdline) only where vm.Check allows ActionEdit. Labels replace the
// whole set. An empty kernel, initrd or cmdline clears it; the spec the
// patch leaves must pass the same checks as at create (initrd and cmdline
// only with a kernel).
type PatchRequest struct {
	Name          *string
	Description   *string
	Labels        *map[string]string
	RestartPolicy *string
	DesiredState  *string
	VCPUs         *int64
	MemoryMiB     *int64
	Disks         *[]vm.Disk
	NICs          *[]vm.NIC
	Boot          *[]string
	Kernel        *string
	Initrd        *string
	Cmdline       *string
}

// fields lists the fields the patch sets, in reply order.
func (p PatchRequest) fields() []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(p.Name != nil, "name")
	add(p.Description != nil, "description")
	add(p.Labels != nil, "labels")
	add(p.RestartPolicy != nil, "restart_policy")
	add(p.DesiredState != nil, "desired_state")
	add(p.VCPUs != nil, "vcpus")
	add(p.MemoryMiB != nil, "memory_mib")
	add(p.Disks != nil, "disks")
	add(p.NICs != nil, "nics")
	add(p.Boot != nil, "boot")
	add(p.Kernel != nil, "kernel")
	add(p.Initrd != nil, "initrd")
	add(p.Cmdline != nil, "cmdline")
	return out
}

// touchesSpec reports whether the patch changes the VM's shape.
func (p PatchRequest) touchesSpec() bool {
	return p.VCPUs != nil || p.MemoryMiB != nil || p.Disks != nil || p.NICs != nil || p.Boot != nil ||
		p.Kernel != nil || p.Initrd != nil || p.Cmdline != nil
}

// check validates what can be checked without the VM.
func (p PatchRequest) check() error {
	if p.Name != nil {
		if err := specError(backend.ValidateName("name", *p.Name)); err != nil {
			return err
		}
	}
	if p.Description != nil {
		if err := admit(admission.Description(*p.Description), nil); err != nil {
			return err
		}
	}
	if p.Labels != nil {
		if err := admit(admission.Labels(*p.Labels), nil); err != nil {
			return err
		}
	}
	if p.RestartPolicy != nil {
		if _, err := vm.ParseRestartPolicy(*p.RestartPolicy); err != nil || *p.RestartPolicy == "" {
			return invalid("restart_policy", "restart_policy: %q is not one of never, on-crash, always", *p.RestartPolicy)
		}
	}
	if p.DesiredState != nil {
		if _, err := vm.ParseDesiredState(*p.DesiredState); err != nil {
			return invalid("desired_state", "desired_state: %q is not one of running, stopped", *p.DesiredState)
		}
	}
	if p.VCPUs != nil {
		if err := admit(admission.Size("vcpus", *p.VCPUs, 1, admission.MaxVCPUs), nil); err != nil {
			return err
		}
	}
	if p.MemoryMiB != nil {
		if err := admit(admission.Size("memory_mib", *p.MemoryMiB, backend.MinMemoryMiB, admission.MaxMemoryMiB), nil); err != nil {
			return err
		}
	}
	return nil
}

// checkKernelKept refuses a patch that clears the kernel of spec s (as
// applied) while initrd or cmdline stay, naming the field left behind:
// both only make sense with a kernel.
func (p PatchRequest) checkKernelKept(s vm.Spec) error {
	if p.Kernel == nil || *p.Kernel != "" {
		return nil
	}
	for _, f := range []struct{ name, value string }{{"initrd", s.Initrd}, {"cmdline", s.Cmdline}} {
		if f.value != "" {
			return invalid(f.name, "%s: the vm keeps %s %q, which needs a kernel; clear %s too (\"%s\": \"\") or keep the kernel", f.name, f.name, f.value, f.name, f.name)
		}
	}
	return nil
}

// apply changes v as the patch says.
func (p PatchRequest) apply(v *vm.VM) {
	if p.Name != nil {
		v.Name = *p.Name
	}
	if p.Description != nil {
		v.Description = *p.Description
	}
	if p.Labels != nil {
		v.Labels = maps.Clone(*p.Labels)
	}
	if p.RestartPolicy != nil {
		v.RestartPolicy, _ = vm.ParseRestartPolicy(*p.RestartPolicy)
	}
	if p.DesiredState != nil {
		v.DesiredState, _ = vm.ParseDesiredState(*p.DesiredState)
	}
	if p.VCPUs != nil {
		v.Spec.VCPUs = uint32(*p.VCPUs)
	}
	if p.MemoryMiB != nil {
		v.Spec.MemoryMiB = uint64(*p.MemoryMiB)
	}
	if p.Disks != nil {
		disks := slices.Clone(*p.Disks)
		for i := range disks {
			// A disk keeps the path the host gave it while it stays at its
			// place under its name.
			disks[i].Path = ""
			if i < len(v.Spec.Disks) && v.Spec.Disks[i].Name == disks[i].Name {
				disks[i].Path = v.Spec.Disks[i].Path
			}
		}
		v.Spec.Disks = disks
	}
	if p.NICs != nil {
		v.Spec.NICs = slices.Clone(*p.NICs)
	}
	if p.Boot != nil {
		v.Spec.Boot = slices.Clone(*p.Boot)
	}
	if p.Kernel != nil {
		v.Spec.Kernel = *p.Kernel
	}
	if p.Initrd != nil {
		v.Spec.Initrd = *p.Initrd
	}
	if p.Cmdline != nil {
		v.Spec.Cmdline = *p.Cmdline
	}
}

// Patch changes the fields the request sets and records an "edit" event.
// The spec fields need a state where the VM may be edited (a conflict naming
// the state otherwise); a name taken by another VM is a conflict.
func (s *Service) Patch(ctx context.Context, ref string, p PatchRequest) (*vm.VM, error) {
	v, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := requireManaged(v, "edit"); err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	fields := p.fields()
	if len(fields) == 0 {
		return v, nil
	}
	if (p.VCPUs != nil || p.MemoryMiB != nil) && v.NodeID != "" {
		vcpus, mem := v.Spec.VCPUs, v.Spec.MemoryMiB
		if p.VCPUs != nil {
			vcpus = uint32(*p.VCPUs)
		}
		if p.MemoryMiB != nil {
			mem = uint64(*p.MemoryMiB)
		}
		if err := s.checkFits(ctx, v.NodeID, vcpus, mem); err != nil {
			return nil, err
		}
	}
	if p.Name != nil && *p.Name != v.Name {
		if other, err := s.store.VMs().GetByName(ctx, *p.Name); err == nil && other.IsManaged && other.ID != v.ID {
			return nil, nameTaken(*p.Name, other, v)
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, storeError(fmt.Sprintf("renaming vm %q", v.Name), err)
		}
	}
	note := &Note{Cause: vm.CauseAPI, Action: string(vm.ActionEdit), Message: "changed " + strings.Join(fields, ", ")}
	out, err := s.writeSpec(ctx, v.ID, note, func(cur *vm.VM) error {
		if p.touchesSpec() {
			if err := vm.Check(vm.ActionEdit, cur.State, false); err != nil {
				return transitionError(cur, err)
			}
		}
		p.apply(cur)
		if err := p.checkKernelKept(cur.Spec); err != nil {
			return err
		}
		if p.touchesSpec() || p.Name != nil {
			return checkSpec(cur.Name, cur.Spec)
		}
		return nil
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Kind == KindConflict && e.VM == nil {
			e.VM = v
			if p.Name != nil && errors.Is(err, store.ErrConflict) {
				e.Message = fmt.Sprintf("vm name %q is taken by another vm", *p.Name)
			}
		}
		return nil, err
	}
	s.log.Info("vm edited", "vm", out.Name, "id", out.ID, "fields", strings.Join(fields, ","))
	return out, nil
}
