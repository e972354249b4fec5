package agent

import (
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

const (
	idA = "aaaaaaaa-0000-4000-8000-000000000001"
	idB = "bbbbbbbb-0000-4000-8000-000000000002"
	idC = "cccccccc-0000-4000-8000-000000000003"
)

func host(id string, s backend.PowerState) *backend.VM {
	return &backend.VM{ID: id, Name: "vm-" + id[:1], State: s}
}

// TestViewListingKeepsNewerEvents: a listing that began before an event
// does not undo it, neither a change nor a removal; one that began after
// wins.
func TestViewListingKeepsNewerEvents(t *testing.T) {
	v := newView()
	v.replace([]*backend.VM{host(idA, backend.StateRunning), host(idB, backend.StateRunning)}, v.begin())

	since := v.begin()
	// While the listing runs: A stops, B is deleted, C appears.
	v.set(host(idA, backend.StateStopped), "destroyed", time.Now(), time.Now())
	v.gone(idB, "undefined", time.Now(), time.Now())
	v.set(host(idC, backend.StateRunning), "booted", time.Now(), time.Now())
	// The listing saw the host before those events.
	changed := v.replace([]*backend.VM{host(idA, backend.StateRunning), host(idB, backend.StateRunning)}, since)
	if changed {
		t.Error("a listing older than the events changed the view")
	}
	vms, ok := v.snapshot()
	if !ok || len(vms) != 2 || vms[0].ID != idA || vms[0].State != backend.StateStopped || vms[1].ID != idC {
		t.Fatalf("view after an older listing: %v (synced %v)", names(vms), ok)
	}

	// A listing begun after the events is the truth, and forgets them.
	changed = v.replace([]*backend.VM{host(idB, backend.StatePaused)}, v.begin())
	vms, _ = v.snapshot()
	if !changed || len(vms) != 1 || vms[0].ID != idB || vms[0].State != backend.StatePaused {
		t.Fatalf("view after a newer listing: %v (changed %v)", names(vms), changed)
	}
	if len(v.touched) != 0 {
		t.Errorf("stamps of events older than the listing are kept: %v", v.touched)
	}
}

// TestViewKeepsLatestStateOnly: however often a VM changes between two
// reports, one change with its latest state goes out; a snapshot covers
// and clears what is dirty.
func TestViewKeepsLatestStateOnly(t *testing.T) {
	v := newView()
	v.replace(nil, v.begin())
	for _, s := range []backend.PowerState{backend.StateRunning, backend.StatePaused, backend.StateRunning, backend.StateStopped} {
		v.set(host(idA, s), string(s), time.Now(), time.Now())
	}
	v.set(host(idB, backend.StateRunning), "", time.Now(), time.Now())
	v.gone(idB, "undefined", time.Now(), time.Now())
	got := v.takeDirty()
	if len(got) != 2 || got[0].id != idA || got[0].vm.State != backend.StateStopped || got[0].reason != "STOPPED" ||
		got[1].id != idB || got[1].vm != nil || got[1].reason != "undefined" {
		t.Fatalf("dirty = %+v; want A stopped and B gone", got)
	}
	if again := v.takeDirty(); len(again) != 0 {
		t.Errorf("takeDirty did not clear: %+v", again)
	}
	// The same state again is no change.
	v.set(host(idA, backend.StateStopped), "", time.Now(), time.Now())
	if got := v.takeDirty(); len(got) != 0 {
		t.Errorf("an unchanged vm became dirty: %+v", got)
	}
	v.set(host(idA, backend.StateRunning), "", time.Now(), time.Now())
	if _, ok := v.snapshot(); !ok {
		t.Fatal("a listed view is not synced")
	}
	if got := v.takeDirty(); len(got) != 0 {
		t.Errorf("a snapshot left dirty entries: %+v", got)
	}
}

func TestViewUnsyncedSnapshot(t *testing.T) {
	v := newView()
	if _, ok := v.snapshot(); ok {
		t.Error("a view never listed gives a snapshot")
	}
	v.replace([]*backend.VM{host(idA, backend.StateRunning)}, v.begin())
	v.unsync()
	v.set(host(idA, backend.StateStopped), "", time.Now(), time.Now())
	if _, ok := v.snapshot(); ok {
		t.Error("a view whose event stream broke gives a snapshot")
	}
	if got := v.takeDirty(); len(got) != 1 {
		t.Errorf("an unsynced snapshot cleared the dirty set: %+v", got)
	}
}

// TestViewHash: the heartbeat's hash is the design's state hash over the
// control plane's names of the states.
func TestViewHash(t *testing.T) {
	v := newView()
	v.replace([]*backend.VM{host(idA, backend.StateRunning), host(idB, "SOMETHING-NEW"), host(idC, backend.StateCrashed)}, v.begin())
	got, n := v.hash()
	want := vm.StateHash(map[string]vm.State{idA: vm.StateRunning, idB: vm.StateUnknown, idC: vm.StateCrashed})
	if got != want || n != 3 {
		t.Errorf("hash = %s (%d vms), want %s (3)", got, n, want)
	}
}

func names(vms []*backend.VM) []string {
	out := make([]string, len(vms))
	for i, x := range vms {
		out[i] = x.ID[:1] + ":" + string(x.State)
	}
	return out
}

// TestViewChangeObservedAt: a change carries when the agent last saw the
// VM as it sends it: a later event that finds the same state moves that
// time on, a new state takes its own, and an earlier time never wins.
func TestViewChangeObservedAt(t *testing.T) {
	v := newView()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v.set(host(idA, backend.StateRunning), "booted", t0, t0.Add(time.Millisecond))
	v.set(host(idA, backend.StateRunning), "booted", t0, t0.Add(3*time.Millisecond))
	v.set(host(idA, backend.StateRunning), "booted", t0, t0.Add(2*time.Millisecond))
	got := v.takeDirty()
	if len(got) != 1 || !got[0].observed.Equal(t0.Add(3*time.Millisecond)) {
		t.Fatalf("changes %+v, want one observed at +3ms", got)
	}
	v.set(host(idA, backend.StateRunning), "", t0, t0.Add(4*time.Millisecond))
	if got := v.takeDirty(); len(got) != 0 {
		t.Errorf("an unchanged vm already sent became dirty: %+v", got)
	}
	v.set(host(idA, backend.StateStopped), "destroyed", t0, t0.Add(5*time.Millisecond))
	v.gone(idA, "undefined", t0, t0.Add(6*time.Millisecond))
	if got := v.takeDirty(); len(got) != 1 || got[0].vm != nil || !got[0].observed.Equal(t0.Add(6*time.Millisecond)) {
		t.Errorf("changes %+v, want the vm gone, observed at +6ms", got)
	}
}
