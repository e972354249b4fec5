package pluginhost

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/backend/backendtest"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// TestConformanceThroughHost runs the backend conformance suite on the real
// plugin as the agent sees it: through SupervisedBackend, so every operation
// (power, logs, events) is checked after the host's delegation.
func TestConformanceThroughHost(t *testing.T) {
	logDir := t.TempDir()
	imageDir := t.TempDir()
	backendtest.Run(t, backendtest.Harness{
		Backend: func(t *testing.T) backend.Backend {
			cfg := testConfig(t)
			cfg.Settings = map[string]any{
				"uri":          "test:///default",
				"image_dir":    imageDir,
				"qemu_log_dir": logDir,
			}
			// libvirt's test driver has no console (virDomainOpenConsole is
			// unsupported there): the suite checks it on QEMU.
			return noConsole{launch(t, cfg)}
		},
		Spec:    func(name string) backend.VMSpec { return backend.VMSpec{Name: name, VCPUs: 1, MemoryMiB: 64} },
		LogPath: func(vm *backend.VM) string { return filepath.Join(logDir, vm.Name+".log") },
		CannotRelaunch: "libvirt's test driver (test:///default) keeps its domains in the plugin process's memory; " +
			"plugins/libvirt checks the relaunch on QEMU",
	})
}

// noConsole is a backend without its console.
type noConsole struct{ backend.Backend }

func (b noConsole) Info(ctx context.Context) (plugin.Info, error) {
	info, err := b.Backend.Info(ctx)
	info.Capabilities = slices.DeleteFunc(slices.Clone(info.Capabilities), func(c string) bool { return c == backend.CapConsole })
	return info, err
}
