package backendtest

import (
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
)

// statsTracker serves a backend that is a StatsCollector with its
// streaming calls tracked, keeping the Stats service.
type statsTracker struct {
	*tracker
	backend.StatsCollector
}

// consoleStatsTracker is statsTracker for a backend that is a
// ConsoleOpener as well, keeping both services.
type consoleStatsTracker struct {
	*consoleTracker
	backend.StatsCollector
}

// withStats adds sc's Stats service to served, the tracker (or console
// tracker) the suite serves.
func withStats(served backend.Backend, sc backend.StatsCollector) backend.Backend {
	switch t := served.(type) {
	case *consoleTracker:
		return consoleStatsTracker{consoleTracker: t, StatsCollector: sc}
	case *tracker:
		return statsTracker{tracker: t, StatsCollector: sc}
	}
	return served
}

// testStats checks CollectStats when the backend announces CapStats: every
// VM appears once (a running and a stopped one of the suite's at least),
// in its state, and the counters of a running VM never go down from one
// call to the next.
func testStats(t *testing.T, e *env) {
	e.needCap(t, backend.CapStats, "CollectStats")
	if e.tr != nil {
		if _, ok := e.tr.Backend.(backend.StatsCollector); !ok {
			t.Fatalf("FAILED: backend %q announces the %q capability but is no backend.StatsCollector", e.info.Name, backend.CapStats)
		}
	}
	run, _ := e.create(t, "stats-run")
	stopped, _ := e.create(t, "stats-stop")
	got, err := e.c.StartVM(e.op(t), run.ID)
	e.wantState(t, "StartVM", run.ID, got, err, backend.StateRunning)

	first := e.collect(t, "first CollectStats", map[string]backend.PowerState{run.ID: backend.StateRunning, stopped.ID: backend.StateStopped})
	// The second call comes after the first in time: counters are compared
	// for a VM that ran all along.
	second := e.collect(t, "second CollectStats", map[string]backend.PowerState{run.ID: backend.StateRunning, stopped.ID: backend.StateStopped})
	if second.Time.Before(first.Time) {
		t.Errorf("second CollectStats has Time %s, before the first's %s", second.Time, first.Time)
	}
	a, b := statsOf(first, run.ID), statsOf(second, run.ID)
	if b.CPUTime < a.CPUTime {
		t.Errorf("running VM %s: CPUTime went from %s to %s between two calls, want it never to go down", run.ID, a.CPUTime, b.CPUTime)
	}
	for _, d := range a.Disks {
		for _, d2 := range b.Disks {
			if d2.Name == d.Name && (d2.ReadBytes < d.ReadBytes || d2.WriteBytes < d.WriteBytes || d2.ReadOps < d.ReadOps || d2.WriteOps < d.WriteOps) {
				t.Errorf("running VM %s: disk %q counters went down between two calls: %+v then %+v", run.ID, d.Name, d, d2)
			}
		}
	}
	for _, n := range a.NICs {
		for _, n2 := range b.NICs {
			if n2.Name == n.Name && (n2.RxBytes < n.RxBytes || n2.TxBytes < n.TxBytes || n2.RxPackets < n.RxPackets || n2.TxPackets < n.TxPackets) {
				t.Errorf("running VM %s: NIC %q counters went down between two calls: %+v then %+v", run.ID, n.Name, n, n2)
			}
		}
	}
}

// collect calls CollectStats and checks the sample: a recent time, no VM
// twice, no empty id, and each VM of want present in its state.
func (e *env) collect(t *testing.T, what string, want map[string]backend.PowerState) *backend.HostStats {
	t.Helper()
	before := time.Now()
	h, err := e.c.CollectStats(e.op(t))
	if err != nil {
		t.Fatalf("%s = %s, want a sample of every VM (the backend announces %q)", what, describe(err), backend.CapStats)
	}
	if h == nil {
		t.Fatalf("%s returned no sample", what)
	}
	if d := h.Time.Sub(before); d < -time.Minute || d > time.Minute {
		t.Errorf("%s has Time %s, %s away from the call; want when the counters were read", what, h.Time, d)
	}
	seen := map[string]bool{}
	for _, v := range h.VMs {
		if v.ID == "" {
			t.Errorf("%s lists a VM without an id: %+v", what, v)
		}
		if seen[v.ID] {
			t.Errorf("%s lists VM %s twice", what, v.ID)
		}
		seen[v.ID] = true
	}
	for id, st := range want {
		v := statsOf(h, id)
		if v == nil {
			t.Fatalf("%s does not list VM %s, which exists; want every VM of the host", what, id)
		}
		if v.State != st {
			t.Errorf("%s lists VM %s in state %s, want %s", what, id, v.State, st)
		}
		if st == backend.StateRunning && v.MemoryBytes == 0 {
			t.Errorf("%s: running VM %s has MemoryBytes 0, want the memory it may use", what, id)
		}
	}
	return h
}

func statsOf(h *backend.HostStats, id string) *backend.VMStats {
	for i := range h.VMs {
		if h.VMs[i].ID == id {
			return &h.VMs[i]
		}
	}
	return nil
}
