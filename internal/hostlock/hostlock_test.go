package hostlock

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
)

// holdEnv names the file TestHelperHold writes just before it releases
// the lock; set, it makes the test binary a process holding the lock
// shared.
const holdEnv = "QUANTIX_HOSTLOCK_RELEASED"

// untilWaitedEnv, set, makes TestHelperHold keep the lock until its parent
// process waits to hold it exclusively.
const untilWaitedEnv = "QUANTIX_HOSTLOCK_UNTIL_WAITED"

// TestHelperHold is the other process of TestExclusiveWaitsForShared.
func TestHelperHold(t *testing.T) {
	marker := os.Getenv(holdEnv)
	if marker == "" {
		t.Skip("run by TestExclusiveWaitsForShared only")
	}
	Libvirtd(t)
	// Cleanups run last first: the marker is written while the lock is
	// still held.
	t.Cleanup(func() {
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			t.Error(err)
		}
	})
	os.Stdout.WriteString("held\n")
	if os.Getenv(untilWaitedEnv) != "" {
		wait.UntilNil(t, 30*time.Second, "the parent process to wait for the lock exclusively", func() error { return waitsExclusive(os.Getppid()) })
	}
}

// waitsExclusive says whether process pid waits for an exclusive flock of
// the lock file, as /proc/locks shows a blocked request:
//
//	2: -> FLOCK  ADVISORY  WRITE 14205 fe:00:9981603 0 EOF
func waitsExclusive(pid int) error {
	path := filepath.Join(os.TempDir(), lockName)
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	inode := fmt.Sprintf(":%d", fi.Sys().(*syscall.Stat_t).Ino)
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 7 && f[1] == "->" && f[2] == "FLOCK" && f[4] == "WRITE" && f[5] == strconv.Itoa(pid) && strings.HasSuffix(f[6], inode) {
			return nil
		}
	}
	return fmt.Errorf("process %d does not wait for an exclusive flock of %s", pid, path)
}

// TestExclusiveWaitsForShared: a test restarting libvirtd waits until
// another process's test using libvirtd is done, then holds it alone.
func TestExclusiveWaitsForShared(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "released")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperHold$", "-test.v")
	cmd.Env = append(os.Environ(), holdEnv+"="+marker, untilWaitedEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "held" {
	}
	go func() {
		for sc.Scan() {
		}
	}()
	t.Cleanup(func() {
		if err := cmd.Wait(); err != nil {
			t.Errorf("the process holding the lock shared: %v", err)
		}
	})
	t.Run("exclusive", func(t *testing.T) {
		LibvirtdRestart(t)
		if _, err := os.Stat(marker); err != nil {
			t.Errorf("the exclusive hold was granted while another process held the lock shared (%v)", err)
		}
		// Shared holds of this process meanwhile do not wait.
		t.Run("shared inside", func(t *testing.T) { Libvirtd(t) })
	})
	// Released: another process gets it shared.
	again := exec.Command(os.Args[0], "-test.run", "^TestHelperHold$")
	again.Env = append(os.Environ(), holdEnv+"="+filepath.Join(t.TempDir(), "again"))
	if err := again.Run(); err != nil {
		t.Fatalf("a shared hold after the exclusive one ended: %v", err)
	}
}
