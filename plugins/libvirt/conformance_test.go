package libvirt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	golibvirt "libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/quantixvm/quantix/internal/hostlock"
	"github.com/quantixvm/quantix/internal/wait"
	qxlibvirt "github.com/quantixvm/quantix/plugins/libvirt"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/backend/backendtest"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// systemQEMULogDir is where libvirtd's QEMU driver writes the per-VM logs on
// this host.
const systemQEMULogDir = "/var/log/libvirt/qemu"

// configured returns a libvirt backend configured with cfg, closed when t
// ends. hint is added to a Configure failure.
func configured(t *testing.T, cfg map[string]string, hint string) *qxlibvirt.Backend {
	t.Helper()
	b, err := configure(t, cfg)
	if err != nil {
		t.Fatalf("%v%s", err, hint)
	}
	return b
}

// configure is configured returning its error instead of failing t.
func configure(t *testing.T, cfg map[string]string) (*qxlibvirt.Backend, error) {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding the plugin config: %w", err)
	}
	b := qxlibvirt.New()
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing the libvirt backend: %v", err)
		}
	})
	if err := b.Configure(context.Background(), raw, backend.APIVersion); err != nil {
		return nil, fmt.Errorf("Configure(%s) = %w", raw, err)
	}
	return b, nil
}

// configCheck gives the conformance suite unconfigured libvirt backends, the
// valid config block cfg and blocks each wrong in one attribute, among them
// cfg with domain_type foreignType, a type the driver of cfg's uri refuses
// once connected.
func configCheck(cfg map[string]string, foreignType string) *backendtest.ConfigCheck {
	valid := map[string]any{}
	for k, v := range cfg {
		valid[k] = v
	}
	with := func(k string, v any) map[string]any {
		c := maps.Clone(valid)
		c[k] = v
		return c
	}
	return &backendtest.ConfigCheck{
		New: func(t *testing.T) backend.Backend {
			b := qxlibvirt.New()
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("closing the libvirt backend: %v", err)
				}
			})
			return b
		},
		Valid: valid,
		Invalid: []backendtest.BadConfig{
			{Config: with("uri", ""), Attribute: "uri"},
			{Config: with("uri", 5), Attribute: "uri"},
			{Config: with("image_dir", "images"), Attribute: "image_dir"},
			{Config: with("qemu_log_dir", "logs"), Attribute: "qemu_log_dir"},
			{Config: with("domain_type", "xen"), Attribute: "domain_type"},
			{Config: with("reboot_timeout", "soon"), Attribute: "reboot_timeout"},
			{Config: with("domain_type", foreignType), Attribute: "domain_type"},
		},
	}
}

// minimalSpec is a VM that QEMU can run without any disk: SeaBIOS finds
// nothing to boot and the VM stays RUNNING, which is all the suite needs.
func minimalSpec(name string) backend.VMSpec {
	return backend.VMSpec{Name: name, VCPUs: 1, MemoryMiB: 64}
}

// TestConformanceTestDriver runs the backend conformance suite against
// libvirt's in-process test driver (test:///default): fast, no QEMU.
func TestConformanceTestDriver(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	imageDir := t.TempDir()
	cfg := map[string]string{
		"uri":          "test:///default",
		"image_dir":    imageDir,
		"qemu_log_dir": logDir,
		"domain_type":  "auto",
	}
	backendtest.Run(t, backendtest.Harness{
		Backend: func(t *testing.T) backend.Backend {
			b := configured(t, cfg, "")
			return noConsole{Backend: b, StatsCollector: b}
		},
		Spec:           minimalSpec,
		LogPath:        func(vm *backend.VM) string { return filepath.Join(logDir, vm.Name+".log") },
		Config:         configCheck(cfg, "kvm"),
		CannotRelaunch: testDriverForgets,
	})
}

// TestConformanceQEMU runs the backend conformance suite against the host's
// libvirtd with real QEMU guests (qemu:///system). The log subtests write
// <name>.log files in the system's QEMU log directory only for VMs they
// never start, and remove them afterwards.
func TestConformanceQEMU(t *testing.T) {
	t.Parallel()
	hostlock.Libvirtd(t)
	if _, err := os.Stat(systemQEMULogDir); err != nil {
		t.Fatalf("the QEMU log directory %s is missing (%v): libvirt with QEMU is not installed; run make deps", systemQEMULogDir, err)
	}
	conn, err := connect("qemu:///system", 5*time.Second)
	if err != nil {
		t.Fatalf("qemu:///system is unreachable (%v): libvirtd is not running; run make deps", err)
	}
	_, _ = conn.Close()
	removePools(t, "qemu:///system", staleImageDir)
	imageDir, err := os.MkdirTemp("", imageDirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(imageDir); err != nil {
			t.Errorf("removing %s: %v", imageDir, err)
		}
	})
	if err := os.Chmod(imageDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Configure defines a persistent, autostarted storage pool for
	// image_dir; this run's directory goes away, so its pool must too.
	t.Cleanup(func() {
		removePools(t, "qemu:///system", func(dir string) bool { return dir == imageDir })
	})
	cfg := map[string]string{
		"uri":          "qemu:///system",
		"image_dir":    imageDir,
		"qemu_log_dir": systemQEMULogDir,
		// A firmware-only guest never acts on an ACPI reboot; do not wait
		// the default 30 s before resetting it.
		"reboot_timeout": "2s",
		"domain_type":    "auto",
	}
	const hint = "; qemu:///system is unreachable or refused the configuration: is libvirtd running? run make deps"
	// b is the backend the suite uses; Relaunch replaces it.
	var b *qxlibvirt.Backend
	backendtest.Run(t, backendtest.Harness{
		Backend: func(t *testing.T) backend.Backend {
			b = configured(t, cfg, hint)
			return b
		},
		Spec:    minimalSpec,
		LogPath: func(vm *backend.VM) string { return filepath.Join(systemQEMULogDir, vm.Name+".log") },
		// The domains and their QEMU processes belong to libvirtd: a new
		// Backend on a new connection, as a relaunched plugin process
		// opens, finds them.
		Relaunch: func(t *testing.T) (backend.Backend, error) {
			if err := b.Close(); err != nil {
				return nil, fmt.Errorf("closing the libvirt backend: %w", err)
			}
			next, err := configure(t, cfg)
			if err != nil {
				return nil, err
			}
			b = next
			return b, nil
		},
		Crash:  func(_ *testing.T, vm *backend.VM) error { return killQEMU(vm.Name) },
		Config: configCheck(cfg, "test"),
	})
}

// testDriverForgets is why the runs on libvirt's test driver skip the
// relaunch check.
const testDriverForgets = "libvirt's test driver (test:///default) keeps its domains in the memory of the process that " +
	"opened it, and drops them with the last connection; the QEMU run checks the relaunch"

// systemQEMURunDir is where libvirtd's QEMU driver keeps the pid file of
// each running domain, <name>.pid.
const systemQEMURunDir = "/run/libvirt/qemu"

// killQEMU kills the QEMU process of the running domain name with SIGKILL,
// as when QEMU dies on its own: libvirtd sees the monitor close without a
// shutdown and reports the domain crashed. It checks that the pid is that
// domain's QEMU before killing it.
func killQEMU(name string) error {
	pidFile := filepath.Join(systemQEMURunDir, name+".pid")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("reading the pid of domain %s's QEMU process: %w", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("%s holds %q, not the pid of a QEMU process", pidFile, data)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return fmt.Errorf("reading the command line of pid %d (from %s): %w", pid, pidFile, err)
	}
	// libvirt names the guest "-name guest=<name>,debug-threads=on".
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	i := slices.Index(args, "-name")
	if i < 0 || i+1 == len(args) || (args[i+1] != "guest="+name && !strings.HasPrefix(args[i+1], "guest="+name+",")) {
		return fmt.Errorf("pid %d (from %s) is not domain %s's QEMU: its command line is %q", pid, pidFile, name, strings.Join(args, " "))
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing domain %s's QEMU process %d: %w", name, pid, err)
	}
	return nil
}

// imageDirPrefix starts the name of the temporary image directories the
// QEMU run creates.
const imageDirPrefix = "qx-conf-images-"

// connect opens uri, retrying for up to patience: libvirtd may be
// restarting.
func connect(uri string, patience time.Duration) (*golibvirt.Connect, error) {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	var conn *golibvirt.Connect
	err := wait.Poll(ctx, func() (err error) {
		conn, err = golibvirt.NewConnect(uri)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("no connection within %s: %w", patience, err)
	}
	return conn, nil
}

// removePools destroys and undefines the storage pools of uri that match:
// match gets the pool's target directory.
func removePools(t *testing.T, uri string, match func(dir string) bool) {
	conn, err := connect(uri, 15*time.Second)
	if err != nil {
		t.Errorf("connecting to %s to remove the storage pools of this test's image directories: %v", uri, err)
		return
	}
	defer func() { _, _ = conn.Close() }()
	pools, err := conn.ListAllStoragePools(0)
	if err != nil {
		t.Errorf("listing the storage pools of %s: %v", uri, err)
		return
	}
	for i := range pools {
		p := &pools[i]
		doc, err := p.GetXMLDesc(0)
		var def libvirtxml.StoragePool
		if err == nil && def.Unmarshal(doc) == nil && def.Target != nil && match(filepath.Clean(def.Target.Path)) {
			if active, _ := p.IsActive(); active {
				if err := p.Destroy(); err != nil {
					t.Errorf("stopping storage pool %s (%s): %v", def.Name, def.Target.Path, err)
				}
			}
			if err := p.Undefine(); err != nil {
				t.Errorf("undefining storage pool %s (%s): %v", def.Name, def.Target.Path, err)
			} else {
				t.Logf("removed storage pool %s of %s", def.Name, def.Target.Path)
			}
		}
		_ = p.Free()
	}
}

// staleImageDir reports whether dir is the image directory of an earlier
// QEMU run that is gone (an aborted run, or libvirtd down at its cleanup).
func staleImageDir(dir string) bool {
	if filepath.Dir(dir) != filepath.Clean(os.TempDir()) || !strings.HasPrefix(filepath.Base(dir), imageDirPrefix) {
		return false
	}
	_, err := os.Stat(dir)
	return errors.Is(err, os.ErrNotExist)
}

// noConsole is the backend without its console (keeping its stats), which libvirt's test
// driver does not implement (virDomainOpenConsole is unsupported there).
type noConsole struct {
	backend.Backend
	backend.StatsCollector
}

func (b noConsole) Info(ctx context.Context) (plugin.Info, error) {
	info, err := b.Backend.Info(ctx)
	info.Capabilities = slices.DeleteFunc(slices.Clone(info.Capabilities), func(c string) bool { return c == backend.CapConsole })
	return info, err
}
