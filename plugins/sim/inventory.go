package sim

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Reasons the simulated host gives for state changes and events. They are
// the names libvirt gives the same lifecycle events, so that consumers see
// the same words from both backends.
const (
	ReasonAdded     = "added"
	ReasonRemoved   = "removed"
	ReasonBooted    = "booted"
	ReasonShutdown  = backend.ReasonShutdown
	ReasonDestroyed = backend.ReasonDestroyed
	ReasonPaused    = "paused"
	ReasonUnpaused  = "unpaused"
	ReasonCrashed   = "crashed"
	ReasonMigrated  = "migrated"
	// ReasonScripted is the reason of a state set with SetState.
	ReasonScripted = "scripted"
)

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// checkID returns id in canonical lower case, or an invalid-argument error
// naming "id" when it is not a UUID.
func checkID(id string) (string, error) {
	if !uuidRE.MatchString(id) {
		return "", plugin.InvalidArgument("id", "id: %q is not a uuid", id)
	}
	return strings.ToLower(id), nil
}

// knownStates are the power states a simulated VM can be in.
var knownStates = []backend.PowerState{
	backend.StateUnknown, backend.StateRunning, backend.StateStopped, backend.StatePaused,
	backend.StateSuspended, backend.StateCrashed, backend.StateStarting, backend.StateStopping,
}

// checkState fails for a power state the backend package does not define.
func checkState(field string, st backend.PowerState) error {
	if !slices.Contains(knownStates, st) {
		return plugin.InvalidArgument(field, "%s: %q is not a power state", field, st)
	}
	return nil
}

// cloneVM returns a deep copy of vm, so that callers never share the
// backend's records.
func cloneVM(vm *backend.VM) *backend.VM {
	c := *vm
	c.Spec = cloneSpec(vm.Spec)
	c.Disks = slices.Clone(vm.Disks)
	return &c
}

func cloneSpec(s backend.VMSpec) backend.VMSpec {
	s.Disks = slices.Clone(s.Disks)
	s.NICs = slices.Clone(s.NICs)
	s.Boot = slices.Clone(s.Boot)
	return s
}

// lookup returns the record of VM id; b.mu is held.
func (b *Backend) lookup(verb, id string) (*backend.VM, error) {
	vm, ok := b.vms[id]
	if !ok {
		host := ""
		if b.set != nil {
			host = " on host " + b.set.hostname
		}
		return nil, plugin.NotFound("%s: vm %s not found%s", verb, id, host)
	}
	return vm, nil
}

// checkFree fails when the id or name of vm is taken; b.mu is held.
func (b *Backend) checkFree(verb string, vm *backend.VM) error {
	if old, ok := b.vms[vm.ID]; ok {
		return plugin.Conflict("%s: a vm with id %s already exists (%q)", verb, vm.ID, old.Name)
	}
	if id, ok := b.names[vm.Name]; ok {
		return plugin.Conflict("%s: a vm named %q already exists (%s)", verb, vm.Name, id)
	}
	return nil
}

// insert adds vm, which checkFree accepted, and announces it; b.mu is held.
func (b *Backend) insert(vm *backend.VM, reason string) {
	b.vms[vm.ID] = vm
	b.names[vm.Name] = vm.ID
	b.publish(backend.Event{Type: backend.EventCreated, VMID: vm.ID, VMName: vm.Name, State: vm.State, Reason: reason, Time: time.Now()})
	b.save()
}

// drop removes vm and announces it; b.mu is held.
func (b *Backend) drop(vm *backend.VM, reason string) {
	delete(b.vms, vm.ID)
	if b.names[vm.Name] == vm.ID {
		delete(b.names, vm.Name)
	}
	b.publish(backend.Event{Type: backend.EventDeleted, VMID: vm.ID, VMName: vm.Name, Reason: reason, Time: time.Now()})
	b.save()
}

// setState moves vm to state for reason, announces the change and writes it
// to the VM's log; it does nothing when vm is already in state. b.mu is
// held.
func (b *Backend) setState(vm *backend.VM, state backend.PowerState, reason string) {
	if vm.State == state {
		return
	}
	now := time.Now()
	from := vm.State
	vm.State, vm.StateReason = state, reason
	b.publish(backend.Event{Type: backend.EventStateChanged, VMID: vm.ID, VMName: vm.Name, State: state, Reason: reason, Time: now})
	b.logChange(vm, from, now)
	b.save()
}
