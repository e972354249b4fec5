package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/core/stats"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/plugins/sim"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
	"github.com/quantixvm/quantix/sdk/backend"
)

// The targets of the stats benchmarks: at the agents' default interval,
// the agent of a node of 250 VMs uses at most 1% of a core; a server
// holding 200 such nodes at most 25% of a core, its history's database
// writes included.
const (
	statsInterval       = 10 * time.Second
	agentStatsTargetPct = 1.0
	serverStatsTarget   = 25.0
	statsBenchVMs       = 250
	statsBenchNodes     = 200
)

// selfCPU is this process's CPU time so far.
func selfCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pluginCPU is process pid's CPU time so far.
func pluginCPU(tb testing.TB, pid int) time.Duration {
	d, _, err := procCPU(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// BenchmarkStatsAgent250VMs is one sampling of a node of 250 running VMs
// as the agent does it every agent.stats_interval: CollectStats through
// the simulated backend's plugin process, the sample converted and encoded
// as the session sends it. Reports the CPU time per sample of the agent's
// process and of the plugin's, and what that is at a 10 s interval in %
// of a core; fails past agentStatsTargetPct for the agent.
func BenchmarkStatsAgent250VMs(b *testing.B) {
	dir := simPluginDir(b)
	sup, err := pluginhost.LaunchBackend(context.Background(), pluginhost.Config{
		Name: sim.Name, Dir: dir,
		Settings: map[string]any{"vms": map[string]any{"count": statsBenchVMs, "state": "running"}, "log_dir": filepath.Join(b.TempDir(), "logs")},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sup.Close() }()
	pids := pluginChildren(os.Getpid())
	if len(pids) != 1 {
		b.Fatalf("%d plugin processes, want the sim plugin alone", len(pids))
	}
	ctx := context.Background()
	sample := func() {
		h, err := sup.CollectStats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(h.VMs) != statsBenchVMs {
			b.Fatalf("a sample of %d VMs, want %d", len(h.VMs), statsBenchVMs)
		}
		msg := &agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Stats{Stats: &agentv1.StatsBatch{Samples: []*backendv1.HostStats{backend.HostStatsToProto(h)}}}}
		if _, err := proto.Marshal(msg); err != nil {
			b.Fatal(err)
		}
	}
	sample()
	agent0, plugin0 := selfCPU(b), pluginCPU(b, pids[0])
	n := 0
	for b.Loop() {
		sample()
		n++
	}
	agent := (selfCPU(b) - agent0) / time.Duration(n)
	plug := (pluginCPU(b, pids[0]) - plugin0) / time.Duration(n)
	pct := func(d time.Duration) float64 { return float64(d) / float64(statsInterval) * 100 }
	b.ReportMetric(float64(agent.Microseconds()), "agent-cpu-µs/sample")
	b.ReportMetric(float64(plug.Microseconds()), "plugin-cpu-µs/sample")
	b.ReportMetric(pct(agent), "agent-cpu-%-at-10s")
	b.ReportMetric(pct(plug), "plugin-cpu-%-at-10s")
	b.Logf("%d samples of %d VMs: agent %s CPU per sample (%.3f%% of a core at 10s), sim plugin %s (%.3f%%)", n, statsBenchVMs, agent, pct(agent), plug, pct(plug))
	if pct(agent) > agentStatsTargetPct {
		b.Fatalf("the agent uses %.3f%% of a core for the stats of %d VMs every 10s, over the %.1f%% target", pct(agent), statsBenchVMs, agentStatsTargetPct)
	}
}

// BenchmarkStatsServer200Nodes is one interval of a server holding 200
// nodes of 250 VMs each: every node's sample decoded from the wire,
// converted and recorded (rates, window, history step), and the history
// written to the store (SQLite) as the collector flushes it: one averaged
// point per VM per minute, so every sixth interval writes 50,000 rows.
// An op is at least 13 intervals, so that two history steps are written.
// Reports the CPU time per interval and that in % of a core; fails past
// serverStatsTarget.
func BenchmarkStatsServer200Nodes(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", filepath.Join(b.TempDir(), "q.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	c := stats.New(stats.Options{History: st.Stats()})
	// One wire message per node, its counters grown by the interval each time.
	nodes := make([]string, statsBenchNodes)
	samples := make([]*backend.HostStats, statsBenchNodes)
	for i := range nodes {
		nodes[i] = fmt.Sprintf("node-%03d", i)
		h := &backend.HostStats{VMs: make([]backend.VMStats, statsBenchVMs)}
		for j := range h.VMs {
			h.VMs[j] = backend.VMStats{
				ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, j), State: backend.StateRunning, VCPUs: 2, MemoryBytes: 1 << 30, MemoryMaxBytes: 1 << 30,
				Disks: []backend.DiskStats{{Name: "vda"}}, NICs: []backend.NICStats{{Name: "vnet0"}},
			}
		}
		samples[i] = h
	}
	at := time.Now().Add(-24 * time.Hour).Truncate(time.Minute)
	wire := make([][]byte, statsBenchNodes)
	// encode makes the nodes' next samples, as their agents send them; it
	// is the agents' share, not counted.
	encode := func() {
		at = at.Add(statsInterval)
		for i, h := range samples {
			h.Time = at
			for j := range h.VMs {
				v := &h.VMs[j]
				v.CPUTime += time.Duration(j%20) * 500 * time.Millisecond
				v.Disks[0].ReadBytes += uint64(j) * 4096
				v.Disks[0].ReadOps += uint64(j)
				v.NICs[0].RxBytes += uint64(j) * 1500
				v.NICs[0].RxPackets += uint64(j)
			}
			raw, err := proto.Marshal(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Stats{Stats: &agentv1.StatsBatch{Samples: []*backendv1.HostStats{backend.HostStatsToProto(h)}}}})
			if err != nil {
				b.Fatal(err)
			}
			wire[i] = raw
		}
	}
	// receive is the server's share: decode, convert, record, flush.
	receive := func() {
		for i, raw := range wire {
			var m agentv1.AgentMessage
			if err := proto.Unmarshal(raw, &m); err != nil {
				b.Fatal(err)
			}
			got := make([]*backend.HostStats, 0, 1)
			for _, h := range m.GetStats().GetSamples() {
				got = append(got, backend.HostStatsFromProto(h))
			}
			c.Record(nodes[i], got)
		}
		c.Flush(ctx, at.Add(time.Second))
	}
	encode()
	receive()
	var server time.Duration
	n := 0
	// At least 13 intervals: two history steps written.
	b.ResetTimer()
	for range max(b.N, 13) {
		encode()
		t0 := selfCPU(b)
		receive()
		server += selfCPU(b) - t0
		n++
	}
	per := server / time.Duration(n)
	pct := float64(per) / float64(statsInterval) * 100
	pts, err := st.Stats().VM(ctx, samples[0].VMs[1].ID, at.Add(-time.Hour), at.Add(time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(per.Milliseconds()), "server-cpu-ms/interval")
	b.ReportMetric(pct, "server-cpu-%-at-10s")
	b.Logf("%d intervals of %d nodes x %d VMs: server %s CPU per interval (%.2f%% of a core at 10s); %d history points of one VM stored",
		n, statsBenchNodes, statsBenchVMs, per, pct, len(pts))
	if len(pts) < 2 {
		b.Fatalf("after %d intervals (%s of samples) %d history points of a VM are stored, want 2 at least", n, time.Duration(n)*statsInterval, len(pts))
	}
	if pct > serverStatsTarget {
		b.Fatalf("the server uses %.2f%% of a core for the stats of %d nodes of %d VMs every 10s, over the %.0f%% target", pct, statsBenchNodes, statsBenchVMs, serverStatsTarget)
	}
}
