// Package hostlock keeps the tests of different packages, which go test
// runs as parallel processes, from stepping on the host's libvirtd: tests
// that use it hold the lock shared, tests that stop or restart it hold it
// exclusively, so that no VM operation of another package fails because
// libvirtd went away under it. The lock is an flock(2) on a file in the
// temporary directory, released when the test ends (or its process dies).
package hostlock

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// lockName is the file locked, in os.TempDir().
const lockName = "quantix-test-libvirtd.lock"

// proc is this process's hold on the lock: one file, shared by the tests
// of the process (which run one at a time, or in parallel only as shared
// holders), converted to exclusive while a test restarts libvirtd.
var proc struct {
	mu        sync.Mutex
	f         *os.File
	shared    int
	exclusive bool
}

// Libvirtd holds the lock shared until t ends: no other package's test
// stops libvirtd meanwhile.
func Libvirtd(t testing.TB) {
	t.Helper()
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if proc.shared == 0 && !proc.exclusive {
		lock(t, syscall.LOCK_SH)
	}
	proc.shared++
	t.Cleanup(func() {
		proc.mu.Lock()
		defer proc.mu.Unlock()
		proc.shared--
		if proc.shared == 0 && !proc.exclusive {
			lock(t, syscall.LOCK_UN)
		}
	})
}

// LibvirtdRestart holds the lock exclusively until t ends, waiting for the
// tests of other packages that use libvirtd to finish: t may stop and
// restart it. A shared hold of this process becomes exclusive meanwhile.
func LibvirtdRestart(t testing.TB) {
	t.Helper()
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if proc.exclusive {
		t.Fatal("hostlock: libvirtd is held exclusively already: tests that restart it cannot nest")
	}
	lock(t, syscall.LOCK_EX)
	proc.exclusive = true
	t.Cleanup(func() {
		proc.mu.Lock()
		defer proc.mu.Unlock()
		proc.exclusive = false
		if proc.shared > 0 {
			lock(t, syscall.LOCK_SH)
		} else {
			lock(t, syscall.LOCK_UN)
		}
	})
}

// lock applies how (LOCK_SH, LOCK_EX or LOCK_UN) to the lock file, opening
// it first; proc.mu is held.
func lock(t testing.TB, how int) {
	t.Helper()
	if proc.f == nil {
		path := filepath.Join(os.TempDir(), lockName)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			t.Fatalf("hostlock: opening %s: %v", path, err)
		}
		proc.f = f
	}
	for {
		err := syscall.Flock(int(proc.f.Fd()), how)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(fmt.Errorf("hostlock: flock %s: %w", proc.f.Name(), err))
		}
		return
	}
}
