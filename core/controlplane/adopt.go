package controlplane

import (
	"context"
	"errors"
	"fmt"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
)

// Adopt makes a host-discovered VM managed: its origin becomes imported,
// is_managed true, and desired_state follows what it does now (running
// unless it is stopped, crashed or in error). Its name must not be taken by
// another managed VM. Any other VM is refused with a conflict saying why.
func (s *Service) Adopt(ctx context.Context, ref string) (*ActionResult, error) {
	v, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := adoptable(v); err != nil {
		return nil, err
	}
	if other, err := s.store.VMs().GetByName(ctx, v.Name); err == nil && other.IsManaged && other.ID != v.ID {
		return nil, adoptNameTaken(v, other.ID)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, storeError(fmt.Sprintf("adopting vm %q", v.Name), err)
	}
	note := &Note{Cause: vm.CauseAPI, Action: string(vm.ActionAdopt),
		Message: "adopted: host-discovered → imported; quantix manages it now"}
	out, err := s.writeSpec(ctx, v.ID, note, func(cur *vm.VM) error {
		if err := adoptable(cur); err != nil {
			return err
		}
		cur.Origin, cur.IsManaged = vm.OriginImported, true
		cur.DesiredState = vm.DesiredRunning
		switch cur.State {
		case vm.StateStopped, vm.StateCrashed, vm.StateError:
			cur.DesiredState = vm.DesiredStopped
		}
		if cur.RestartPolicy == "" {
			cur.RestartPolicy = vm.RestartNever
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, adoptNameTaken(v, "")
		}
		return nil, err
	}
	s.log.Info("vm adopted", "vm", out.Name, "id", out.ID, "node", out.NodeID)
	return &ActionResult{VM: out, Message: "VM adopted"}, nil
}

// adoptable refuses VMs that are not host-discovered.
func adoptable(v *vm.VM) error {
	if v.Origin == vm.OriginHostDiscovered && !v.IsManaged {
		return nil
	}
	return &Error{Kind: KindConflict, VM: v,
		Message: fmt.Sprintf("vm %q is already managed by quantix (origin %s): only host-discovered vms can be adopted", v.Name, v.Origin)}
}

func adoptNameTaken(v *vm.VM, otherID string) error {
	by := "another managed vm"
	if otherID != "" {
		by = "managed vm " + otherID
	}
	return &Error{Kind: KindConflict, VM: v, Err: store.ErrConflict,
		Message: fmt.Sprintf("vm %q cannot be adopted: its name is taken by %s; rename or delete that one first", v.Name, by)}
}
