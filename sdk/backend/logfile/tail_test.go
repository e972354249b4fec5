package logfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r    *bytes.Reader
	read int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.read += int64(n)
	return n, err
}

func numbered(n int) string {
	var sb strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&sb, "line %d\n", i)
	}
	return sb.String()
}

func TestTailLines(t *testing.T) {
	long := strings.Repeat("x", 3*tailChunk+17)
	tests := []struct {
		name      string
		data      string
		n         int
		chunk     int
		want      []string
		truncated bool
	}{
		{"last n of many", numbered(10), 3, 0, []string{"line 8", "line 9", "line 10"}, true},
		{"exactly all", numbered(3), 3, 0, []string{"line 1", "line 2", "line 3"}, false},
		{"n larger than file", numbered(2), 100, 0, []string{"line 1", "line 2"}, false},
		{"empty file", "", 10, 0, []string{}, false},
		{"no trailing newline", "a\nb\nc", 2, 0, []string{"b", "c"}, true},
		{"no trailing newline all", "a\nb\nc", 5, 0, []string{"a", "b", "c"}, false},
		{"single line no newline", "only", 1, 0, []string{"only"}, false},
		{"crlf", "a\r\nb\r\nc\r\n", 2, 0, []string{"b", "c"}, true},
		{"empty lines kept", "a\n\n\nb\n", 3, 0, []string{"", "", "b"}, true},
		{"just a newline", "\n", 1, 0, []string{""}, false},
		{"trailing empty line", "a\n\n", 1, 0, []string{""}, true},
		{"tiny chunks", numbered(50), 7, 4, []string{"line 44", "line 45", "line 46", "line 47", "line 48", "line 49", "line 50"}, true},
		{"line longer than chunk", "first\n" + long + "\nlast\n", 2, 0, []string{long, "last"}, true},
		{"only a long line", long, 1, 0, []string{long}, false},
		{"long line whole file", "first\n" + long + "\n", 5, 1024, []string{"first", long}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bytes.NewReader([]byte(tt.data))
			got, err := tailLines(r, int64(len(tt.data)), tt.n, tt.chunk)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Lines, tt.want) {
				t.Errorf("lines = %q, want %q", got.Lines, tt.want)
			}
			if got.Truncated != tt.truncated {
				t.Errorf("truncated = %v, want %v", got.Truncated, tt.truncated)
			}
		})
	}
}

// TestTailLinesReadsOnlyTheEnd checks that the cost depends on n: tailing 5
// short lines of a 10 MiB file reads one chunk and the tail itself.
func TestTailLinesReadsOnlyTheEnd(t *testing.T) {
	data := []byte(strings.Repeat(strings.Repeat("y", 99)+"\n", 100000))
	cr := &countingReader{r: bytes.NewReader(data)}
	got, err := tailLines(cr, int64(len(data)), 5, tailChunk)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Lines) != 5 || !got.Truncated {
		t.Fatalf("got %d lines, truncated %v", len(got.Lines), got.Truncated)
	}
	if cr.read > 2*tailChunk {
		t.Errorf("read %d bytes of a %d byte file for 5 lines", cr.read, len(data))
	}
}

func TestTailFile(t *testing.T) {
	dir := t.TempDir()
	missing, err := Tail(filepath.Join(dir, "nope.log"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if missing.Exists || missing.Lines == nil || len(missing.Lines) != 0 {
		t.Errorf("missing file: %+v, want Exists false and empty non-nil lines", missing)
	}
	empty := filepath.Join(dir, "empty.log")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Tail(empty, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Exists || len(got.Lines) != 0 || got.Truncated {
		t.Errorf("empty file: %+v", got)
	}
	full := filepath.Join(dir, "full.log")
	if err := os.WriteFile(full, []byte(numbered(20)), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = Tail(full, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Exists || !got.Truncated || got.SizeBytes != int64(len(numbered(20))) || !slices.Equal(got.Lines, []string{"line 19", "line 20"}) {
		t.Errorf("full file: %+v", got)
	}
	if got.LastModified.IsZero() || got.Path != full {
		t.Errorf("full file: path %q, modified %v", got.Path, got.LastModified)
	}
	// A byte that is not UTF-8 (a guest's console noise) is mended, so the
	// lines can travel as protobuf strings.
	bad := filepath.Join(dir, "bad.log")
	if err := os.WriteFile(bad, []byte("ok\nbad \xff byte\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err = Tail(bad, 10); err != nil || !slices.Equal(got.Lines, []string{"ok", "bad \uFFFD byte"}) {
		t.Errorf("file with a bad byte: %q, %v", got.Lines, err)
	}
}
