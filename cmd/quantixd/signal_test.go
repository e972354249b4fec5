package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/plugins/logsinks/file"
	"github.com/quantixvm/quantix/plugins/sim"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// simPluginDir returns a plugin directory holding the simulated backend and
// the file log sink: $QUANTIX_BIN_DIR/plugins when `make test` built them
// there, else a directory they are built into.
func simPluginDir(t testing.TB) string {
	t.Helper()
	binaries := map[string]string{
		plugin.BinaryName(plugin.TypeBackend, sim.Name):  "./plugins/sim/cmd/",
		plugin.BinaryName(plugin.TypeLogSink, file.Name): "./plugins/logsinks/file/cmd/",
	}
	if bin := os.Getenv(testbin.EnvBinDir); bin != "" {
		dir, all := filepath.Join(bin, "plugins"), true
		for name := range binaries {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || !fi.Mode().IsRegular() {
				all = false
			}
		}
		if all {
			return dir
		}
	}
	root, err := testbin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, pkg := range binaries {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg+name)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", name, err, b)
		}
	}
	return dir
}

// writeSimConfig writes the config of a daemon whose agent drives the
// simulated backend and whose file log sink writes to sinkPath.
func writeSimConfig(t *testing.T, dir, pluginDir, sinkPath string) string {
	t.Helper()
	cfg := fmt.Sprintf(`log_level = "info"
plugin_dir = %q
agent {
  backend = "sim"
}
plugin "sim" {
  config {
    log_dir = %q
  }
}
log_sink "file" {
  sources = ["ui", "audit", "system"]
  config {
    path = %q
  }
}
`, pluginDir, filepath.Join(dir, "vmlogs"), sinkPath)
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pluginChildren lists the live plugin processes whose parent is pid.
func pluginChildren(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 || fields[0] == "Z" || fields[1] != strconv.Itoa(pid) {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && strings.HasPrefix(filepath.Base(exe), "quantix-") {
			out = append(out, child)
		}
	}
	return out
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// TestGroupSIGTERMStopsCleanly: systemd and timeout stop a daemon by
// sending SIGTERM to its whole process group. `quantixd server` with a log
// sink and `quantixd dev` with the simulated backend and a log sink then
// shut down in order: the plugins are not killed by the signal (no
// "signal: terminated", no relaunch), the sink gets the entries logged
// during the shutdown, and the daemon exits 0.
func TestGroupSIGTERMStopsCleanly(t *testing.T) {
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd is needed: %v", e2e.daemonErr)
	}
	pluginDir := simPluginDir(t)
	for _, mode := range []string{"server", "dev"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			sinkPath := filepath.Join(dir, "sink", "entries.log")
			cfg := writeSimConfig(t, dir, pluginDir, sinkPath)
			d := startDaemon(t, mode, "-config", cfg, "-data-dir", dir)
			msg := "before-sigterm-" + mode
			if ok, err := postUI(d, []byte(`{"logs":[{"level":"info","component":"dashboard","action":"button.click","message":"`+msg+`","sessionId":"sigterm"}]}`)); !ok {
				t.Fatalf("POST /api/logs/ui: %v", err)
			}
			plugins := pluginChildren(d.cmd.Process.Pid)
			if want := map[string]int{"server": 1, "dev": 2}[mode]; len(plugins) != want {
				t.Fatalf("quantixd %s runs %d plugin processes, want %d", mode, len(plugins), want)
			}

			if err := syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			wait.Until(t, 60*time.Second, "quantixd to exit after SIGTERM to its process group", func() bool {
				select {
				case <-d.done:
					return true
				default:
					return false
				}
			})
			b, err := os.ReadFile(d.log)
			if err != nil {
				t.Fatal(err)
			}
			log := string(b)
			if d.err != nil {
				t.Errorf("quantixd %s exited with %v after SIGTERM to its process group, want 0", mode, d.err)
			}
			for _, bad := range []string{"signal: terminated", "relaunching", "[ERROR]"} {
				if strings.Contains(log, bad) {
					t.Errorf("quantixd's log has %q: a plugin got the signal meant for the daemon", bad)
				}
			}
			if !strings.Contains(log, "quantixd: stopped") {
				t.Errorf("quantixd's log does not end with a clean stop")
			}
			entries, err := file.ReadEntries(sinkPath)
			if err != nil {
				t.Fatal(err)
			}
			var ui, shutdown bool
			for _, e := range entries {
				ui = ui || e.Message == msg
				shutdown = shutdown || strings.HasPrefix(e.Message, "shutting down")
			}
			if !ui || !shutdown {
				t.Errorf("the sink holds the UI entry: %v, the system entry of the shutdown: %v; want both (%d entries)", ui, shutdown, len(entries))
			}
			for _, pid := range plugins {
				if alive(pid) {
					t.Errorf("plugin process %d outlived quantixd", pid)
				}
			}
		})
	}
}

// TestSIGKILLTakesPluginsDown: plugins run in process groups of their own,
// so a signal to the daemon's group does not reach them; when the daemon is
// killed with SIGKILL (only the daemon: kill -9 <pid>, the OOM killer), the
// kernel still kills every plugin it ran.
func TestSIGKILLTakesPluginsDown(t *testing.T) {
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd is needed: %v", e2e.daemonErr)
	}
	dir := t.TempDir()
	cfg := writeSimConfig(t, dir, simPluginDir(t), filepath.Join(dir, "sink", "entries.log"))
	d := startDaemon(t, "dev", "-config", cfg, "-data-dir", dir)
	plugins := pluginChildren(d.cmd.Process.Pid)
	if len(plugins) != 2 {
		t.Fatalf("quantixd dev runs %d plugin processes, want 2", len(plugins))
	}
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "the plugins to die with quantixd", func() bool {
		for _, pid := range plugins {
			if alive(pid) {
				return false
			}
		}
		return true
	})
}
