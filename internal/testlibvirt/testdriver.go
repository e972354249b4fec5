package testlibvirt

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/testlog"
)

// PluginName is the name the libvirt backend plugin runs under.
const PluginName = "libvirt"

// TestDriverBackend is the real libvirt plugin process on libvirt's
// in-memory test driver (test:///default): fast, and fresh for each launch.
type TestDriverBackend struct {
	*pluginhost.SupervisedBackend
	// LogDir is the plugin's qemu_log_dir: a test writes <name>.log there
	// to give a VM a log.
	LogDir string
}

// LaunchTestDriver starts the plugin on test:///default with temp image and
// log dirs; it is closed when the test ends.
func LaunchTestDriver(t testing.TB) *TestDriverBackend {
	t.Helper()
	path, err := testbin.LibvirtPlugin()
	if err != nil {
		t.Fatalf("the real backend plugin is needed: %v", err)
	}
	dir := t.TempDir()
	logDir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := pluginhost.LaunchBackend(context.Background(), pluginhost.Config{
		Name: PluginName,
		Path: path,
		Settings: map[string]any{
			"uri":            "test:///default",
			"image_dir":      filepath.Join(dir, "images"),
			"qemu_log_dir":   logDir,
			"reboot_timeout": "1s",
		},
		Logger: testlog.New(t, hclog.Warn),
	})
	if err != nil {
		t.Fatalf("launching the libvirt plugin on test:///default: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return &TestDriverBackend{SupervisedBackend: b, LogDir: logDir}
}
