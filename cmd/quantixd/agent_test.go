package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/plugins/sim"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// libvirtdHint is what a failed launch of the backend says when the
// libvirt backend cannot reach libvirtd.
const libvirtdHint = "is libvirtd running? `make deps` installs and starts it"

// simPlugin returns the path of quantix-backend-sim: the one `make test`
// built into $QUANTIX_BIN_DIR/plugins, else one built for the test.
func simPlugin(t *testing.T) string {
	t.Helper()
	name := plugin.BinaryName(plugin.TypeBackend, sim.Name)
	if bin := os.Getenv(testbin.EnvBinDir); bin != "" {
		p := filepath.Join(bin, "plugins", name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	root, err := testbin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, "./plugins/sim/cmd/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, b)
	}
	return out
}

// TestLaunchBackendErrors: a backend that cannot be launched fails with an
// error naming what to fix, and only the libvirt backend that cannot reach
// libvirtd asks whether libvirtd runs.
func TestLaunchBackendErrors(t *testing.T) {
	libvirtBin, err := testbin.LibvirtPlugin()
	if err != nil {
		t.Fatalf("the libvirt plugin is needed: %v", err)
	}
	dir := t.TempDir()
	libvirtConfig := func(uri string, extra map[string]any) map[string]any {
		c := map[string]any{"uri": uri, "image_dir": filepath.Join(dir, "images"), "qemu_log_dir": dir}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	cases := []struct {
		name   string
		plugin config.PluginConfig
		// want is in the error; hint says whether the libvirtd hint is.
		want string
		hint bool
	}{
		{
			name: "checksum mismatch",
			plugin: config.PluginConfig{Name: "libvirt", Path: libvirtBin, Checksum: "sha256:" + strings.Repeat("0", 64),
				Config: libvirtConfig("test:///default", nil)},
			want: "checksum",
		},
		{
			name:   "unknown config attribute",
			plugin: config.PluginConfig{Name: "libvirt", Path: libvirtBin, Config: libvirtConfig("test:///default", map[string]any{"colour": "blue"})},
			want:   "colour",
		},
		{
			name:   "sim backend",
			plugin: config.PluginConfig{Name: "sim", Path: simPlugin(t), Config: map[string]any{"vms": map[string]any{"count": 1, "state": "asleep"}}},
			want:   "state",
		},
		{
			name: "libvirtd unreachable",
			plugin: config.PluginConfig{Name: "libvirt", Path: libvirtBin,
				Config: libvirtConfig("qemu+unix:///system?socket="+filepath.Join(dir, "no-libvirtd", "libvirt-sock"), nil)},
			want: "no-libvirtd",
			hint: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.PluginDir = dir
			cfg.Agent.Backend = tc.plugin.Name
			cfg.Plugins = []config.PluginConfig{tc.plugin}
			d := &daemon{log: testlog.New(t, hclog.Warn)}
			b, err := d.launchBackend(context.Background(), cfg)
			if d.plugins != nil {
				t.Cleanup(func() { _ = d.plugins.Close() })
			}
			if err == nil {
				_ = b.Close()
				t.Fatal("the backend was launched")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "starting the "+tc.plugin.Name+" backend") {
				t.Errorf("error %q does not name %q", msg, tc.want)
			}
			if got := strings.Contains(msg, libvirtdHint); got != tc.hint {
				t.Errorf("error %q: libvirtd hint %v, want %v", msg, got, tc.hint)
			}
			if strings.Contains(msg, "is the hypervisor running") {
				t.Errorf("error %q asks whether the hypervisor runs", msg)
			}
		})
	}
}
