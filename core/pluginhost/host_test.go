package pluginhost

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/plugin"
)

func TestHostManagesPluginsByName(t *testing.T) {
	cfg := testConfig(t)
	logger, _ := testLogger()
	h := NewHost(cfg.Dir, logger)
	t.Cleanup(func() { h.Close() })
	ctx := t.Context()

	first, err := h.LaunchBackend(ctx, Config{Name: pluginName, Settings: testSettings()})
	if err != nil {
		t.Fatalf("LaunchBackend from the host's plugin_dir: %v", err)
	}
	second, err := h.LaunchBackend(ctx, Config{Name: "second", Path: cfg.Dir + "/quantix-backend-libvirt", Settings: testSettings()})
	if err != nil {
		t.Fatalf("LaunchBackend with a path: %v", err)
	}
	if _, err := h.LaunchBackend(ctx, Config{Name: pluginName, Settings: testSettings()}); err == nil || !strings.Contains(err.Error(), "already loaded") {
		t.Errorf("a second plugin named %q: %v, want refused", pluginName, err)
	}
	if got, ok := h.Backend(pluginName); !ok || got != Managed(first) {
		t.Errorf("Backend(%q) = %v, %v", pluginName, got, ok)
	}
	if _, ok := h.Backend("nope"); ok {
		t.Error("Backend of an unknown name found something")
	}
	st := h.Status()
	if len(st) != 2 || st[0].Name != pluginName || st[1].Name != "second" || !st[0].Healthy || !st[1].Healthy {
		t.Fatalf("Status = %+v", st)
	}
	pids := []int{first.Status().PID, second.Status().PID}

	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, pid := range pids {
		if processAlive(pid) {
			t.Errorf("plugin pid %d runs after Host.Close", pid)
		}
	}
	if _, err := h.LaunchBackend(ctx, Config{Name: "late", Settings: testSettings()}); !errors.Is(err, ErrClosed) {
		t.Errorf("LaunchBackend after Close: %v, want ErrClosed", err)
	}
	if _, err := first.HostInfo(ctx); !errors.Is(err, plugin.ErrUnavailable) {
		t.Errorf("a call after Host.Close: %v, want unavailable", err)
	}
}

// daemon is the test binary re-executed as a daemon that runs the plugin
// through a Host.
type daemon struct {
	cmd *exec.Cmd
	// pid is the plugin's pid.
	pid int
	// out is the rest of the daemon's stdout.
	out *bufio.Reader
	// stderr is the daemon's log.
	stderr *syncBuffer
	// exited delivers cmd.Wait's result once.
	exited chan error
}

// startDaemon starts a daemon and waits for its plugin's pid; the daemon and
// its plugin are killed when the test ends, whatever happens.
func startDaemon(t *testing.T) *daemon {
	t.Helper()
	return launchDaemon(t, false)
}

// launchDaemon is startDaemon, with the daemon leading a process group of
// its own when group is set (as systemd starts a service).
func launchDaemon(t *testing.T, group bool) *daemon {
	t.Helper()
	path := requirePlugin(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envDaemon+"=1", envDaemonPlugin+"="+path)
	if group {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, out: bufio.NewReader(stdout), stderr: stderr, exited: make(chan error, 1)}
	line := make(chan string, 1)
	go func() {
		l, _ := d.out.ReadString('\n')
		line <- l
		rest, _ := io.ReadAll(d.out)
		d.exited <- errors.Join(cmd.Wait(), checkClosed(rest))
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if group {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		if d.pid > 0 && processAlive(d.pid) {
			_ = syscall.Kill(d.pid, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("daemon stderr:\n%s", stderr.String())
		}
	})
	select {
	case l := <-line:
		if _, err := fmt.Sscanf(l, "pid %d", &d.pid); err != nil || d.pid <= 0 {
			t.Fatalf("daemon printed %q, want its plugin's pid; stderr:\n%s", l, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not start its plugin; stderr:\n%s", stderr.String())
	}
	if !processAlive(d.pid) {
		t.Fatalf("plugin pid %d of the daemon is not running", d.pid)
	}
	return d
}

// checkClosed checks the daemon said it closed its host.
func checkClosed(out []byte) error {
	if !strings.Contains(string(out), "closed") {
		return fmt.Errorf("daemon did not report closing its host; printed %q", out)
	}
	return nil
}

// wait waits up to timeout for the daemon to exit.
func (d *daemon) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-d.exited:
		return err
	case <-time.After(timeout):
		t.Fatalf("daemon did not exit within %s", timeout)
		return nil
	}
}

func TestDaemonSIGTERMStopsPlugin(t *testing.T) {
	d := startDaemon(t)
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.wait(t, 10*time.Second); err != nil {
		t.Errorf("daemon after SIGTERM: %v", err)
	}
	waitGone(t, d.pid, 3*time.Second)
}

func TestDaemonSIGKILLTakesPluginDown(t *testing.T) {
	d := startDaemon(t)
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = d.wait(t, 10*time.Second)
	waitGone(t, d.pid, 3*time.Second)
}
