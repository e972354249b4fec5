package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/plugins/logsinks/file"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// writeVaried writes n entries with ids prefix-0 … in batches of 1 to 37
// entries, messages of 20 to 419 bytes.
func writeVaried(t *testing.T, s *file.Sink, prefix string, n int) {
	t.Helper()
	written := 0
	for b := 0; written < n; b++ {
		size := min(1+b*7%37, n-written)
		batch := entries(prefix, written, size, 20+(b*53)%400)
		mustWrite(t, s, batch)
		written += size
	}
}

// checkFiles checks that the log at path is exactly want files, each
// within maxSize, full enough that it was rotated only when the next line
// did not fit, and made of whole lines.
func checkFiles(t *testing.T, path string, want int, maxSize int64) {
	t.Helper()
	files, err := file.Files(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != want {
		t.Fatalf("the log is %d files %v, want %d", len(files), files, want)
	}
	if _, err := os.Stat(fmt.Sprintf("%s.%d", path, want)); err == nil {
		t.Errorf("%s.%d exists: more rotated files than max_files are kept", path, want)
	}
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(data)) > maxSize {
			t.Errorf("%s is %d bytes, over max_size %d", f, len(data), maxSize)
		}
		if len(data) == 0 || data[len(data)-1] != '\n' {
			t.Errorf("%s does not end with a whole line", f)
		}
		// A rotated file was closed because the next line (at most ~700
		// bytes) did not fit.
		if i < len(files)-1 && int64(len(data)) < maxSize-800 {
			t.Errorf("%s was rotated at %d bytes, long before max_size %d", f, len(data), maxSize)
		}
	}
}

// checkSuffix checks that the entries read back are prefix-from …
// prefix-(n-1), in order, each once: rotation dropped only the oldest.
func checkSuffix(t *testing.T, got []logsink.Entry, prefix string, from, n int) {
	t.Helper()
	if len(got) != n-from {
		t.Fatalf("read back %d entries, want %d (%s-%d to %s-%d)", len(got), n-from, prefix, from, prefix, n-1)
	}
	for i, e := range got {
		if want := fmt.Sprintf("%s-%d", prefix, from+i); e.ID != want {
			t.Fatalf("entry %d read back is %s, want %s: a line was lost, repeated or reordered", i, e.ID, want)
		}
	}
}

// TestRotationLosesNoLine writes far more than max_size with room for every
// rotated file: every entry is read back, once, in order.
func TestRotationLosesNoLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.log")
	s := configured(t, map[string]any{"path": path, "max_size": "8KiB", "max_files": 1000})
	writeVaried(t, s, "all", 3000)
	got := readAll(t, path)
	checkSuffix(t, got, "all", 0, 3000)
	files, _ := file.Files(path)
	if len(files) < 50 {
		t.Errorf("%d files for 3000 entries of 8 KiB files: rotation did not happen as often as it should", len(files))
	}
	checkFiles(t, path, len(files), 8<<10)
}

// TestRotationKeepsMaxFiles keeps 3 rotated files: the log is 4 files and
// holds the newest entries without a gap.
func TestRotationKeepsMaxFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.log")
	s := configured(t, map[string]any{"path": path, "max_size": "4KiB", "max_files": 3})
	writeVaried(t, s, "kept", 2000)
	checkFiles(t, path, 4, 4<<10)
	got := readAll(t, path)
	if len(got) == 0 {
		t.Fatal("nothing read back")
	}
	var from int
	if _, err := fmt.Sscanf(got[0].ID, "kept-%d", &from); err != nil {
		t.Fatal(err)
	}
	checkSuffix(t, got, "kept", from, 2000)
}

// TestRotationMaxFilesZero keeps no rotated file.
func TestRotationMaxFilesZero(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.log")
	s := configured(t, map[string]any{"path": path, "max_size": "2KiB", "max_files": 0})
	writeVaried(t, s, "zero", 500)
	checkFiles(t, path, 1, 2<<10)
	got := readAll(t, path)
	if len(got) == 0 || got[len(got)-1].ID != "zero-499" {
		t.Fatalf("the file does not end with the last entry: %d entries", len(got))
	}
}

// TestLineLongerThanMaxSize puts a line longer than max_size in a file of
// its own, between its neighbours.
func TestLineLongerThanMaxSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.log")
	s := configured(t, map[string]any{"path": path, "max_size": "1KiB", "max_files": 10})
	batch := entries("long", 0, 3, 100)
	batch[1].Message = strings.Repeat("L", 3000)
	mustWrite(t, s, batch)
	files, _ := file.Files(path)
	if len(files) != 3 {
		t.Fatalf("files %v, want 3: before, the long line, after", files)
	}
	for i, f := range files {
		got := readOne(t, f)
		if len(got) != 1 || got[0].ID != batch[i].ID {
			t.Errorf("%s holds %d entries, want only %s", f, len(got), batch[i].ID)
		}
	}
}

// TestFullFileRotatedAtFirstWrite starts on a file already past max_size:
// the first Write rotates it.
func TestFullFileRotatedAtFirstWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.log")
	old := configured(t, map[string]any{"path": path, "max_size": "1MiB"})
	mustWrite(t, old, entries("old", 0, 20, 200))
	if err := old.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := configured(t, map[string]any{"path": path, "max_size": "2KiB", "max_files": 2})
	mustWrite(t, s, entries("new", 0, 1, 100))
	files, _ := file.Files(path)
	if len(files) != 2 {
		t.Fatalf("files %v, want the full file rotated to %s.1 and a new one", files, path)
	}
	if got := readOne(t, files[0]); len(got) != 20 || got[0].ID != "old-0" {
		t.Errorf("%s holds %d entries, want the 20 old ones", files[0], len(got))
	}
	if got := readOne(t, path); len(got) != 1 || got[0].ID != "new-0" {
		t.Errorf("the current file holds %d entries, want only new-0", len(got))
	}
}
