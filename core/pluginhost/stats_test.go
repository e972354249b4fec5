package pluginhost

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/plugins/sim"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// launchSim launches the simulated backend built from pkg as the plugin
// "sim", its control socket open; it returns the backend and the socket.
func launchSim(t *testing.T, name, pkg string) (*SupervisedBackend, string) {
	t.Helper()
	path, err := testbin.PackagePlugin(name, pkg)
	if err != nil {
		t.Fatalf("the plugin %s is needed: %v", name, err)
	}
	control := filepath.Join(t.TempDir(), "sim.sock")
	cfg := testConfig(t)
	cfg.Name, cfg.Dir, cfg.Path = sim.Name, "", path
	cfg.Settings = map[string]any{
		"hostname":       "stats-" + name,
		"log_dir":        t.TempDir(),
		"control_socket": control,
		"vms":            map[string]any{"count": 2, "state": "running"},
	}
	return launch(t, cfg), control
}

// simStatsCalls asks the sim plugin process how many times its
// CollectStats was called.
func simStatsCalls(t *testing.T, control string) int64 {
	t.Helper()
	r, err := sim.AskControl(control, sim.ControlRequest{Op: "stats_calls"})
	if err != nil {
		t.Fatal(err)
	}
	return r.StatsCalls
}

// TestCollectStatsOfAPIVersion1Plugin: a backend plugin that negotiated
// API version 1 is never asked for statistics, even when it announces the
// "stats" capability and serves the Stats service (the simulated backend
// built for version 1 does both): CollectStats answers unsupported, naming
// the version, and the plugin counts no call. The same host calls the
// plugin built for version 2, so the count would show a call.
func TestCollectStatsOfAPIVersion1Plugin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	old, oldControl := launchSim(t, "quantix-backend-simv1", "./internal/testbin/quantix-backend-simv1")
	if v := old.Status().APIVersion; v != 1 {
		t.Fatalf("the plugin negotiated API version %d, want 1", v)
	}
	info, err := old.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Has(backend.CapStats) {
		t.Fatalf("the version 1 plugin announces %v, without %q: the test would not show that the API version alone keeps the host from calling it", info.Capabilities, backend.CapStats)
	}
	for range 3 {
		h, err := old.CollectStats(ctx)
		if !errors.Is(err, plugin.ErrUnsupported) {
			t.Fatalf("CollectStats on an API version 1 plugin: %+v, %v; want plugin.ErrUnsupported", h, err)
		}
		if h != nil {
			t.Errorf("CollectStats answered unsupported with a sample: %+v", h)
		}
		if msg := err.Error(); !strings.Contains(msg, "API version 1") || !strings.Contains(msg, backend.CapStats) {
			t.Errorf("the error %q does not say the plugin speaks API version 1 and so offers no %q", msg, backend.CapStats)
		}
	}
	if n := simStatsCalls(t, oldControl); n != 0 {
		t.Errorf("the API version 1 plugin's CollectStats was called %d times, want 0", n)
	}
	// The plugin still works otherwise.
	vms, err := old.ListVMs(ctx)
	if err != nil || len(vms) != 2 {
		t.Fatalf("ListVMs on the API version 1 plugin: %d VMs, %v; want 2", len(vms), err)
	}

	cur, curControl := launchSim(t, "quantix-backend-sim", "./plugins/sim/cmd/quantix-backend-sim")
	if v := cur.Status().APIVersion; v < 2 {
		t.Fatalf("the current sim plugin negotiated API version %d, want 2 or more", v)
	}
	h, err := cur.CollectStats(ctx)
	if err != nil || h == nil || len(h.VMs) != 2 {
		t.Fatalf("CollectStats on the current sim plugin: %+v, %v; want a sample of its 2 VMs", h, err)
	}
	if n := simStatsCalls(t, curControl); n != 1 {
		t.Errorf("the current plugin's CollectStats was called %d times, want 1", n)
	}
}
