package agent

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

// view is the agent's picture of the host: the latest state of every VM,
// fed by lifecycle events and by complete listings.
//
// A listing runs while events keep arriving, so it may be older than some
// of them: every event bumps a generation and stamps the VM it touched, and
// a listing that began at generation g keeps the event's version of every VM
// stamped after g.
//
// Only the latest state of a VM is kept: a VM that changes while no report
// goes out is one dirty entry, whatever the number of changes.
type view struct {
	mu      sync.Mutex
	vms     map[string]*backend.VM
	gen     uint64
	touched map[string]uint64
	dirty   map[string]mark
	// synced is true while the view is known complete: a listing succeeded
	// and the event stream has not broken since.
	synced bool
	// changed has a value while dirty is not empty.
	changed chan struct{}
}

// mark is why a dirty VM changed, and when the agent last observed it as
// the view has it.
type mark struct {
	reason   string
	at       time.Time
	observed time.Time
}

// change is one dirty VM as it is now: vm is nil when it left the host;
// observed is when the agent last saw it so.
type change struct {
	id       string
	vm       *backend.VM
	reason   string
	at       time.Time
	observed time.Time
}

func newView() *view {
	return &view{
		vms:     make(map[string]*backend.VM),
		touched: make(map[string]uint64),
		dirty:   make(map[string]mark),
		changed: make(chan struct{}, 1),
	}
}

// set records an event's view of one VM, as the backend answered it at
// observed.
func (v *view) set(x *backend.VM, reason string, at, observed time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.gen++
	v.touched[x.ID] = v.gen
	if old, ok := v.vms[x.ID]; ok && reflect.DeepEqual(old, x) {
		// Unchanged: a change not sent yet was seen again, later.
		if m, dirty := v.dirty[x.ID]; dirty && observed.After(m.observed) {
			m.observed = observed
			v.dirty[x.ID] = m
		}
		return
	}
	v.vms[x.ID] = x
	v.markLocked(x.ID, reason, at, observed)
}

// gone records that a VM left the host, as seen at observed.
func (v *view) gone(id, reason string, at, observed time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.gen++
	v.touched[id] = v.gen
	if _, ok := v.vms[id]; !ok {
		return
	}
	delete(v.vms, id)
	v.markLocked(id, reason, at, observed)
}

func (v *view) markLocked(id, reason string, at, observed time.Time) {
	v.dirty[id] = mark{reason: reason, at: at, observed: observed}
	select {
	case v.changed <- struct{}{}:
	default:
	}
}

// begin returns the generation a listing starts at.
func (v *view) begin() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.gen
}

// replace installs a listing that began at generation since, keeping what
// later events said, and marks the view synced. It reports whether the view
// changed.
func (v *view) replace(list []*backend.VM, since uint64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	next := make(map[string]*backend.VM, len(list))
	for _, x := range list {
		next[x.ID] = x
	}
	for id, g := range v.touched {
		if g <= since {
			delete(v.touched, id)
			continue
		}
		if x, ok := v.vms[id]; ok {
			next[id] = x
		} else {
			delete(next, id)
		}
	}
	changed := !maps.EqualFunc(v.vms, next, func(a, b *backend.VM) bool { return reflect.DeepEqual(a, b) })
	v.vms = next
	v.synced = true
	return changed
}

// unsync marks the view possibly incomplete: events may have been missed.
func (v *view) unsync() {
	v.mu.Lock()
	v.synced = false
	v.mu.Unlock()
}

// takeDirty returns the latest state of every dirty VM, in id order, and
// clears the dirty set.
func (v *view) takeDirty() []change {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]change, 0, len(v.dirty))
	for id, m := range v.dirty {
		out = append(out, change{id: id, vm: v.vms[id], reason: m.reason, at: m.at, observed: m.observed})
	}
	clear(v.dirty)
	slices.SortFunc(out, func(a, b change) int { return strings.Compare(a.id, b.id) })
	return out
}

// dropDirty forgets what changed: a full sync is coming that carries it.
func (v *view) dropDirty() {
	v.mu.Lock()
	clear(v.dirty)
	v.mu.Unlock()
}

// snapshot returns every VM, in id order, and clears the dirty set, which
// the snapshot covers; ok is false (and nothing is cleared) while the view
// is not synced.
func (v *view) snapshot() (vms []*backend.VM, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.synced {
		return nil, false
	}
	clear(v.dirty)
	return v.sortedLocked(), true
}

func (v *view) sortedLocked() []*backend.VM {
	out := slices.Collect(maps.Values(v.vms))
	slices.SortFunc(out, func(a, b *backend.VM) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// hash returns the state hash of the view (vm.StateHash, states named as
// the control plane names them) and the number of VMs.
func (v *view) hash() (string, int) {
	v.mu.Lock()
	states := make(map[string]vm.State, len(v.vms))
	for id, x := range v.vms {
		states[id] = vm.HostState(string(x.State))
	}
	v.mu.Unlock()
	return vm.StateHash(states), len(states)
}

// states returns the power state of every VM and whether the view is
// known complete.
func (v *view) states() (map[string]backend.PowerState, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]backend.PowerState, len(v.vms))
	for id, x := range v.vms {
		out[id] = x.State
	}
	return out, v.synced
}
