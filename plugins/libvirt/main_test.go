package libvirt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/quantixvm/quantix/internal/hostlock"
	"github.com/quantixvm/quantix/internal/testguest"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Test resources carry this prefix, so a run can sweep what an earlier,
// failed run left behind.
const testPrefix = "qx-test-"

// guestPrefix names the VMs of the tests booting the test guest.
// Each package that boots it has its own, as each sweeps its own leftovers
// while the other may be running.
const guestPrefix = "qx-g-lv-"

const (
	testURI = "test:///default"
	qemuURI = "qemu:///system"
)

// qemuEnv is the real libvirtd the QEMU tests use.
var qemuEnv struct {
	imageDir string
	err      error
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if err := startEventLoop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	qemuEnv.err = setupQEMU()
	code := m.Run()
	testguest.Cleanup()
	if qemuEnv.err == nil {
		if err := teardownQEMU(); err != nil {
			fmt.Fprintln(os.Stderr, "cleaning up qemu test resources:", err)
		}
	}
	return code
}

// setupQEMU sweeps leftovers of earlier runs and makes the image dir of
// this run: under /tmp, mode 0755 so that QEMU (libvirt-qemu) can read it.
func setupQEMU() error {
	if err := sweep(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", testPrefix+"images-")
	if err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	qemuEnv.imageDir = dir
	return nil
}

func teardownQEMU() error {
	err := sweep()
	return errors.Join(err, os.RemoveAll(qemuEnv.imageDir))
}

// sweep removes qx-test- domains, their volumes and logs, and the pools of
// qx-test- image dirs from qemu:///system.
func sweep() error {
	conn, err := libvirt.NewConnect(qemuURI)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", qemuURI, err)
	}
	defer conn.Close()
	doms, err := conn.ListAllDomains(0)
	if err != nil {
		return err
	}
	for i := range doms {
		sweepDomain(&doms[i])
		_ = doms[i].Free()
	}
	logs, _ := filepath.Glob(filepath.Join(DefaultQEMULogDir, testPrefix+"*.log"))
	guestLogs, _ := filepath.Glob(filepath.Join(DefaultQEMULogDir, guestPrefix+"*.log"))
	for _, l := range append(logs, guestLogs...) {
		_ = os.Remove(l)
	}
	return sweepPools(conn)
}

func sweepDomain(d *libvirt.Domain) {
	name, err := d.GetName()
	if err != nil || !(strings.HasPrefix(name, testPrefix) || strings.HasPrefix(name, guestPrefix)) {
		return
	}
	_ = d.Destroy()
	_ = undefine(d)
}

func sweepPools(conn *libvirt.Connect) error {
	pools, err := conn.ListAllStoragePools(0)
	if err != nil {
		return err
	}
	for i := range pools {
		p := &pools[i]
		doc, err := p.GetXMLDesc(0)
		var def libvirtxml.StoragePool
		if err == nil && def.Unmarshal(doc) == nil && def.Target != nil &&
			strings.HasPrefix(filepath.Base(def.Target.Path), testPrefix) {
			sweepVolumes(p)
			_ = p.Destroy()
			_ = p.Undefine()
			_ = os.RemoveAll(def.Target.Path)
		} else {
			sweepVolumes(p)
		}
		_ = p.Free()
	}
	return nil
}

func sweepVolumes(p *libvirt.StoragePool) {
	_ = p.Refresh(0)
	vols, err := p.ListAllStorageVolumes(0)
	if err != nil {
		return
	}
	for i := range vols {
		if name, err := vols[i].GetName(); err == nil && strings.HasPrefix(name, testPrefix) {
			_ = vols[i].Delete(0)
		}
		_ = vols[i].Free()
	}
}

// requireQEMU fails the test when qemu:///system is not usable.
func requireQEMU(t *testing.T) {
	t.Helper()
	hostlock.Libvirtd(t)
	if qemuEnv.err != nil {
		t.Fatalf("qemu:///system is not usable (%v): run `make deps` (scripts/setup-host.sh) to install and start libvirtd with QEMU", qemuEnv.err)
	}
}

// testName returns a unique VM name for this test.
func testName(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return testPrefix + hex.EncodeToString(b)
}

func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Warn, Output: os.Stderr})
}

// newBackend returns a backend configured with cfg (a JSON object), closed
// when the test ends.
func newBackend(t *testing.T, cfg string) *Backend {
	t.Helper()
	b := New(WithLogger(testLogger(t)))
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Configure(context.Background(), []byte(cfg), backend.APIVersion); err != nil {
		t.Fatalf("configure %s: %v", cfg, err)
	}
	return b
}

// newTestDriverBackend is a backend on libvirt's test driver with its own
// image and log dirs.
func newTestDriverBackend(t *testing.T) *Backend {
	t.Helper()
	return newBackend(t, fmt.Sprintf(`{"uri": %q, "image_dir": %q, "qemu_log_dir": %q, "reboot_timeout": "1s"}`, testURI, t.TempDir(), t.TempDir()))
}

// newQEMUBackend is a backend on qemu:///system using this run's image dir.
func newQEMUBackend(t *testing.T) *Backend {
	t.Helper()
	requireQEMU(t)
	return newBackend(t, fmt.Sprintf(`{"uri": %q, "image_dir": %q, "reboot_timeout": "1s"}`, qemuURI, qemuEnv.imageDir))
}

// createVM creates a VM that is force-deleted with its disks when the test
// ends.
func createVM(t *testing.T, b *Backend, spec backend.VMSpec) *backend.VM {
	t.Helper()
	vm, err := b.CreateVM(context.Background(), spec)
	if err != nil {
		t.Fatalf("creating %s: %v", spec.Name, err)
	}
	t.Cleanup(func() {
		if err := b.DeleteVM(context.Background(), vm.ID, backend.DeleteOptions{Force: true, DeleteDisks: true}); err != nil {
			t.Errorf("cleanup: deleting %s: %v", vm.Name, err)
		}
	})
	return vm
}

// libvirtConn runs fn with the backend's live libvirt connection.
func libvirtConn(t *testing.T, b *Backend, fn func(s *session, c *libvirt.Connect)) {
	t.Helper()
	if err := b.withConn(func(s *session, c *libvirt.Connect) error {
		fn(s, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// poolVolumes lists the volume names of the backend's pool that start with
// prefix.
func poolVolumes(t *testing.T, b *Backend, prefix string) []string {
	t.Helper()
	var names []string
	libvirtConn(t, b, func(s *session, c *libvirt.Connect) {
		pool, err := c.LookupStoragePoolByName(s.pool)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Free()
		vols, err := pool.ListAllStorageVolumes(0)
		if err != nil {
			t.Fatal(err)
		}
		for i := range vols {
			if n, _ := vols[i].GetName(); strings.HasPrefix(n, prefix) {
				names = append(names, n)
			}
			_ = vols[i].Free()
		}
	})
	return names
}

// domainExists reports whether libvirt has a domain called name.
func domainExists(t *testing.T, b *Backend, name string) bool {
	t.Helper()
	exists := false
	libvirtConn(t, b, func(_ *session, c *libvirt.Connect) {
		d, err := c.LookupDomainByName(name)
		if err == nil {
			exists = true
			_ = d.Free()
		} else if !hasCode(err, libvirt.ERR_NO_DOMAIN) {
			t.Fatal(err)
		}
	})
	return exists
}

// assertGone checks that neither the domain nor any of its volumes is left.
func assertGone(t *testing.T, b *Backend, name string) {
	t.Helper()
	if domainExists(t, b, name) {
		t.Errorf("domain %s still exists", name)
	}
	// Volumes are named <vm>+<disk>.qcow2, or <vm>-<disk>.qcow2 for VMs
	// created before.
	for _, sep := range []string{volumeSep, "-"} {
		if vols := poolVolumes(t, b, name+sep); len(vols) > 0 {
			t.Errorf("volumes of %s left behind: %v", name, vols)
		}
	}
}

// eventLog records a backend's events.
type eventLog struct {
	mu     sync.Mutex
	events []backend.Event
	signal chan struct{}
}

// watchEvents subscribes to b's events until the test ends.
func watchEvents(t *testing.T, b *Backend) *eventLog {
	t.Helper()
	l := &eventLog{signal: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	before := b.hub.Subscribers()
	go func() {
		done <- b.WatchEvents(ctx, func(e backend.Event) error {
			l.mu.Lock()
			l.events = append(l.events, e)
			l.mu.Unlock()
			select {
			case l.signal <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchEvents returned %v after cancel, want nil", err)
		}
	})
	wait.Until(t, 5*time.Second, "WatchEvents to subscribe", func() bool { return b.hub.Subscribers() > before })
	return l
}

// waitFor waits until an event matching match was recorded.
func (l *eventLog) waitFor(t *testing.T, what string, timeout time.Duration, match func(backend.Event) bool) backend.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		for _, e := range l.events {
			if match(e) {
				l.mu.Unlock()
				return e
			}
		}
		l.mu.Unlock()
		select {
		case <-l.signal:
		case <-deadline:
			t.Fatalf("no %s event within %s; got %+v", what, timeout, l.snapshot())
		}
	}
}

func (l *eventLog) snapshot() []backend.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]backend.Event(nil), l.events...)
}

// waitState waits for a state change of vm to state.
func (l *eventLog) waitState(t *testing.T, id string, state backend.PowerState) backend.Event {
	t.Helper()
	return l.waitFor(t, string(state), 10*time.Second, func(e backend.Event) bool {
		return e.Type == backend.EventStateChanged && e.VMID == id && e.State == state
	})
}

// wantKind checks an error's kind and, for invalid arguments, its field.
func wantKind(t *testing.T, what string, err error, kind plugin.Kind, field string) {
	t.Helper()
	if plugin.KindOf(err) != kind {
		t.Errorf("%s: err = %v (kind %s), want kind %s", what, err, plugin.KindOf(err), kind)
		return
	}
	if field != "" && plugin.FieldOf(err) != field {
		t.Errorf("%s: field = %q, want %q (err %v)", what, plugin.FieldOf(err), field, err)
	}
}

// wantState checks a VM returned by an operation.
func wantState(t *testing.T, what string, vm *backend.VM, err error, state backend.PowerState) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if vm.State != state {
		t.Fatalf("%s: state %s (%s), want %s", what, vm.State, vm.StateReason, state)
	}
}

// reset forgets the events recorded so far.
func (l *eventLog) reset() {
	l.mu.Lock()
	l.events = nil
	l.mu.Unlock()
}
