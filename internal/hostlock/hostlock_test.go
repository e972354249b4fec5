package hostlock

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// holdEnv names the file TestHelperHold writes just before it releases
// the lock; set, it makes the test binary a process holding the lock
// shared for a while.
const holdEnv = "QUANTIX_HOSTLOCK_RELEASED"

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
	time.Sleep(time.Second)
}

// TestExclusiveWaitsForShared: a test restarting libvirtd waits until
// another process's test using libvirtd is done, then holds it alone.
func TestExclusiveWaitsForShared(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "released")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperHold$", "-test.v")
	cmd.Env = append(os.Environ(), holdEnv+"="+marker)
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
	t.Cleanup(func() { _ = cmd.Wait() })
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
