package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/quantixvm/quantix/sdk/backend"
)

// tailChunk is how much tailFile reads at a time, backwards from the end.
const tailChunk = 64 << 10

// tailFile returns the last n lines of the file at path, reading backwards
// from its end until it has seen n line breaks: the cost depends on n and
// the length of the lines, not on the size of the file. A missing file is
// an empty tail with Exists false.
func tailFile(path string, n int) (*backend.LogTail, error) {
	tail := &backend.LogTail{Path: path, Lines: []string{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return tail, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening log %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading log %s: %w", path, err)
	}
	tail.Exists, tail.SizeBytes, tail.LastModified = true, st.Size(), st.ModTime()
	if st.Size() == 0 {
		return tail, nil
	}
	lines, truncated, err := lastLines(f, st.Size(), n)
	if err != nil {
		return nil, fmt.Errorf("tailing log %s: %w", path, err)
	}
	tail.Lines, tail.Truncated = lines, truncated
	return tail, nil
}

// lastLines returns the last n lines of the first size bytes of r, which
// are not empty, and whether more lines come before them. A last line
// without a line break counts as a line.
func lastLines(r io.ReaderAt, size int64, n int) ([]string, bool, error) {
	end := size
	var last [1]byte
	if _, err := r.ReadAt(last[:], size-1); err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	if last[0] == '\n' {
		end--
	}
	// Scan [0, end) backwards for the n-th line break from the end.
	start, found := int64(0), false
	buf := make([]byte, tailChunk)
	seen := 0
	for pos := end; pos > 0 && !found; {
		k := min(int64(len(buf)), pos)
		pos -= k
		chunk := buf[:k]
		if _, err := r.ReadAt(chunk, pos); err != nil && !errors.Is(err, io.EOF) {
			return nil, false, err
		}
		for i := len(chunk); !found; {
			i = bytes.LastIndexByte(chunk[:i], '\n')
			if i < 0 {
				break
			}
			if seen++; seen == n {
				start, found = pos+int64(i)+1, true
			}
		}
	}
	data := make([]byte, end-start)
	if _, err := r.ReadAt(data, start); err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	parts := bytes.Split(data, []byte{'\n'})
	lines := make([]string, len(parts))
	for i, p := range parts {
		lines[i] = string(bytes.TrimSuffix(p, []byte{'\r'}))
	}
	return lines, found, nil
}
