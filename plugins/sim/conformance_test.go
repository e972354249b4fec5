package sim

import (
	"context"
	"errors"
	"fmt"
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
// in-process; the suite serves it over a real gRPC connection. The host
// keeps its inventory in a state file, which is what lets a relaunched sim
// find its VMs.
func TestConformance(t *testing.T) {
	logDir := t.TempDir()
	cfg := Config{
		Hostname:  "conformance",
		LogDir:    logDir,
		StateFile: filepath.Join(t.TempDir(), "conformance.json"),
		VMs:       VMsConfig{Count: conformanceVMs},
	}
	// b is the sim the suite uses; Relaunch replaces it.
	var b *Backend
	backendtest.Run(t, backendtest.Harness{
		Backend: func(t *testing.T) backend.Backend {
			b = newSim(t, cfg)
			return b
		},
		Spec:            minimalSpec,
		LogPath:         func(vm *backend.VM) string { return filepath.Join(logDir, vm.Name+".log") },
		ConsoleExchange: backendtest.EchoExchange,
		// A relaunched plugin process is a new Backend: nothing but the
		// state file is shared with the old one.
		Relaunch: func(t *testing.T) (backend.Backend, error) {
			if err := b.Close(); err != nil {
				return nil, fmt.Errorf("closing the sim: %w", err)
			}
			next := New(WithLogger(hclog.NewNullLogger()))
			t.Cleanup(func() {
				if err := next.Close(); err != nil {
					t.Errorf("closing the relaunched sim: %v", err)
				}
			})
			if err := configure(next, cfg); err != nil {
				return nil, fmt.Errorf("configuring the relaunched sim: %w", err)
			}
			b = next
			return b, nil
		},
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
// runs it. Its relaunch ends the plugin process and launches a new one on
// the same state file.
func TestConformanceThroughPluginProcess(t *testing.T) {
	path := pluginBinary(t)
	logDir := t.TempDir()
	settings := map[string]any{
		"hostname":   "conformance-plugin",
		"log_dir":    logDir,
		"state_file": filepath.Join(t.TempDir(), "conformance-plugin.json"),
		"vms":        map[string]any{"count": conformanceVMs},
	}
	var b *pluginhost.SupervisedBackend
	backendtest.Run(t, backendtest.Harness{
		Backend: func(t *testing.T) backend.Backend {
			b = launch(t, path, settings)
			return b
		},
		Spec:            minimalSpec,
		LogPath:         func(vm *backend.VM) string { return filepath.Join(logDir, vm.Name+".log") },
		ConsoleExchange: backendtest.EchoExchange,
		Relaunch: func(t *testing.T) (backend.Backend, error) {
			if err := b.Close(); err != nil {
				return nil, fmt.Errorf("ending the plugin process: %w", err)
			}
			next, err := launchE(t, path, settings)
			if err != nil {
				return nil, err
			}
			b = next
			return b, nil
		},
	})
}

// launch starts the plugin binary at path with settings and closes it when
// t ends.
func launch(t testing.TB, path string, settings map[string]any) *pluginhost.SupervisedBackend {
	t.Helper()
	b, err := launchE(t, path, settings)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// launchE is launch returning its error instead of failing t.
func launchE(t testing.TB, path string, settings map[string]any) (*pluginhost.SupervisedBackend, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := pluginhost.LaunchBackend(ctx, pluginhost.Config{Name: Name, Path: path, Settings: settings})
	if err != nil {
		return nil, fmt.Errorf("LaunchBackend(%s): %w", path, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing the plugin: %v", err)
		}
	})
	return b, nil
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
