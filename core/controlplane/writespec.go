package controlplane

import (
	"context"
	"fmt"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
)

// setDesired writes a VM's desired_state.
func (s *Service) setDesired(ctx context.Context, id string, d vm.DesiredState) (*vm.VM, error) {
	return s.writeSpec(ctx, id, nil, func(v *vm.VM) error {
		v.DesiredState = d
		return nil
	})
}

// writeSpec is the write path of what users own (spec, desired_state, name,
// labels, ...): in one transaction it reads the VM, lets mutate change it,
// writes it if nobody wrote meanwhile and, with a note, appends an event;
// it starts over on store.ErrStale and answers a conflict once the retries
// are spent.
func (s *Service) writeSpec(ctx context.Context, id string, note *Note, mutate func(v *vm.VM) error) (*vm.VM, error) {
	var out *vm.VM
	var ev *vm.Event
	err := retryStale(func() error {
		ev = nil
		return s.store.Tx(ctx, func(tx store.Store) error {
			v, err := tx.VMs().Get(ctx, id)
			if err != nil {
				return err
			}
			if err := mutate(v); err != nil {
				return err
			}
			if err := tx.VMs().Update(ctx, v); err != nil {
				return err
			}
			out = v
			if note == nil {
				return nil
			}
			ev = &vm.Event{
				VMID: v.ID, Action: note.Action, OldState: v.State, NewState: v.State, Cause: note.Cause, Message: note.Message,
			}
			return tx.Events().Append(ctx, ev)
		})
	})
	if err != nil {
		return nil, storeError(fmt.Sprintf("updating vm %s", id), err)
	}
	if ev != nil {
		s.rec.pub.PublishVM(ev)
	}
	return out, nil
}
