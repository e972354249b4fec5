package file

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// maxLine bounds one line ReadEntries reads.
const maxLine = 64 << 20

// Files returns the files of the log at path, oldest first: the rotated
// files path.N … path.1, then path itself. Files that do not exist are left
// out.
func Files(path string) ([]string, error) {
	matches, err := filepath.Glob(globEscape(path) + ".*")
	if err != nil {
		return nil, fmt.Errorf("listing the rotated files of %s: %w", path, err)
	}
	type rotated struct {
		n    int
		name string
	}
	var list []rotated
	for _, m := range matches {
		n, err := strconv.Atoi(strings.TrimPrefix(m, path+"."))
		if err == nil && n > 0 {
			list = append(list, rotated{n, m})
		}
	}
	slices.SortFunc(list, func(a, b rotated) int { return b.n - a.n })
	out := make([]string, 0, len(list)+1)
	for _, r := range list {
		out = append(out, r.name)
	}
	if _, err := os.Stat(path); err == nil {
		out = append(out, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// ReadEntries reads back every entry the sink wrote at path, oldest first,
// across the rotated files. A line that is not an entry is an error naming
// the file and line.
func ReadEntries(path string) ([]logsink.Entry, error) {
	files, err := Files(path)
	if err != nil {
		return nil, err
	}
	var out []logsink.Entry
	for _, name := range files {
		if out, err = readFile(name, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReadFile reads the entries of one file of the log, rotated or not.
func ReadFile(name string) ([]logsink.Entry, error) {
	return readFile(name, nil)
}

func readFile(name string, out []logsink.Entry) ([]logsink.Entry, error) {
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Rotated away between listing and opening.
			return out, nil
		}
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		var e logsink.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("reading %s: line %d is not an entry: %w", name, n, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return out, nil
}

// globEscape escapes the characters filepath.Glob treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
