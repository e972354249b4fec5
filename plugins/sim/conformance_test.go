package sim

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/backend/backendtest"
)

// conformanceVMs is how many VMs the conformance runs pre-populate, so that
// the suite meets a host that already runs VMs.
const conformanceVMs = 20

// TestConformance runs the backend conformance suite against the sim linked
// in-process; the suite serves it over a real gRPC connection.
func TestConformance(t *testing.T) {
	logDir := t.TempDir()
	var b *Backend
	backendtest.Run(t, backendtest.Harness{
		Backend: func(t *testing.T) backend.Backend {
			b = newSim(t, Config{Hostname: "conformance", LogDir: logDir, VMs: VMsConfig{Count: conformanceVMs}})
			return b
		},
		Spec:    minimalSpec,
		LogPath: func(vm *backend.VM) string { return filepath.Join(logDir, vm.Name+".log") },
		// The scripted crash is the simulated hypervisor process dying.
		Crash:  func(_ *testing.T, vm *backend.VM) error { _, err := b.Crash(vm.ID); return err },
		Config: configCheck(),
	})
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		vms, err := b.ListVMs(context.Background())
		if err != nil {
			t.Fatalf("ListVMs after the suite: %v", err)
		}
		if len(vms) != conformanceVMs {
			t.Errorf("%d VMs after the suite, want the %d pre-populated ones", len(vms), conformanceVMs)
		}
		for _, vm := range vms {
			if !strings.HasPrefix(vm.Name, "conformance-") {
				t.Errorf("the suite left VM %s (%q) on the host", vm.ID, vm.Name)
			}
		}
		entries, err := os.ReadDir(logDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			t.Errorf("the suite left %s in the log directory", e.Name())
		}
	})
}

// configCheck gives the conformance suite unconfigured simulated hosts and
// config blocks each wrong in one attribute.
func configCheck() *backendtest.ConfigCheck {
	return &backendtest.ConfigCheck{
		New: func(t *testing.T) backend.Backend {
			b := New(WithLogger(hclog.NewNullLogger()))
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("closing the unconfigured sim: %v", err)
				}
			})
			return b
		},
		Valid: map[string]any{"hostname": "conformance-config", "vms": map[string]any{"count": 2}},
		Invalid: []backendtest.BadConfig{
			{Config: map[string]any{"hostname": "two words"}, Attribute: "hostname"},
			{Config: map[string]any{"cpus": 0}, Attribute: "cpus"},
			{Config: map[string]any{"cpus": "many"}, Attribute: "cpus"},
			{Config: map[string]any{"memory_mib": 0}, Attribute: "memory_mib"},
			{Config: map[string]any{"latency": "soon"}, Attribute: "latency"},
			{Config: map[string]any{"log_dir": "relative/logs"}, Attribute: "log_dir"},
			{Config: map[string]any{"state_file": "state.json"}, Attribute: "state_file"},
			{Config: map[string]any{"vms": map[string]any{"count": -1}}, Attribute: "vms.count"},
			{Config: map[string]any{"vms": map[string]any{"count": 1, "state": "asleep"}}, Attribute: "vms.state"},
			{Config: map[string]any{"vms": map[string]any{"count": 1, "prefix": "no/slash"}}, Attribute: "vms.prefix"},
			{Config: map[string]any{"vms": map[string]any{"colour": "blue"}}, Attribute: "vms.colour"},
		},
	}
}

// TestConformanceThroughPluginProcess runs the suite against the plugin
// binary launched and supervised by pluginhost.LaunchBackend, as the agent
// runs it.
func TestConformanceThroughPluginProcess(t *testing.T) {
	path := pluginBinary(t)
	logDir := t.TempDir()
	backendtest.Run(t, backendtest.Harness{
		Backend: func(t *testing.T) backend.Backend {
			return launch(t, path, map[string]any{
				"hostname": "conformance-plugin",
				"log_dir":  logDir,
				"vms":      map[string]any{"count": conformanceVMs},
			})
		},
		Spec:    minimalSpec,
		LogPath: func(vm *backend.VM) string { return filepath.Join(logDir, vm.Name+".log") },
	})
}

// launch starts the plugin binary at path with settings and closes it when
// t ends.
func launch(t testing.TB, path string, settings map[string]any) *pluginhost.SupervisedBackend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := pluginhost.LaunchBackend(ctx, pluginhost.Config{Name: Name, Path: path, Settings: settings})
	if err != nil {
		t.Fatalf("LaunchBackend(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing the plugin: %v", err)
		}
	})
	return b
}

// TestPluginProcessConfig checks what the plugin process does with its
// config block: the pre-populated VMs and hostname arrive over the wire,
// and an unknown attribute fails the launch naming it.
func TestPluginProcessConfig(t *testing.T) {
	path := pluginBinary(t)
	ctx := context.Background()
	b := launch(t, path, map[string]any{"hostname": "plug-1", "log_dir": t.TempDir(), "vms": map[string]any{"count": 5, "state": "running"}})
	h, err := b.HostInfo(ctx)
	if err != nil || h.Hostname != "plug-1" {
		t.Fatalf("HostInfo = %+v, %v; want hostname plug-1", h, err)
	}
	vms, err := b.ListVMs(ctx)
	if err != nil || len(vms) != 5 {
		t.Fatalf("ListVMs = %d VMs, %v; want 5", len(vms), err)
	}
	for i, vm := range vms {
		if vm.ID != PopulatedID("plug-1", i) || vm.State != backend.StateRunning {
			t.Errorf("VM %d = %s %q %s, want %s RUNNING", i, vm.ID, vm.Name, vm.State, PopulatedID("plug-1", i))
		}
	}

	_, err = pluginhost.LaunchBackend(ctx, pluginhost.Config{Name: Name, Path: path, Settings: map[string]any{"bogus": 1}})
	if err == nil || !strings.Contains(err.Error(), `unknown attribute "bogus"`) {
		t.Errorf("LaunchBackend with an unknown attribute = %v, want an error naming it", err)
	}
}

// TestPluginBinaryRefusesToRunByHand runs the plugin without the go-plugin
// handshake: it must say it is a plugin and exit non-zero.
func TestPluginBinaryRefusesToRunByHand(t *testing.T) {
	cmd := exec.Command(pluginBinary(t))
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("running by hand: err %v, want a non-zero exit\n%s", err, out)
	}
	if !strings.Contains(string(out), "This binary is a plugin") {
		t.Errorf("output does not say it is a plugin:\n%s", out)
	}
}
