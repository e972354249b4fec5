package sim

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// The methods of this file change the simulated host behind Quantix's back,
// as a user with virsh or a misbehaving guest would. Each one sends the
// events the change causes (unless the connection is down, see Disconnect)
// and none waits for the configured latency. In-process, tests call them
// directly; a plugin process offers some of them on its control socket
// (control.go) when one is configured.

// script runs fn on VM id with b.mu held.
func (b *Backend) script(verb, id string, fn func(verb string, vm *backend.VM) error) (*backend.VM, error) {
	id, err := checkID(id)
	if err != nil {
		return nil, err
	}
	verb += " vm " + id
	if _, err := b.current(verb); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	vm, err := b.lookup(verb, id)
	if err != nil {
		return nil, err
	}
	if err := fn(verb, vm); err != nil {
		return nil, err
	}
	return cloneVM(vm), nil
}

// SetState puts VM id in any power state, transitional ones included (a
// VM stuck STARTING or STOPPING), with reason "scripted". Setting the state
// the VM is in changes nothing and sends no event.
func (b *Backend) SetState(id string, state backend.PowerState) (*backend.VM, error) {
	if err := checkState("state", state); err != nil {
		return nil, err
	}
	return b.script("setting the state of", id, func(_ string, vm *backend.VM) error {
		b.setState(vm, state, ReasonScripted)
		return nil
	})
}

// Crash makes the guest of a running, paused, suspended, starting or
// stopping VM crash: CRASHED, reason "crashed". Any other state is a
// conflict naming it.
func (b *Backend) Crash(id string) (*backend.VM, error) {
	return b.script("crashing", id, func(verb string, vm *backend.VM) error {
		switch vm.State {
		case backend.StateRunning, backend.StatePaused, backend.StateSuspended, backend.StateStarting, backend.StateStopping:
			b.setState(vm, backend.StateCrashed, ReasonCrashed)
			return nil
		}
		return stateConflict(verb, vm, "")
	})
}

// GuestShutdown makes the guest of a running or stopping VM power itself
// off: STOPPED, reason "shutdown", as after a shutdown inside the guest.
// Any other state is a conflict naming it.
func (b *Backend) GuestShutdown(id string) (*backend.VM, error) {
	return b.script("shutting down the guest of", id, func(verb string, vm *backend.VM) error {
		switch vm.State {
		case backend.StateRunning, backend.StateStopping:
			b.setState(vm, backend.StateStopped, ReasonShutdown)
			return nil
		}
		return stateConflict(verb, vm, "")
	})
}

// Remove makes VM id vanish without DeleteVM, whatever its state, as
// `virsh undefine` of a stopped VM does: a deleted event with reason
// "removed". It returns the VM as it was, for Import elsewhere.
func (b *Backend) Remove(id string) (*backend.VM, error) {
	return b.remove(id, ReasonRemoved)
}

func (b *Backend) remove(id, reason string) (*backend.VM, error) {
	return b.script("removing", id, func(_ string, vm *backend.VM) error {
		b.drop(vm, reason)
		return nil
	})
}

// AddForeign defines a stopped VM not created through Quantix (Managed
// false), as `virsh define` does: a created event with reason "added".
// Start it with StartVM or SetState. spec must pass backend.ValidateSpec
// and its name be free.
func (b *Backend) AddForeign(spec backend.VMSpec) (*backend.VM, error) {
	if err := backend.ValidateSpec(spec); err != nil {
		return nil, err
	}
	verb := "adding foreign vm " + spec.Name
	s, err := b.current(verb)
	if err != nil {
		return nil, err
	}
	vm, err := newVM(s.hostname, spec, false)
	if err != nil {
		return nil, err
	}
	return b.importVM(verb, vm, ReasonAdded)
}

// Import puts vm on the host as it is: its UUID (the nil and all-0xFF ones
// too, which the agent must ignore), name, state (STOPPED when empty),
// managed flag, spec and disks. A created event with reason "added"
// carries its state. Its id and name must be free; its name must be a
// valid VM name and its spec, when it has a name, name the VM.
func (b *Backend) Import(vm backend.VM) (*backend.VM, error) {
	return b.importAs(vm, ReasonAdded)
}

func (b *Backend) importAs(vm backend.VM, reason string) (*backend.VM, error) {
	verb := "importing vm " + vm.Name
	id, err := uuid.Parse(vm.ID)
	if err != nil || !uuidRE.MatchString(vm.ID) {
		return nil, plugin.InvalidArgument("id", "%s: id %q is not a uuid", verb, vm.ID)
	}
	if err := backend.ValidateName("name", vm.Name); err != nil {
		return nil, err
	}
	if vm.Spec.Name == "" {
		vm.Spec.Name = vm.Name
	}
	if vm.Spec.Name != vm.Name {
		return nil, plugin.InvalidArgument("spec.name", "%s: spec.name %q is not the vm's name", verb, vm.Spec.Name)
	}
	if vm.State == "" {
		vm.State = backend.StateStopped
	}
	if err := checkState("state", vm.State); err != nil {
		return nil, err
	}
	c := cloneVM(&vm)
	c.ID = id.String()
	return b.importVM(verb, c, reason)
}

// importVM inserts vm, which nobody else holds.
func (b *Backend) importVM(verb string, vm *backend.VM, reason string) (*backend.VM, error) {
	if _, err := b.current(verb); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkFree(verb, vm); err != nil {
		return nil, err
	}
	b.insert(vm, reason)
	return cloneVM(vm), nil
}

// Move migrates VM id to the host dst, keeping its UUID, name, state,
// managed flag, spec and disks: dst sends a created event with reason
// "migrated" carrying the VM's state, then this host a deleted event with
// the same reason. A VM whose id or name is taken on dst stays here.
func (b *Backend) Move(id string, dst *Backend) (*backend.VM, error) {
	if dst == nil || dst == b {
		return nil, plugin.InvalidArgument("dst", "moving vm %s: the destination must be another host", id)
	}
	id, err := checkID(id)
	if err != nil {
		return nil, err
	}
	verb := "moving vm " + id
	if _, err := b.current(verb); err != nil {
		return nil, err
	}
	b.mu.RLock()
	vm, err := b.lookup(verb, id)
	var snap *backend.VM
	if err == nil {
		snap = cloneVM(vm)
	}
	b.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	moved, err := dst.importAs(*snap, ReasonMigrated)
	if err != nil {
		return nil, fmt.Errorf("%s to host %s: %w", verb, dst.hostname(), err)
	}
	if _, err := b.remove(id, ReasonMigrated); err != nil {
		// It vanished here meanwhile: take it back from dst.
		_, _ = dst.remove(id, ReasonMigrated)
		return nil, err
	}
	return moved, nil
}

// hostname is the configured hostname, "" before Configure.
func (b *Backend) hostname() string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.set == nil {
		return ""
	}
	return b.set.hostname
}

// Resync sends an EventResync to every WatchEvents call, as a hypervisor
// connection that came back does.
func (b *Backend) Resync() {
	b.hub.Resync()
}

// Disconnect simulates losing the hypervisor connection: until Reconnect,
// every Backend call but Info, Configure and WatchEvents fails as
// unavailable, Health fails, and events are lost (scripted changes still
// happen). Open WatchEvents calls stay open.
func (b *Backend) Disconnect() {
	b.down.Store(true)
	b.log.Info("hypervisor connection down (simulated)")
}

// Reconnect ends a Disconnect: calls work again and every WatchEvents call
// gets an EventResync, since events were lost meanwhile.
func (b *Backend) Reconnect() {
	if b.down.Swap(false) {
		b.hub.Resync()
	}
	b.log.Info("hypervisor connection back (simulated)")
}
