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
	release, err := Hold()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := release(); err != nil {
			t.Error(err)
		}
	})
}

// Hold holds the lock shared until release is called, outside a test as
// well (a TestMain sweeping what its tests left): no other package's test
// stops libvirtd meanwhile.
func Hold() (release func() error, err error) {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if proc.shared == 0 && !proc.exclusive {
		if err := lock(syscall.LOCK_SH); err != nil {
			return nil, err
		}
	}
	proc.shared++
	return sync.OnceValue(func() error {
		proc.mu.Lock()
		defer proc.mu.Unlock()
		proc.shared--
		if proc.shared == 0 && !proc.exclusive {
			return lock(syscall.LOCK_UN)
		}
		return nil
	}), nil
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
	if err := lock(syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	proc.exclusive = true
	t.Cleanup(func() {
		proc.mu.Lock()
		defer proc.mu.Unlock()
		proc.exclusive = false
		how := syscall.LOCK_UN
		if proc.shared > 0 {
			how = syscall.LOCK_SH
		}
		if err := lock(how); err != nil {
			t.Error(err)
		}
	})
}

// lock applies how (LOCK_SH, LOCK_EX or LOCK_UN) to the lock file, opening
// it first; proc.mu is held.
func lock(how int) error {
	if proc.f == nil {
		path := filepath.Join(os.TempDir(), lockName)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			return fmt.Errorf("hostlock: opening %s: %w", path, err)
		}
		proc.f = f
	}
	for {
		err := syscall.Flock(int(proc.f.Fd()), how)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("hostlock: flock %s: %w", proc.f.Name(), err)
		}
		return nil
	}
}
