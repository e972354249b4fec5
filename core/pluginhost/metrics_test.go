package pluginhost

import (
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// TestPluginMetrics: a real plugin process's launch, its crash and
// relaunch are counted, and its calls are timed by operation and result;
// go-plugin's own calls are not.
func TestPluginMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Metrics = m
	b := launch(t, cfg)
	typ := string(plugin.TypeBackend)
	count := func(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }
	if got := count(m.launches.WithLabelValues(pluginName, typ, "ok")); got != 1 {
		t.Errorf("launches ok = %v after the launch, want 1", got)
	}
	ctx := t.Context()
	for range 3 {
		if _, err := b.ListVMs(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.GetVM(ctx, "00000000-0000-4000-8000-00000000abcd"); err == nil {
		t.Fatal("GetVM of a VM that does not exist succeeded")
	}
	calls := func(op, result string) uint64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "quantix_backend_call_duration_seconds" {
				continue
			}
			for _, s := range mf.GetMetric() {
				l := map[string]string{}
				for _, p := range s.GetLabel() {
					l[p.GetName()] = p.GetValue()
				}
				if l["plugin"] == pluginName && l["operation"] == op && l["result"] == result {
					return s.GetHistogram().GetSampleCount()
				}
			}
		}
		return 0
	}
	if got := calls("ListVMs", "ok"); got != 3 {
		t.Errorf("ListVMs calls timed = %d, want 3", got)
	}
	if got := calls("GetVM", "error"); got != 1 {
		t.Errorf("failed GetVM calls timed = %d, want 1", got)
	}
	// Launching made Info and Configure calls; nothing of go-plugin's own.
	if calls("Configure", "ok") != 1 || calls("Info", "ok") != 1 {
		t.Errorf("the launch's Info and Configure calls timed %d and %d times, want once each", calls("Info", "ok"), calls("Configure", "ok"))
	}

	old := b.Status().PID
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", old, err)
	}
	wait.Until(t, 20*time.Second, "the killed plugin to be relaunched and counted", func() bool {
		return b.Status().Healthy && b.Status().PID != old && count(m.relaunches.WithLabelValues(pluginName, typ)) == 1
	})
	if got := count(m.exits.WithLabelValues(pluginName, typ)); got != 1 {
		t.Errorf("exits = %v after one kill, want 1", got)
	}
	if got := count(m.launches.WithLabelValues(pluginName, typ, "ok")); got != 2 {
		t.Errorf("launches ok = %v after a relaunch, want 2", got)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

// TestPluginMetricsFailedLaunch: a launch that fails is counted as such.
func TestPluginMetricsFailedLaunch(t *testing.T) {
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Metrics = m
	cfg.Path = t.TempDir() + "/missing"
	if _, err := LaunchBackend(t.Context(), cfg); err == nil {
		t.Fatal("launching a missing binary succeeded")
	}
	if got := testutil.ToFloat64(m.launches.WithLabelValues(pluginName, string(plugin.TypeBackend), "error")); got != 1 {
		t.Errorf("failed launches = %v, want 1", got)
	}
}
