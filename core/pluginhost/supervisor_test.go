package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

func TestKilledPluginIsUnavailableThenRelaunched(t *testing.T) {
	cfg := testConfig(t)
	// A backoff long enough to look at the plugin while it is down.
	cfg.Supervision.InitialBackoff = time.Second
	b := launch(t, cfg)
	ctx := t.Context()
	relaunched := make(chan int, 4)
	b.OnRelaunch(func(generation int) { relaunched <- generation })
	removed := make(chan int, 4)
	b.OnRelaunch(func(generation int) { removed <- generation })() // unregistered at once

	// An event stream open when the plugin dies must end with an
	// unavailable error.
	streamErr := watchEstablished(t, ctx, b)

	old := b.Status().PID
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", old, err)
	}
	killed := time.Now()

	select {
	case err := <-streamErr:
		if !errors.Is(err, plugin.ErrUnavailable) {
			t.Errorf("WatchEvents open at the kill ended with %v, want unavailable", err)
		}
		t.Logf("event stream ended %s after the kill: %v", time.Since(killed).Round(time.Millisecond), err)
	case <-time.After(time.Second):
		t.Fatal("WatchEvents did not end within 1s of the plugin's death")
	}

	// Calls fail fast as unavailable, and the plugin is marked unhealthy.
	var lastErr error
	wait.UntilNil(t, time.Until(killed.Add(time.Second)), "calls to fail as unavailable and the plugin to be unhealthy 1s after kill -9", func() error {
		start := time.Now()
		_, err := b.HostInfo(ctx)
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Fatalf("a call took %s while the plugin was dead", took)
		}
		if err != nil {
			if !errors.Is(err, plugin.ErrUnavailable) {
				t.Fatalf("HostInfo after kill -9: %v (kind %v), want unavailable", err, plugin.KindOf(err))
			}
			lastErr = err
		}
		if lastErr == nil || b.Status().Healthy {
			return fmt.Errorf("call error %v, status %+v", lastErr, b.Status())
		}
		return nil
	})
	t.Logf("unavailable and unhealthy %s after the kill", time.Since(killed).Round(time.Millisecond))

	st := b.Status()
	if st.PID != 0 || !errors.Is(st.LastError, ErrPluginExited) {
		t.Errorf("status while down = %+v", st)
	}
	if err := b.Health(ctx); !errors.Is(err, plugin.ErrUnavailable) {
		t.Errorf("Health while down = %v, want unavailable", err)
	}
	start := time.Now()
	_, err := b.ListVMs(ctx)
	if !errors.Is(err, plugin.ErrUnavailable) || !strings.Contains(err.Error(), `"libvirt"`) {
		t.Errorf("ListVMs while down: %v, want unavailable naming the plugin", err)
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("ListVMs while down took %s, want an immediate answer", took)
	}
	if err := b.WatchEvents(ctx, func(backend.Event) error { return nil }); !errors.Is(err, plugin.ErrUnavailable) {
		t.Errorf("WatchEvents while down: %v, want unavailable", err)
	}

	select {
	case g := <-relaunched:
		if g != 2 {
			t.Errorf("relaunch listener got generation %d, want 2", g)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("not relaunched within 15s; status %+v", b.Status())
	}
	st = b.Status()
	if !st.Healthy || st.PID <= 0 || st.PID == old || st.Restarts != 1 {
		t.Fatalf("status after relaunch = %+v (old pid %d)", st, old)
	}
	if !processAlive(st.PID) || processAlive(old) {
		t.Errorf("new pid %d alive: %v; old pid %d alive: %v", st.PID, processAlive(st.PID), old, processAlive(old))
	}
	if err := b.Health(ctx); err != nil {
		t.Errorf("Health after relaunch: %v", err)
	}
	if _, err := b.HostInfo(ctx); err != nil {
		t.Errorf("HostInfo after relaunch: %v", err)
	}
	vm, err := b.CreateVM(ctx, backend.VMSpec{Name: "pluginhost-after", VCPUs: 1, MemoryMiB: 64})
	if err != nil {
		t.Fatalf("CreateVM after relaunch: %v", err)
	}
	if _, err := b.GetVM(ctx, vm.ID); err != nil {
		t.Errorf("GetVM after relaunch: %v", err)
	}
	select {
	case g := <-removed:
		t.Errorf("a removed relaunch listener was called (generation %d)", g)
	default:
	}
}

func TestRelaunchBacksOff(t *testing.T) {
	cfg := testConfig(t)
	cfg.Supervision.InitialBackoff = 100 * time.Millisecond
	cfg.Supervision.MaxBackoff = 400 * time.Millisecond
	cfg.Supervision.StableAfter = time.Hour
	b := launch(t, cfg)
	relaunched := make(chan time.Time, 8)
	b.OnRelaunch(func(int) { relaunched <- time.Now() })

	// Each quick crash waits longer before the relaunch: 100ms, 200ms,
	// 400ms, then stays at the 400ms cap.
	wants := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond}
	for i, want := range wants {
		pid := b.Status().PID
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		select {
		case at := <-relaunched:
			gap := at.Sub(killed)
			if gap < want {
				t.Errorf("crash %d: relaunched after %s, want at least %s of backoff", i+1, gap, want)
			}
			if gap > want+5*time.Second {
				t.Errorf("crash %d: relaunched after %s, far more than %s", i+1, gap, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("crash %d: not relaunched; status %+v", i+1, b.Status())
		}
	}
	if got := b.Status().Restarts; got != len(wants) {
		t.Errorf("Restarts = %d, want %d", got, len(wants))
	}
}

func TestCloseLeavesNoProcess(t *testing.T) {
	b, err := LaunchBackend(t.Context(), testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	pid := b.Status().PID
	streamErr := watchEstablished(t, context.Background(), b)

	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if processAlive(pid) {
		t.Fatalf("plugin pid %d still runs after Close", pid)
	}
	select {
	case err := <-streamErr:
		if !errors.Is(err, plugin.ErrUnavailable) || !errors.Is(err, ErrClosed) {
			t.Errorf("stream open at Close ended with %v, want unavailable (closed)", err)
		}
	case <-time.After(2 * time.Second):
		t.Error("stream open at Close did not end")
	}
	if _, err := b.HostInfo(t.Context()); !errors.Is(err, plugin.ErrUnavailable) || !errors.Is(err, ErrClosed) {
		t.Errorf("HostInfo after Close: %v, want unavailable (closed)", err)
	}
	if st := b.Status(); st.Healthy || st.PID != 0 {
		t.Errorf("status after Close = %+v", st)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Closed means closed: the supervisor does not bring it back.
	wait.Stays(t, 400*time.Millisecond, "no plugin process after Close", noChildPlugin(t))
}

func TestCloseWhileRelaunching(t *testing.T) {
	cfg := testConfig(t)
	cfg.Supervision.InitialBackoff = time.Second
	b := launch(t, cfg)
	if err := syscall.Kill(b.Status().PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 2*time.Second, "the killed plugin to be unhealthy", func() bool { return !b.Status().Healthy })
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close during the backoff took %s", took)
	}
	// Past the 1s backoff, nothing was relaunched.
	wait.Stays(t, 1300*time.Millisecond, "no plugin relaunched after Close", noChildPlugin(t))
}

// noChildPlugin is a condition: no plugin process runs as a child of the
// test; it logs the ones that do.
func noChildPlugin(t *testing.T) func() bool {
	return func() bool {
		if left := childPlugins(); len(left) > 0 {
			t.Logf("plugin processes: %v", left)
			return false
		}
		return true
	}
}

// watchEstablished calls WatchEvents on b in the background and returns
// once the plugin has registered the stream, with the channel its end is
// sent on. A VM created before the plugin registered the subscriber has
// no event on the stream: VMs are created until one's event arrives.
func watchEstablished(t *testing.T, ctx context.Context, b *SupervisedBackend) <-chan error {
	t.Helper()
	info, err := b.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Has(backend.CapEvents) {
		t.Fatalf("the test backend announces no events (%v): the stream cannot be seen established", info.Capabilities)
	}
	events := make(chan backend.Event, 16)
	streamErr := make(chan error, 1)
	go func() {
		streamErr <- b.WatchEvents(ctx, func(e backend.Event) error {
			select {
			case events <- e:
			default:
			}
			return nil
		})
	}()
	created := 0
	wait.Until(t, 5*time.Second, "the event of a VM created after WatchEvents", func() bool {
		select {
		case <-events:
			return true
		case err := <-streamErr:
			t.Fatalf("WatchEvents ended before the stream was established: %v", err)
		default:
		}
		if _, err := b.CreateVM(ctx, backend.VMSpec{Name: fmt.Sprintf("pluginhost-watch-%d", created), VCPUs: 1, MemoryMiB: 64}); err != nil {
			t.Fatalf("CreateVM: %v", err)
		}
		created++
		return false
	})
	return streamErr
}
