package stats

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quantixvm/quantix/sdk/backend"
)

func sample(at time.Time, cpu time.Duration, rd uint64, ids ...string) *backend.HostStats {
	h := &backend.HostStats{Time: at}
	for _, id := range ids {
		h.VMs = append(h.VMs, backend.VMStats{
			ID: id, State: backend.StateRunning, VCPUs: 2, CPUTime: cpu, MemoryBytes: 1 << 30,
			Disks: []backend.DiskStats{{Name: "vda", ReadBytes: rd, ReadOps: rd / 4096}, {Name: "vdb", ReadBytes: rd}},
			NICs:  []backend.NICStats{{Name: "vnet0", RxBytes: rd / 2, RxPackets: rd / 1000}},
		})
	}
	return h
}

func TestRatesFromCounterDeltas(t *testing.T) {
	c := New(Options{HistoryStep: time.Minute, Window: 10 * time.Minute})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Record("n1", []*backend.HostStats{
		sample(t0, 0, 0, "a"),
		sample(t0.Add(10*time.Second), 5*time.Second, 10<<20, "a"),
	})
	pts, held := c.VM("a", t0)
	if !held || len(pts) != 1 {
		t.Fatalf("points = %v (held %v), want one rate from the two samples", pts, held)
	}
	p := pts[0]
	if p.CPUCores != 0.5 || p.DiskReadBps != float64(2*(10<<20))/10 || p.NetRxBps != float64(5<<20)/10 || p.MemoryBytes != 1<<30 || p.VCPUs != 2 {
		t.Errorf("point = %+v: want 0.5 cores, both disks' and the NIC's bytes per second", p)
	}
	// A counter that goes back (the VM started again) gives no point.
	c.Record("n1", []*backend.HostStats{sample(t0.Add(20*time.Second), time.Second, 0, "a")})
	if pts, _ := c.VM("a", t0); len(pts) != 1 {
		t.Errorf("after counters went back: %d points, want still 1", len(pts))
	}
	c.Record("n1", []*backend.HostStats{sample(t0.Add(30*time.Second), 3*time.Second, 0, "a")})
	pts, _ = c.VM("a", t0)
	if len(pts) != 2 || pts[1].CPUCores < 0.1999 || pts[1].CPUCores > 0.2001 {
		t.Errorf("points = %+v, want a second one of 0.2 cores from the restarted counters", pts)
	}
	node, held := c.Node("n1", t0)
	if !held || len(node) != 2 || node[0].CPUCores != 0.5 {
		t.Errorf("node points = %+v, want the VM's sums", node)
	}
	if _, held := c.VM("nope", t0); held {
		t.Error("an unknown VM is held")
	}
}

func TestDownsampleAverages(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New(Options{})
	var hs []*backend.HostStats
	for i := range 12 { // rates at 10s..110s: two minutes
		hs = append(hs, sample(t0.Add(time.Duration(i)*10*time.Second), time.Duration(i)*time.Second, 0, "a"))
	}
	c.Record("n", hs)
	pts, _ := c.VM("a", t0)
	ds := Downsample(pts, time.Minute)
	if len(ds) != 2 || !ds[0].T.Equal(t0) || ds[0].CPUCores < 0.0999 || ds[0].CPUCores > 0.1001 {
		t.Errorf("downsampled = %+v, want two minutes of 0.1 cores starting at %s", ds, t0)
	}
}

func TestMetricsCapDropsTheQuietest(t *testing.T) {
	c := New(Options{MaxSeriesVMs: 2})
	t0 := time.Now()
	c.Record("n", []*backend.HostStats{sample(t0, 0, 0, "a", "b", "c")})
	h := sample(t0.Add(10*time.Second), 0, 0, "a", "b", "c")
	h.VMs[0].CPUTime, h.VMs[1].CPUTime, h.VMs[2].CPUTime = time.Second, 3*time.Second, 2*time.Second
	c.Record("n", []*backend.HostStats{h})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Metrics())
	if n, err := testutil.GatherAndCount(reg, "quantix_vm_cpu_seconds_total"); err != nil || n != 2 {
		t.Fatalf("%d cpu series (%v), want the cap, 2", n, err)
	}
	want := `
# HELP quantix_vm_stats_series_dropped VMs with statistics on this server whose series were left out at the last scrape, past server.stats.max_series_vms.
# TYPE quantix_vm_stats_series_dropped gauge
quantix_vm_stats_series_dropped 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "quantix_vm_stats_series_dropped"); err != nil {
		t.Error(err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "quantix_vm_cpu_seconds_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "vm_id" && l.GetValue() == "a" {
					t.Error("the quietest VM, a, is exported; want b and c")
				}
			}
		}
	}
}

func TestFlushClosesStepsOnlyWhenDone(t *testing.T) {
	c := New(Options{HistoryStep: time.Minute})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Record("n", []*backend.HostStats{sample(t0, 0, 0, "a"), sample(t0.Add(10*time.Second), time.Second, 0, "a")})
	c.Flush(context.Background(), t0.Add(30*time.Second))
	c.mu.Lock()
	open := c.vms["a"].acc.n
	c.mu.Unlock()
	if open != 1 {
		t.Fatalf("the running step was closed early: %d points in it, want 1", open)
	}
	c.Flush(context.Background(), t0.Add(time.Minute+bucketGrace))
	c.mu.Lock()
	open = c.vms["a"].acc.n
	c.mu.Unlock()
	if open != 0 {
		t.Errorf("the step that ended is still open: %d points", open)
	}
}
