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
	path := requirePlugin(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envDaemon+"=1", envDaemonPlugin+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	var pid int
	exited := make(chan error, 1)
	first := make(chan string, 1)
	go func() {
		l, _ := out.ReadString('\n')
		first <- l
		rest, _ := io.ReadAll(out)
		exited <- errors.Join(cmd.Wait(), checkClosed(rest))
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if pid > 0 && processAlive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("daemon stderr:\n%s", stderr.String())
		}
	})
	select {
	case l := <-first:
		if _, err := fmt.Sscanf(l, "pid %d", &pid); err != nil || pid <= 0 {
			t.Fatalf("daemon printed %q, want its plugin's pid", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not start its plugin within 30s")
	}
	if got := processGroup(t, pid); got == cmd.Process.Pid {
		t.Errorf("the plugin %d is in the daemon's process group %d", pid, got)
	}

	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("daemon after SIGTERM to its process group: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not exit within 30s of SIGTERM to its process group")
	}
	wait.Until(t, 5*time.Second, "the plugin to be gone", func() bool { return !processAlive(pid) })
	for _, bad := range []string{"signal: terminated", "plugin process exited; relaunching", "[ERROR]"} {
		if strings.Contains(stderr.String(), bad) {
			t.Errorf("the daemon's log has %q: the plugin got the signal meant for the daemon", bad)
		}
	}
}
