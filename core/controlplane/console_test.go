package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agent"
	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/testnode"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/plugins/sim"
	"github.com/quantixvm/quantix/sdk/backend"
)

// consoleWithin bounds the waits of the console tests.
const consoleWithin = 15 * time.Second

// pluginEnv is a service whose node's agent drives a backend plugin
// process: the simulated one (scripted through its control socket), or
// the one built from pkg.
type pluginEnv struct {
	*env
	b       *pluginhost.SupervisedBackend
	control string
}

func newPluginEnv(t testing.TB, name, pkg string) *pluginEnv {
	t.Helper()
	path, err := testbin.PackagePlugin(name, pkg)
	if err != nil {
		t.Fatalf("the plugin %s is needed: %v", name, err)
	}
	control := filepath.Join(t.TempDir(), "sim.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := pluginhost.LaunchBackend(ctx, pluginhost.Config{Name: "sim", Path: path, Settings: map[string]any{
		"hostname":       "console-" + name,
		"log_dir":        t.TempDir(),
		"control_socket": control,
		"vms":            map[string]any{"count": 0},
	}})
	if err != nil {
		t.Fatalf("launching %s: %v", path, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return newHostEnv(t, b, control)
}

// newHostEnv is a service whose node's agent drives b, a backend plugin
// process; control is the sim's control socket, if b is the sim.
func newHostEnv(t testing.TB, b *pluginhost.SupervisedBackend, control string) *pluginEnv {
	t.Helper()
	writes := new(atomic.Int64)
	e := &env{store: countingStore{Store: teststore.Open(t, "sqlite"), writes: writes}, disp: agentserver.NewDispatcher(), writes: writes}
	logger := testlog.New(t, hclog.Warn)
	svc, err := New(Options{Store: e.store, Executor: e.disp, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	e.svc, e.rec = svc, svc.Reconciler()
	t.Cleanup(e.rec.Close)
	e.host = testnode.Start(t, testnode.Options{Handler: e.rec, Dispatcher: e.disp, Logger: logger, Backend: b})
	e.node = e.host.ID
	return &pluginEnv{env: e, b: b, control: control}
}

// runningVM creates and starts a VM on the host and waits for its record
// to say RUNNING.
func (e *pluginEnv) runningVM(t testing.TB, name string) *vm.VM {
	t.Helper()
	ctx := context.Background()
	b, err := e.b.CreateVM(ctx, backend.VMSpec{Name: name, VCPUs: 1, MemoryMiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.StartVM(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	return e.waitState(t, name, vm.StateRunning)
}

func (e *pluginEnv) waitState(t testing.TB, name string, s vm.State) *vm.VM {
	t.Helper()
	return wait.Value(t, consoleWithin, fmt.Sprintf("vm %s to be %s", name, s), func() (*vm.VM, bool) {
		v, err := e.svc.Get(context.Background(), name)
		return v, err == nil && v.State == s
	})
}

// simConsoles asks the plugin process how many consoles it has open
// (0 for a host other than the sim).
func (e *pluginEnv) simConsoles(t *testing.T) int {
	t.Helper()
	if e.control == "" {
		return 0
	}
	r, err := sim.AskControl(e.control, sim.ControlRequest{Op: "consoles"})
	if err != nil {
		t.Fatal(err)
	}
	return r.Consoles
}

// consoleReader reads a console from a goroutine of its own, keeping what
// it read and how reading ended.
type consoleReader struct {
	c    nodeapi.Console
	mu   sync.Mutex
	buf  strings.Builder
	err  error
	done chan struct{}
}

func readConsole(c nodeapi.Console) *consoleReader {
	r := &consoleReader{c: c, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		b := make([]byte, 4096)
		for {
			n, err := c.Read(b)
			r.mu.Lock()
			r.buf.Write(b[:n])
			if err != nil {
				r.err = err
			}
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return r
}

func (r *consoleReader) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// exchange writes s and waits for its echo.
func (r *consoleReader) exchange(t *testing.T, s string) {
	t.Helper()
	before := r.text()
	if _, err := r.c.Write([]byte(s)); err != nil {
		t.Fatalf("writing %q: %v", s, err)
	}
	wait.Until(t, consoleWithin, fmt.Sprintf("the echo of %q", s), func() bool { return strings.Contains(strings.TrimPrefix(r.text(), before), s) })
}

// ended waits for Read to return io.EOF and returns why the console ended.
func (r *consoleReader) ended(t *testing.T, what string) nodeapi.ConsoleEnd {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(consoleWithin):
		t.Fatalf("%s: the console did not end within %s", what, consoleWithin)
	}
	if !errors.Is(r.err, io.EOF) {
		t.Fatalf("%s: Read ended with %v, want io.EOF", what, r.err)
	}
	return nodeapi.EndOf(r.c)
}

func wantEnd(t *testing.T, what string, got nodeapi.ConsoleEnd, cause nodeapi.ConsoleEndCause, parts ...string) {
	t.Helper()
	if got.Cause != cause {
		t.Errorf("%s: the console ended with %+v, want cause %s", what, got, cause)
	}
	for _, p := range parts {
		if !strings.Contains(got.Reason, p) {
			t.Errorf("%s: the end's reason %q does not say %q", what, got.Reason, p)
		}
	}
}

// leakCheck records the goroutines and consoles of the process now and
// checks, when called, that they came back to it.
func leakCheck(t *testing.T, e *pluginEnv) func(what string) {
	t.Helper()
	base := runtime.NumGoroutine()
	return func(what string) {
		t.Helper()
		var open [4]int
		wait.Until(t, consoleWithin, what+": consoles released on the server, the agent, the plugin host and the plugin", func() bool {
			open = [4]int{int(agentserver.OpenConsoles()), int(agent.OpenConsoles()), int(pluginhost.OpenConsoles()), int(e.simConsoles(t))}
			if open != [4]int{} {
				t.Logf("%s: open consoles (server, agent, plugin host, plugin): %v", what, open)
				return false
			}
			return true
		})
		var n int
		wait.Until(t, consoleWithin, what+": goroutines back to the baseline", func() bool {
			n = runtime.NumGoroutine()
			return n <= base
		})
	}
}

// TestConsoleThroughAgentAndPlugin opens VM consoles through the control
// plane, a real agent server and agent, and the simulated backend as a
// plugin process: echo, exclusivity and force, a client that stops
// reading, a VM that stops, a node that goes away; every end says why and
// nothing stays open.
func TestConsoleThroughAgentAndPlugin(t *testing.T) {
	e := newPluginEnv(t, "quantix-backend-sim", "./plugins/sim/cmd/quantix-backend-sim")
	ctx := context.Background()
	web := e.runningVM(t, "web")
	db := e.runningVM(t, "db")

	_, err := e.svc.OpenConsole(ctx, "nope", "alice", false)
	wantKind(t, err, KindNotFound)

	// Warm the connections up once, so that the baseline holds what they
	// keep.
	c, err := e.svc.OpenConsole(ctx, "web", "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	readConsole(c).exchange(t, "warm\r\n")
	c.Close()
	check := leakCheck(t, e)
	check("after the warm-up")

	t.Run("EchoAndExclusive", func(t *testing.T) {
		c1, err := e.svc.OpenConsole(ctx, web.ID, "alice", false)
		if err != nil {
			t.Fatal(err)
		}
		r1 := readConsole(c1)
		r1.exchange(t, "hello\r\n")
		if h, ok := e.svc.ConsoleHolderOf(web.ID); !ok || h.Who != "alice" {
			t.Errorf("ConsoleHolderOf = %+v, %v; want alice", h, ok)
		}
		_, err = e.svc.OpenConsole(ctx, "web", "bob", false)
		wantKind(t, err, KindConflict, `in use by "alice" since `, "force")
		r1.exchange(t, "still mine\r\n")

		c2, err := e.svc.OpenConsole(ctx, "web", "bob", true)
		if err != nil {
			t.Fatalf("forcing the console open: %v", err)
		}
		wantEnd(t, "the console taken over", r1.ended(t, "the console taken over"), nodeapi.ConsoleTakenOver, `"bob"`)
		if _, err := c1.Write([]byte("x")); err == nil {
			t.Error("writing to a console taken over succeeded")
		}
		r2 := readConsole(c2)
		r2.exchange(t, "bob here\r\n")
		c2.Close()
		wantEnd(t, "the console closed", r2.ended(t, "the console closed"), nodeapi.ConsoleClosed)
		if _, ok := e.svc.ConsoleHolderOf(web.ID); ok {
			t.Error("the console is still held after its client closed it")
		}
		check("after closing")
	})

	t.Run("StalledReaderIsolated", func(t *testing.T) {
		// A client that writes and never reads: the guest's echo fills
		// every queue on the way, which must hold up this console only.
		c1, err := e.svc.OpenConsole(ctx, "web", "alice", false)
		if err != nil {
			t.Fatal(err)
		}
		chunk := strings.Repeat("x", 32<<10)
		wrote := make(chan struct{})
		var written atomic.Int64
		go func() {
			defer close(wrote)
			for written.Load() < 64<<20 {
				if _, err := c1.Write([]byte(chunk)); err != nil {
					return
				}
				written.Add(int64(len(chunk)))
			}
		}()
		// The writer stalls once the queues are full.
		var last int64 = -1
		wait.Until(t, consoleWithin, "the writes to a console nobody reads to stall", func() bool {
			n := written.Load()
			stalled := n == last && n > 0
			last = n
			return stalled
		})
		// Meanwhile another console and the node's commands go on.
		c2, err := e.svc.OpenConsole(ctx, "db", "carol", false)
		if err != nil {
			t.Fatal(err)
		}
		r2 := readConsole(c2)
		r2.exchange(t, "not stalled\r\n")
		if _, err := e.svc.Logs(ctx, "db", 10); err != nil {
			t.Errorf("a command to the node while a console is stalled: %v", err)
		}
		// The client vanishes.
		c1.Close()
		<-wrote
		c2.Close()
		r2.ended(t, "the second console")
		check("after the stalled client vanished")
	})

	t.Run("VMStops", func(t *testing.T) {
		c1, err := e.svc.OpenConsole(ctx, "db", "alice", false)
		if err != nil {
			t.Fatal(err)
		}
		r1 := readConsole(c1)
		r1.exchange(t, "before the stop\r\n")
		if _, err := e.b.StopVM(ctx, db.ID, backend.StopOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		wantEnd(t, "the console of a stopped vm", r1.ended(t, "the console of a stopped vm"), nodeapi.ConsoleVMStopped, "stopped")
		c1.Close()
		e.waitState(t, "db", vm.StateStopped)
		_, err = e.svc.OpenConsole(ctx, "db", "alice", false)
		wantKind(t, err, KindConflict, "STOPPED", "start it first")
		check("after the vm stopped")
	})

	t.Run("NodeGoesAway", func(t *testing.T) {
		c1, err := e.svc.OpenConsole(ctx, "web", "alice", false)
		if err != nil {
			t.Fatal(err)
		}
		r1 := readConsole(c1)
		r1.exchange(t, "before the node goes\r\n")
		e.host.Stop()
		wantEnd(t, "the console of a node gone", r1.ended(t, "the console of a node gone"), nodeapi.ConsoleNodeGone, e.host.Name)
		c1.Close()
		_, err = e.svc.OpenConsole(ctx, "web", "alice", false)
		wantKind(t, err, KindUnavailable)
		// The agent is gone: what the process holds of it goes too, so
		// only the counts are checked here.
		wait.Until(t, consoleWithin, "consoles released after the node went away", func() bool {
			return agentserver.OpenConsoles() == 0 && agent.OpenConsoles() == 0 && pluginhost.OpenConsoles() == 0 && e.simConsoles(t) == 0
		})
	})
}

// TestConsoleOfAPIVersion1Plugin: a backend plugin that negotiates API
// version 1 still runs VMs, and its console answers unsupported (501)
// without the host calling the console service on it.
func TestConsoleOfAPIVersion1Plugin(t *testing.T) {
	e := newPluginEnv(t, "quantix-backend-simv1", "./internal/testbin/quantix-backend-simv1")
	if v := e.b.Status().APIVersion; v != 1 {
		t.Fatalf("the plugin negotiated API version %d, want 1", v)
	}
	e.runningVM(t, "old")
	_, err := e.svc.OpenConsole(context.Background(), "old", "alice", false)
	wantKind(t, err, KindUnsupported, "API version 1", "upgrade the plugin")
	if n := e.simConsoles(t); n != 0 {
		t.Errorf("the plugin has %d consoles open, want 0: the host called its console", n)
	}
	if _, ok := e.svc.ConsoleHolderOf("old"); ok {
		t.Error("a console that failed to open is held")
	}
}
