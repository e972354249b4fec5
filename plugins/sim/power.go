package sim

import (
	"context"
	"strings"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// stateConflict is the error for a transition the VM's state forbids; it
// names the state.
func stateConflict(verb string, vm *backend.VM, hint string) error {
	return plugin.Conflict("%s: vm %s is %s%s", verb, vm.Name, strings.ToLower(string(vm.State)), hint)
}

// transitionFunc decides where a VM in its current state goes: the new
// state and the reason, the same state to change nothing, or an error.
type transitionFunc func(verb string, vm *backend.VM) (backend.PowerState, string, error)

// power applies fn to the VM id atomically and returns the VM afterwards.
func (b *Backend) power(ctx context.Context, id, verb string, fn transitionFunc) (*backend.VM, error) {
	id, err := checkID(id)
	if err != nil {
		return nil, err
	}
	verb += " vm " + id
	if _, err := b.enter(ctx, verb); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	vm, err := b.lookup(verb, id)
	if err != nil {
		return nil, err
	}
	to, reason, err := fn(verb, vm)
	if err != nil {
		return nil, err
	}
	b.setState(vm, to, reason)
	return cloneVM(vm), nil
}

// StartVM boots a stopped or crashed VM; a running one is left alone, a
// paused one must be resumed, any other state is a conflict.
func (b *Backend) StartVM(ctx context.Context, id string) (*backend.VM, error) {
	return b.power(ctx, id, "starting", func(verb string, vm *backend.VM) (backend.PowerState, string, error) {
		switch vm.State {
		case backend.StateRunning:
			return vm.State, "", nil
		case backend.StateStopped, backend.StateCrashed:
			return backend.StateRunning, ReasonBooted, nil
		case backend.StatePaused:
			return "", "", stateConflict(verb, vm, "; resume it")
		}
		return "", "", stateConflict(verb, vm, "")
	})
}

// StopVM stops a VM at once: the simulated guest always obeys a graceful
// shutdown (reason "shutdown"), so opts.Timeout never passes; opts.Force
// and a VM that is not running are destroyed (reason "destroyed"). A
// stopped VM is left alone.
func (b *Backend) StopVM(ctx context.Context, id string, opts backend.StopOptions) (*backend.VM, error) {
	return b.power(ctx, id, "stopping", func(_ string, vm *backend.VM) (backend.PowerState, string, error) {
		switch {
		case vm.State == backend.StateStopped:
			return vm.State, "", nil
		case vm.State == backend.StateRunning && !opts.Force:
			return backend.StateStopped, ReasonShutdown, nil
		}
		return backend.StateStopped, ReasonDestroyed, nil
	})
}

// RebootVM reboots a running VM. The state stays RUNNING, so no event is
// sent; the VM's log gets a line.
func (b *Backend) RebootVM(ctx context.Context, id string) (*backend.VM, error) {
	return b.power(ctx, id, "rebooting", func(verb string, vm *backend.VM) (backend.PowerState, string, error) {
		if vm.State != backend.StateRunning {
			return "", "", stateConflict(verb, vm, "")
		}
		b.logLine(vm, "guest rebooted")
		return vm.State, "", nil
	})
}

// PauseVM pauses a running VM; a paused one is left alone.
func (b *Backend) PauseVM(ctx context.Context, id string) (*backend.VM, error) {
	return b.power(ctx, id, "pausing", func(verb string, vm *backend.VM) (backend.PowerState, string, error) {
		switch vm.State {
		case backend.StatePaused:
			return vm.State, "", nil
		case backend.StateRunning:
			return backend.StatePaused, ReasonPaused, nil
		}
		return "", "", stateConflict(verb, vm, "")
	})
}

// ResumeVM resumes a paused VM; a running one is left alone.
func (b *Backend) ResumeVM(ctx context.Context, id string) (*backend.VM, error) {
	return b.power(ctx, id, "resuming", func(verb string, vm *backend.VM) (backend.PowerState, string, error) {
		switch vm.State {
		case backend.StateRunning:
			return vm.State, "", nil
		case backend.StatePaused:
			return backend.StateRunning, ReasonUnpaused, nil
		}
		return "", "", stateConflict(verb, vm, "")
	})
}
