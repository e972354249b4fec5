// Package pluginbench_test measures what running the libvirt backend as a
// plugin process costs over linking it in-process: the same calls on the same
// test-driver inventory, through pluginhost.InProcess and through a plugin
// process launched by pluginhost.LaunchBackend.
package pluginbench_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/plugins/libvirt"
	"github.com/quantixvm/quantix/sdk/backend"
	sdkplugin "github.com/quantixvm/quantix/sdk/plugin"
)

// Targets the figures are judged against.
const (
	targetAddedP50 = 60 * time.Microsecond
	targetListRate = 1.5
	// domains is the inventory ListVMs returns.
	domains = 1000
)

// built is the libvirt plugin binary, found or built on first use.
var built = struct {
	once sync.Once
	path string
	err  error
	dir  string
}{}

// pluginPath returns the plugin binary, building it the first time.
func pluginPath() (string, error) {
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "pluginbench-")
		if built.err == nil {
			built.path, built.err = findOrBuildPlugin(built.dir)
		}
	})
	return built.path, built.err
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// findOrBuildPlugin uses $QUANTIX_BIN_DIR's plugin when `make bench` built
// one, and otherwise builds it into dir.
func findOrBuildPlugin(dir string) (string, error) {
	name := sdkplugin.BinaryName(sdkplugin.TypeBackend, "libvirt")
	if bin := os.Getenv("QUANTIX_BIN_DIR"); bin != "" {
		for _, p := range []string{filepath.Join(bin, "plugins", name), filepath.Join(bin, name)} {
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p, nil
			}
		}
	}
	out := filepath.Join(dir, name)
	// The test runs in plugins/libvirt/pluginbench; the command is a sibling.
	cmd := exec.Command("go", "build", "-o", out, "../cmd/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s (run \"make deps\" for libvirt-dev): %w\n%s", name, err, b)
	}
	return out, nil
}

// pair is the same backend twice: linked in and as a plugin process.
type pair struct {
	inproc backend.Backend
	plugin backend.Backend
}

// newPair serves a test-driver file of n domains both ways.
func newPair(b *testing.B, n int) pair {
	b.Helper()
	path, err := pluginPath()
	if err != nil {
		b.Fatalf("the libvirt plugin is needed: %v", err)
	}
	dir := b.TempDir()
	file := filepath.Join(dir, "driver.xml")
	if err := libvirt.WriteTestDriverFile(file, n); err != nil {
		b.Fatalf("WriteTestDriverFile: %v", err)
	}
	settings := map[string]any{
		"uri":          "test://" + file,
		"image_dir":    filepath.Join(dir, "images"),
		"qemu_log_dir": filepath.Join(dir, "logs"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := pluginhost.InProcess(ctx, "libvirt", libvirt.New(libvirt.WithLogger(hclog.NewNullLogger())), settings)
	if err != nil {
		b.Fatalf("in-process backend: %v", err)
	}
	b.Cleanup(func() { _ = in.Close() })
	out, err := pluginhost.LaunchBackend(ctx, pluginhost.Config{Name: "libvirt", Path: path, Settings: settings})
	if err != nil {
		b.Fatalf("plugin backend: %v", err)
	}
	b.Cleanup(func() { _ = out.Close() })
	return pair{inproc: in, plugin: out}
}

// measure runs call on both sides, interleaved so both see the same machine,
// and reports each side's median, the latency the plugin adds and the ratio.
func measure(b *testing.B, p pair, call func(context.Context, backend.Backend) error) (in, out time.Duration) {
	ctx := context.Background()
	// Warm both: connections, caches, the first gRPC stream.
	for range 3 {
		if err := call(ctx, p.inproc); err != nil {
			b.Fatalf("in-process: %v", err)
		}
		if err := call(ctx, p.plugin); err != nil {
			b.Fatalf("plugin: %v", err)
		}
	}
	var ins, outs []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := call(ctx, p.inproc); err != nil {
			b.Fatalf("in-process: %v", err)
		}
		t1 := time.Now()
		if err := call(ctx, p.plugin); err != nil {
			b.Fatalf("plugin: %v", err)
		}
		ins = append(ins, t1.Sub(t0))
		outs = append(outs, time.Since(t1))
	}
	in, out = p50(ins), p50(outs)
	b.ReportMetric(micros(in), "inproc-p50-µs")
	b.ReportMetric(micros(out), "plugin-p50-µs")
	b.ReportMetric(micros(out-in), "added-p50-µs")
	b.ReportMetric(float64(out)/float64(in), "plugin/inproc")
	return in, out
}

// BenchmarkPluginCallOverhead compares one call through the plugin process
// with the same call on the backend linked in-process.
func BenchmarkPluginCallOverhead(b *testing.B) {
	// Info does no hypervisor work on either side: the plugin's figure is
	// the transport's floor (gRPC over a unix socket with mutual TLS).
	b.Run("Info", func(b *testing.B) {
		p := newPair(b, 1)
		measure(b, p, func(ctx context.Context, be backend.Backend) error {
			_, err := be.Info(ctx)
			return err
		})
	})
	b.Run("GetVM", func(b *testing.B) {
		p := newPair(b, 10)
		vms, err := p.inproc.ListVMs(context.Background())
		if err != nil || len(vms) == 0 {
			b.Fatalf("ListVMs: %d VMs, %v", len(vms), err)
		}
		id := vms[0].ID
		in, out := measure(b, p, func(ctx context.Context, be backend.Backend) error {
			_, err := be.GetVM(ctx, id)
			return err
		})
		if added := out - in; added > targetAddedP50 {
			b.Logf("GetVM: the plugin adds %s at p50, over the %s target", added, targetAddedP50)
		}
	})
	b.Run(fmt.Sprintf("ListVMs-%d", domains), func(b *testing.B) {
		p := newPair(b, domains)
		in, out := measure(b, p, func(ctx context.Context, be backend.Backend) error {
			vms, err := be.ListVMs(ctx)
			if err == nil && len(vms) < domains {
				err = fmt.Errorf("listed %d VMs, want at least %d", len(vms), domains)
			}
			return err
		})
		if ratio := float64(out) / float64(in); ratio > targetListRate {
			b.Logf("ListVMs of %d: the plugin takes %.2fx the in-process time at p50, over the %.1fx target", domains, ratio, targetListRate)
		}
	})
}

func p50(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
