package logfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
)

const testPoll = 10 * time.Millisecond

// startFollow follows path from offset in the background and returns the
// channel of lines and a function that stops it and returns its error.
func startFollow(t *testing.T, path string, offset int64) (<-chan backend.LogLine, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	lines := make(chan backend.LogLine, 100)
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, path, offset, testPoll, func(l backend.LogLine) error {
			lines <- l
			return nil
		})
	}()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(5 * time.Second):
				stopErr = errors.New("follow did not return after cancel")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return lines, stop
}

func nextLine(t *testing.T, lines <-chan backend.LogLine) backend.LogLine {
	t.Helper()
	select {
	case l := <-lines:
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("no line within 5s")
	}
	return backend.LogLine{}
}

func noLine(t *testing.T, lines <-chan backend.LogLine) {
	t.Helper()
	select {
	case l := <-lines:
		t.Fatalf("unexpected line %+v", l)
	case <-time.After(10 * testPoll):
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func expectLine(t *testing.T, lines <-chan backend.LogLine, text string, offset int64, reopened bool) {
	t.Helper()
	l := nextLine(t, lines)
	if l.Text != text || l.Offset != offset || l.Reopened != reopened {
		t.Fatalf("got %q offset %d reopened %v, want %q offset %d reopened %v", l.Text, l.Offset, l.Reopened, text, offset, reopened)
	}
	if l.Time.IsZero() {
		t.Fatalf("line %q has no time", l.Text)
	}
}

func TestFollowFromEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	appendFile(t, path, "old 1\nold 2\n")
	lines, stop := startFollow(t, path, -1)
	noLine(t, lines)
	appendFile(t, path, "new 1\n")
	expectLine(t, lines, "new 1", 18, false)
	appendFile(t, path, "half")
	noLine(t, lines)
	appendFile(t, path, " done\r\n")
	expectLine(t, lines, "half done", 29, false)
	if err := stop(); err != nil {
		t.Fatalf("follow returned %v after cancel, want nil", err)
	}
}

func TestFollowFromOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	appendFile(t, path, "a\nbb\nccc\n")
	lines, _ := startFollow(t, path, 2)
	expectLine(t, lines, "bb", 5, false)
	expectLine(t, lines, "ccc", 9, false)
	noLine(t, lines)
}

// TestFollowInvalidUTF8: bytes that are not UTF-8 come out as U+FFFD, the
// offsets still count the file's bytes.
func TestFollowInvalidUTF8(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	appendFile(t, path, "a\xffb\n\xc3\n")
	lines, _ := startFollow(t, path, 0)
	expectLine(t, lines, "a\uFFFDb", 4, false)
	expectLine(t, lines, "\uFFFD", 6, false)
}

func TestFollowOffsetPastEndRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	appendFile(t, path, "short\n")
	lines, _ := startFollow(t, path, 1000)
	expectLine(t, lines, "short", 6, true)
}

func TestFollowTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	appendFile(t, path, "a long first line\n")
	lines, _ := startFollow(t, path, 0)
	expectLine(t, lines, "a long first line", 18, false)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	// Whether a poll sees the empty file first or not, the file is
	// shorter than what was read: truncated.
	appendFile(t, path, "x\n")
	expectLine(t, lines, "x", 2, true)
	appendFile(t, path, "y\n")
	expectLine(t, lines, "y", 4, false)
}

func TestFollowRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vm.log")
	appendFile(t, path, "one\n")
	lines, _ := startFollow(t, path, 0)
	expectLine(t, lines, "one", 4, false)
	// Written to the old file, then rotated away before the next poll could
	// read it: it still arrives, and so does a last line without a break.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("two\nunfinished"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	appendFile(t, path, "new file\n")
	expectLine(t, lines, "two", 8, false)
	expectLine(t, lines, "unfinished", 18, false)
	expectLine(t, lines, "new file", 9, true)
}

func TestFollowWaitsForFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.log")
	lines, _ := startFollow(t, path, -1)
	noLine(t, lines)
	appendFile(t, path, "hello\n")
	expectLine(t, lines, "hello", 6, false)
}

func TestFollowReturnsCallbackError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	appendFile(t, path, "a\nb\n")
	boom := errors.New("boom")
	calls := 0
	err := Follow(context.Background(), path, 0, testPoll, func(backend.LogLine) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("err %v after %d calls, want boom after 1", err, calls)
	}
}
