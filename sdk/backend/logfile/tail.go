package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// tailChunk is how much the backward reader reads at a time.
const tailChunk = 64 << 10

// tailResult is the end of a file.
type tailResult struct {
	// Lines are the last lines, oldest first, without "\n" or "\r\n".
	Lines []string
	// Truncated is true when the file holds more lines than Lines.
	Truncated bool
}

// tailLines returns the last n lines of the first size bytes of r. It reads
// backwards from the end in chunks of chunk bytes until it has seen n line
// breaks, so its cost depends on n and the line length, not on size. A last
// line without a line break counts as a line.
func tailLines(r io.ReaderAt, size int64, n, chunk int) (tailResult, error) {
	if n <= 0 || size <= 0 {
		return tailResult{Lines: []string{}, Truncated: size > 0}, nil
	}
	if chunk <= 0 {
		chunk = tailChunk
	}
	end := size
	if last, err := byteAt(r, size-1); err != nil {
		return tailResult{}, err
	} else if last == '\n' {
		end = size - 1
	}
	start, found, err := findLineStart(r, end, n, chunk)
	if err != nil {
		return tailResult{}, err
	}
	buf := make([]byte, size-start)
	if _, err := r.ReadAt(buf, start); err != nil && err != io.EOF {
		return tailResult{}, fmt.Errorf("reading log tail: %w", err)
	}
	return tailResult{Lines: splitLines(buf), Truncated: found}, nil
}

func byteAt(r io.ReaderAt, off int64) (byte, error) {
	var b [1]byte
	if _, err := r.ReadAt(b[:], off); err != nil && err != io.EOF {
		return 0, fmt.Errorf("reading log: %w", err)
	}
	return b[0], nil
}

// findLineStart scans [0, end) backwards for the n-th line break from the
// end and returns the offset just past it. found is false when the start of
// the file came first: then every line is part of the tail.
func findLineStart(r io.ReaderAt, end int64, n, chunk int) (int64, bool, error) {
	buf := make([]byte, chunk)
	seen := 0
	for pos := end; pos > 0; {
		size := int64(chunk)
		if pos < size {
			size = pos
		}
		pos -= size
		b := buf[:size]
		if _, err := r.ReadAt(b, pos); err != nil && err != io.EOF {
			return 0, false, fmt.Errorf("reading log backwards: %w", err)
		}
		for i := len(b); ; {
			i = bytes.LastIndexByte(b[:i], '\n')
			if i < 0 {
				break
			}
			if seen++; seen == n {
				return pos + int64(i) + 1, true, nil
			}
		}
	}
	return 0, false, nil
}

// splitLines splits data, which is not empty, into lines, dropping the line
// break of the last one and the "\r" of "\r\n". Bytes that are not UTF-8
// become U+FFFD: lines travel as protobuf strings, which must be UTF-8.
func splitLines(data []byte) []string {
	data = bytes.TrimSuffix(data, []byte{'\n'})
	parts := bytes.Split(data, []byte{'\n'})
	lines := make([]string, len(parts))
	for i, p := range parts {
		lines[i] = strings.ToValidUTF8(string(bytes.TrimSuffix(p, []byte{'\r'})), "\uFFFD")
	}
	return lines
}

// CheckLines checks the line count of a TailLog call as the LogReader
// contract requires: 1 <= n <= backend.MaxTailLines, any other value an
// invalid-argument error naming "lines". Tail calls it; a backend that
// reads its logs otherwise calls it itself.
func CheckLines(n int) error {
	if n < 1 || n > backend.MaxTailLines {
		return plugin.InvalidArgument("lines", "lines: %d is not between 1 and %d", n, backend.MaxTailLines)
	}
	return nil
}

// Tail reads the last n lines of the file at path, for TailLog. A file that
// does not exist is an empty tail with Exists false, not an error; n out of
// range is the error CheckLines returns, so a backend passes the n it was
// given as is.
func Tail(path string, n int) (*backend.LogTail, error) {
	if err := CheckLines(n); err != nil {
		return nil, err
	}
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
	res, err := tailLines(f, st.Size(), n, tailChunk)
	if err != nil {
		return nil, fmt.Errorf("tailing log %s: %w", path, err)
	}
	tail.Exists, tail.SizeBytes, tail.LastModified = true, st.Size(), st.ModTime()
	tail.Lines, tail.Truncated = res.Lines, res.Truncated
	return tail, nil
}
