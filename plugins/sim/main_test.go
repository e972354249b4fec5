package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// binaryName is the plugin binary the process tests run.
var binaryName = plugin.BinaryName(plugin.TypeBackend, Name)

func TestMain(m *testing.M) {
	code := m.Run()
	if left := childPlugins(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: plugin processes left behind: %v\n", left)
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		code = 1
	}
	testbin.Cleanup()
	os.Exit(code)
}

// pluginBinary returns $QUANTIX_BIN_DIR's plugin when `make test` built
// one, and otherwise builds it once. The binary is part of this
// repository, so failing to build it fails the test.
func pluginBinary(t testing.TB) string {
	t.Helper()
	return testbin.Plugin(t, binaryName)
}

// childPlugins lists live children of this process that run a Quantix
// plugin binary.
func childPlugins() []int {
	entries, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 2 || fields[0] == "Z" || fields[0] == "X" || fields[1] != self {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.HasPrefix(filepath.Base(exe), "quantix-") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// configure configures b with cfg, encoded as a plugin block is.
func configure(b *Backend, cfg Config) error {
	raw, err := json.Marshal(cfg.Settings())
	if err != nil {
		return err
	}
	return b.Configure(context.Background(), raw, backend.APIVersion)
}

// newSim returns a configured host, closed when t ends. An empty LogDir
// becomes a directory of t's.
func newSim(t testing.TB, cfg Config, opts ...Option) *Backend {
	t.Helper()
	if cfg.LogDir == "" {
		cfg.LogDir = t.TempDir()
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "sim-test"
	}
	b := New(append([]Option{WithLogger(hclog.NewNullLogger())}, opts...)...)
	if err := configure(b, cfg); err != nil {
		t.Fatalf("Configure(%+v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// minimalSpec is the smallest spec the backend accepts.
func minimalSpec(name string) backend.VMSpec {
	return backend.VMSpec{Name: name, VCPUs: 1, MemoryMiB: 64}
}

// events collects what one WatchEvents call delivers.
type events struct {
	mu     sync.Mutex
	list   []backend.Event
	notify chan struct{}
	done   chan error
	cancel context.CancelFunc
}

// watch subscribes to b's events until t ends, and waits until the
// subscription is registered.
func watch(t testing.TB, b *Backend) *events {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &events{notify: make(chan struct{}, 1), done: make(chan error, 1), cancel: cancel}
	before := b.hub.Subscribers()
	go func() {
		w.done <- b.WatchEvents(ctx, func(ev backend.Event) error {
			w.mu.Lock()
			w.list = append(w.list, ev)
			w.mu.Unlock()
			select {
			case w.notify <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	subscribed(t, b, before)
	t.Cleanup(func() { w.stop(t) })
	return w
}

// subscribed waits until b's event hub has more than before subscribers:
// a WatchEvents call started since is registered.
func subscribed(t testing.TB, b *Backend, before int) {
	t.Helper()
	wait.Until(t, 5*time.Second, "WatchEvents to subscribe", func() bool { return b.hub.Subscribers() > before })
}

// stop ends the call and checks that it returned nil.
func (w *events) stop(t testing.TB) {
	t.Helper()
	w.cancel()
	select {
	case err, ok := <-w.done:
		if ok && err != nil {
			t.Errorf("WatchEvents returned %v after cancel, want nil", err)
		}
		if ok {
			close(w.done)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("WatchEvents did not return within 5s of cancel")
	}
}

// wait waits until n events have arrived and returns all of them; it fails
// t when they do not come within 5s.
func (w *events) wait(t testing.TB, n int) []backend.Event {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		w.mu.Lock()
		got := append([]backend.Event(nil), w.list...)
		w.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-w.notify:
		case <-deadline:
			t.Fatalf("%d events within 5s, want %d: %s", len(got), n, fmtEvents(got))
		}
	}
}

// snapshot returns the events arrived so far.
func (w *events) snapshot() []backend.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]backend.Event(nil), w.list...)
}

// quiet checks that no event beyond the first n arrives within d.
func (w *events) quiet(t testing.TB, n int, d time.Duration) {
	t.Helper()
	wait.Stays(t, d, fmt.Sprintf("no event after the first %d", n), func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.list) > n {
			t.Errorf("unexpected events after the first %d: %s", n, fmtEvents(w.list[n:]))
			return false
		}
		return true
	})
}

// fmtEvents formats events for failure messages.
func fmtEvents(evs []backend.Event) string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmtEvent(ev))
	}
	return "[" + strings.Join(out, ", ") + "]"
}

func fmtEvent(ev backend.Event) string {
	return fmt.Sprintf("{%s %s %q %s %q}", ev.Type, ev.VMID, ev.VMName, ev.State, ev.Reason)
}
