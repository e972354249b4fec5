package logfile

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// scriptedOwner is an owner function whose answer the test sets.
type scriptedOwner struct {
	mu    sync.Mutex
	owner Owner
	err   error
}

func (s *scriptedOwner) set(o Owner, err error) {
	s.mu.Lock()
	s.owner, s.err = o, err
	s.mu.Unlock()
}

func (s *scriptedOwner) get(context.Context) (Owner, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owner, s.err
}

// startFollowVM runs FollowVM on path from its start in the background and
// returns the channel of lines and the channel of its result.
func startFollowVM(t *testing.T, path string, owner *scriptedOwner) (<-chan backend.LogLine, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	lines := make(chan backend.LogLine, 100)
	done := make(chan error, 1)
	go func() {
		done <- FollowVM(ctx, "vm-1", path, backend.LogPosition{}, testPoll, owner.get, func(l backend.LogLine) error {
			lines <- l
			return nil
		})
	}()
	t.Cleanup(cancel)
	return lines, done
}

// ends waits for FollowVM's result.
func ends(t *testing.T, done <-chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		t.Fatalf("FollowVM still follows the log %s later", within)
	}
	return nil
}

// TestFollowVMDeleted: the lines of a VM deleted with no other VM of its
// name are handed on; once its log has been quiet, FollowVM ends with a
// not-found error.
func TestFollowVMDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	appendFile(t, path, "a\n")
	owner := &scriptedOwner{}
	lines, done := startFollowVM(t, path, owner)
	expectLine(t, lines, "a", 2, false)
	owner.set(OwnerNone, nil)
	appendFile(t, path, "b\n")
	expectLine(t, lines, "b", 4, false)
	err := ends(t, done, OwnerCheckInterval+GoneQuiet+5*time.Second)
	if plugin.KindOf(err) != plugin.KindNotFound {
		t.Errorf("FollowVM of a deleted vm returned %v, want a not-found error", err)
	}
}

// TestFollowVMNameTaken: once another VM has the deleted VM's name, no line
// is handed on and FollowVM ends at once with a not-found error.
func TestFollowVMNameTaken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	owner := &scriptedOwner{}
	lines, done := startFollowVM(t, path, owner)
	appendFile(t, path, "a\n")
	expectLine(t, lines, "a", 2, false)
	owner.set(OwnerOther, nil)
	appendFile(t, path, "the other vm's\n")
	err := ends(t, done, 5*time.Second)
	if plugin.KindOf(err) != plugin.KindNotFound {
		t.Errorf("FollowVM of a vm whose name was taken returned %v, want a not-found error", err)
	}
	select {
	case l := <-lines:
		t.Errorf("the other vm's line %q was handed on", l.Text)
	default:
	}
}

// TestFollowVMOwnerError: an error of owner when a line was read ends
// FollowVM with it, without handing the line on; the VM existing again
// (the error gone) lets the line through on the next call.
func TestFollowVMOwnerError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	owner := &scriptedOwner{}
	away := errors.New("the hypervisor is away")
	owner.set(OwnerVM, away)
	appendFile(t, path, "a\n")
	lines, done := startFollowVM(t, path, owner)
	if err := ends(t, done, 5*time.Second); !errors.Is(err, away) {
		t.Errorf("FollowVM returned %v, want the owner's error", err)
	}
	select {
	case l := <-lines:
		t.Errorf("line %q was handed on while whose it is was not known", l.Text)
	default:
	}
	owner.set(OwnerVM, nil)
	lines, done = startFollowVM(t, path, owner)
	expectLine(t, lines, "a", 2, false)
	select {
	case err := <-done:
		t.Errorf("FollowVM of an existing vm returned %v", err)
	default:
	}
}

// TestFollowVMCancelled: FollowVM returns nil when its context ends, and
// fn's error as is.
func TestFollowVMCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	appendFile(t, path, "a\nb\n")
	owner := &scriptedOwner{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := FollowVM(ctx, "vm-1", path, backend.LogPosition{}, testPoll, owner.get, func(backend.LogLine) error { return nil }); err != nil {
		t.Errorf("FollowVM with its context ended returned %v, want nil", err)
	}
	stop := errors.New("enough")
	err := FollowVM(context.Background(), "vm-1", path, backend.LogPosition{}, testPoll, owner.get, func(backend.LogLine) error { return stop })
	if err != stop {
		t.Errorf("FollowVM returned %v, want fn's error as is", err)
	}
}
