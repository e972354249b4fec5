package pluginhost

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
)

// processGroup returns the process group of pid, from /proc/<pid>/stat.
func processGroup(t *testing.T, pid int) int {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state ppid pgrp ...; comm may hold spaces.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	var pgrp int
	if len(fields) < 3 {
		t.Fatalf("cannot read /proc/%d/stat: %q", pid, s)
	}
	if _, err := fmt.Sscan(fields[2], &pgrp); err != nil {
		t.Fatal(err)
	}
	return pgrp
}

// TestGroupSIGTERMLetsTheDaemonStopItsPlugins: systemd and timeout send
// SIGTERM to the daemon's whole process group. The plugin runs in a process
// group of its own, so only the daemon gets the signal; it closes its host,
// which stops the plugin in order, with no error, and exits 0.
func TestGroupSIGTERMLetsTheDaemonStopItsPlugins(t *testing.T) {
	d := launchDaemon(t, true)
	cmd, pid, stderr := d.cmd, d.pid, d.stderr
	if got := processGroup(t, pid); got == cmd.Process.Pid {
		t.Errorf("the plugin %d is in the daemon's process group %d", pid, got)
	}

	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.wait(t, 30*time.Second); err != nil {
		t.Errorf("daemon after SIGTERM to its process group: %v", err)
	}
	wait.Until(t, 5*time.Second, "the plugin to be gone", func() bool { return !processAlive(pid) })
	for _, bad := range []string{"signal: terminated", "plugin process exited; relaunching", "[ERROR]"} {
		if strings.Contains(stderr.String(), bad) {
			t.Errorf("the daemon's log has %q: the plugin got the signal meant for the daemon", bad)
		}
	}
}
