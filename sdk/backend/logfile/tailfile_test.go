package logfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

func TestTailFileSizes(t *testing.T) {
	dir := t.TempDir()
	// Lines around the read chunk size, so that line breaks fall on both
	// sides of chunk boundaries.
	var long []string
	for i := range 40 {
		long = append(long, fmt.Sprintf("%03d %s", i, strings.Repeat("x", tailChunk/7+i*13)))
	}
	cases := []struct {
		name      string
		data      string
		n         int
		want      []string
		truncated bool
	}{
		{"Empty", "", 5, []string{}, false},
		{"OneLineNoBreak", "only", 5, []string{"only"}, false},
		{"OneLine", "only\n", 1, []string{"only"}, false},
		{"JustABreak", "\n", 3, []string{""}, false},
		{"LastOfThree", "a\nb\nc\n", 1, []string{"c"}, true},
		{"TwoOfThree", "a\nb\nc\n", 2, []string{"b", "c"}, true},
		{"AllOfThree", "a\nb\nc\n", 3, []string{"a", "b", "c"}, false},
		{"MoreThanThere", "a\nb\nc", 10, []string{"a", "b", "c"}, false},
		{"CRLF", "a\r\nb\r\n", 5, []string{"a", "b"}, false},
		{"EmptyLines", "a\n\n\nb\n", 3, []string{"", "", "b"}, true},
		{"LongLines", strings.Join(long, "\n") + "\n", 25, long[15:], true},
		{"LongLinesAll", strings.Join(long, "\n"), 40, long, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".log")
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := Tail(path, tc.n)
			if err != nil {
				t.Fatalf("Tail: %v", err)
			}
			if !got.Exists || got.SizeBytes != int64(len(tc.data)) || got.Path != path || got.LastModified.IsZero() {
				t.Errorf("tail = exists %v, size %d, path %s, modified %s", got.Exists, got.SizeBytes, got.Path, got.LastModified)
			}
			if !slices.Equal(got.Lines, tc.want) || got.Truncated != tc.truncated {
				t.Errorf("tail(%d) = %d lines %.80q truncated %v, want %d lines %.80q truncated %v",
					tc.n, len(got.Lines), got.Lines, got.Truncated, len(tc.want), tc.want, tc.truncated)
			}
		})
	}
	got, err := Tail(filepath.Join(dir, "missing.log"), 3)
	if err != nil || got.Exists || got.Lines == nil || len(got.Lines) != 0 {
		t.Errorf("tail of a missing file = %+v, %v; want an empty tail that does not exist", got, err)
	}
}

// TestTailLineCount checks that Tail refuses a line count out of range with
// the error the LogReader contract asks for, before reading anything.
func TestTailLineCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vm.log")
	if err := os.WriteFile(path, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, -1, backend.MaxTailLines + 1} {
		got, err := Tail(path, n)
		if !errors.Is(err, plugin.ErrInvalidArgument) || plugin.FieldOf(err) != "lines" || got != nil {
			t.Errorf("Tail(%d) = %v, %v; want an invalid-argument error naming \"lines\"", n, got, err)
		}
	}
	for _, n := range []int{1, backend.MaxTailLines} {
		if got, err := Tail(path, n); err != nil || len(got.Lines) != min(n, 2) {
			t.Errorf("Tail(%d) = %v, %v; want the last %d lines", n, got, err, min(n, 2))
		}
	}
}
