package logfile

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/quantixvm/quantix/sdk/backend"
)

// startFollowFrom follows path from from in the background.
func startFollowFrom(t *testing.T, path string, from backend.LogPosition) <-chan backend.LogLine {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	lines := make(chan backend.LogLine, 100)
	done := make(chan error, 1)
	go func() {
		done <- FollowFrom(ctx, path, from, testPoll, func(l backend.LogLine) error {
			lines <- l
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("FollowFrom returned %v after cancel, want nil", err)
		}
	})
	return lines
}

// positionAfter follows path from 0 and returns the position just past the
// line with text.
func positionAfter(t *testing.T, path, text string) backend.LogPosition {
	t.Helper()
	lines := startFollowFrom(t, path, backend.LogPosition{})
	for {
		l := nextLine(t, lines)
		if l.File == "" {
			t.Fatalf("line %q names no file", l.Text)
		}
		if l.Text == text {
			return backend.LogPosition{File: l.File, Offset: l.Offset}
		}
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// TestFollowFromResumesInRotatedFile: the log was rotated (virtlogd's
// scheme: <path>.0 newest) twice and the new file grew past the offset
// while nobody followed. Resuming by file reads the rest of the file the
// offset counts in, then the newer ones: no line lost, none twice.
func TestFollowFromResumesInRotatedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	appendFile(t, path, "a1\na2\n")
	from := positionAfter(t, path, "a1")

	appendFile(t, path, "a3\nunfinished")
	rename(t, path, path+".0")
	appendFile(t, path, "b1\n")
	rename(t, path+".0", path+".1")
	rename(t, path, path+".0")
	appendFile(t, path, "c1 a line longer than the offset\nc2\n")

	lines := startFollowFrom(t, path, from)
	expectLine(t, lines, "a2", 6, false)
	expectLine(t, lines, "a3", 9, false)
	expectLine(t, lines, "unfinished", 19, false)
	expectLine(t, lines, "b1", 3, true)
	expectLine(t, lines, "c1 a line longer than the offset", 33, true)
	expectLine(t, lines, "c2", 36, false)
	noLine(t, lines)
	appendFile(t, path, "c3\n")
	l := nextLine(t, lines)
	if l.Text != "c3" || l.Offset != 39 || l.Reopened {
		t.Fatalf("got %+v, want c3 at 39 following the file at path", l)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if l.File != FileID(st) || l.File == from.File {
		t.Fatalf("line of the new file names file %q, want %q", l.File, FileID(st))
	}
}

// TestFollowFromLogrotateScheme: logrotate's <path>.1 is found too.
func TestFollowFromLogrotateScheme(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	appendFile(t, path, "a1\n")
	from := positionAfter(t, path, "a1")
	appendFile(t, path, "a2\n")
	rename(t, path, path+".1")
	appendFile(t, path, "b1 longer\nb2\n")
	lines := startFollowFrom(t, path, from)
	expectLine(t, lines, "a2", 6, false)
	expectLine(t, lines, "b1 longer", 10, true)
	expectLine(t, lines, "b2", 13, false)
	noLine(t, lines)
}

// TestFollowFromRotatedFileGone: the file the offset counts in is gone:
// the file at path is read from its start, not from the offset.
func TestFollowFromRotatedFileGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	appendFile(t, path, "a1\na2\n")
	from := positionAfter(t, path, "a2")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "b1 longer than six\nb2\n")
	lines := startFollowFrom(t, path, from)
	expectLine(t, lines, "b1 longer than six", 19, true)
	expectLine(t, lines, "b2", 22, false)
	noLine(t, lines)
}

// TestFollowFromSameFile: the file at path is the one named: the offset
// counts in it, as Follow's does.
func TestFollowFromSameFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	appendFile(t, path, "a1\na2\n")
	from := positionAfter(t, path, "a1")
	appendFile(t, path, "a3\n")
	lines := startFollowFrom(t, path, from)
	expectLine(t, lines, "a2", 6, false)
	expectLine(t, lines, "a3", 9, false)
	noLine(t, lines)
}
