package libvirt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/hostlock"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

const libvirtdPidFile = "/run/libvirtd.pid"

// TestQEMUReconnectAfterLibvirtdRestart restarts libvirtd under a
// configured backend: while it is down calls are unavailable; once it is
// back the backend reconnects by itself, subscribers get a resync, events
// flow again and calls work.
func TestQEMUReconnectAfterLibvirtdRestart(t *testing.T) {
	hostlock.LibvirtdRestart(t)
	b := newQEMUBackend(t)
	ctx := context.Background()
	events := watchEvents(t, b)
	vm := createVM(t, b, testSpec(testName(t)))
	running, err := b.StartVM(ctx, vm.ID)
	wantState(t, "start before restart", running, err, backend.StateRunning)

	stopLibvirtd(t)
	t.Cleanup(func() { ensureLibvirtd(t) })
	waitHealth(t, b, "unavailable", 10*time.Second, func(err error) bool { return plugin.KindOf(err) == plugin.KindUnavailable })
	_, err = b.ListVMs(ctx)
	wantKind(t, "list while libvirtd is down", err, plugin.KindUnavailable, "")

	events.reset()
	startLibvirtd(t)
	waitHealth(t, b, "healthy", 30*time.Second, func(err error) bool { return err == nil })
	events.waitFor(t, "resync", 10*time.Second, func(e backend.Event) bool { return e.Type == backend.EventResync })

	got, err := b.GetVM(ctx, vm.ID)
	wantState(t, "vm kept running across the restart", got, err, backend.StateRunning)
	paused, err := b.PauseVM(ctx, vm.ID)
	wantState(t, "pause after restart", paused, err, backend.StatePaused)
	events.waitState(t, vm.ID, backend.StatePaused)
	stopped, err := b.StopVM(ctx, vm.ID, backend.StopOptions{Force: true})
	wantState(t, "stop after restart", stopped, err, backend.StateStopped)
	events.waitState(t, vm.ID, backend.StateStopped)
}

// waitHealth waits until check accepts what Health returns.
func waitHealth(t *testing.T, b *Backend, want string, timeout time.Duration, check func(error) bool) {
	t.Helper()
	wait.UntilNil(t, timeout, "health "+want, func() error {
		if err := b.Health(context.Background()); !check(err) {
			return fmt.Errorf("health %v (kind %s)", err, plugin.KindOf(err))
		}
		return nil
	})
}

// libvirtdPid reads the running libvirtd's pid from its pid file.
func libvirtdPid() (int, error) {
	b, err := os.ReadFile(libvirtdPidFile)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// stopLibvirtd stops the libvirtd of the pid file and waits until it is gone.
func stopLibvirtd(t *testing.T) {
	t.Helper()
	pid, err := libvirtdPid()
	if err != nil || !alive(pid) {
		t.Fatalf("no running libvirtd in %s (%v): run `make deps`", libvirtdPidFile, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stopping libvirtd %d: %v", pid, err)
	}
	wait.Until(t, 30*time.Second, fmt.Sprintf("libvirtd %d to exit after SIGTERM", pid), func() bool { return !alive(pid) })
}

func startLibvirtd(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("libvirtd", "-d").CombinedOutput(); err != nil {
		t.Fatalf("starting libvirtd: %v: %s", err, out)
	}
}

// ensureLibvirtd starts libvirtd again if a failed test left it stopped.
func ensureLibvirtd(t *testing.T) {
	if pid, err := libvirtdPid(); err == nil && alive(pid) {
		return
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Logf("reading %s: %v", libvirtdPidFile, err)
	}
	startLibvirtd(t)
}
