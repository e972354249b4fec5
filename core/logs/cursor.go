package logs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/quantixvm/quantix/internal/fsutil"
)

// A consumer's cursor is the sequence number of the first record it has not
// yet finished with: every record below it was delivered (or dropped for
// good). It is kept in <spool>/cursors/<consumer>.cursor as a decimal
// number, replaced atomically (write, sync, rename, sync the directory).
const (
	cursorDir = "cursors"
	cursorExt = ".cursor"
)

// consumerNameRE is what a consumer's name may be: it names a file.
var consumerNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// checkConsumerName refuses names that cannot name a cursor file.
func checkConsumerName(name string) error {
	if !consumerNameRE.MatchString(name) {
		return fmt.Errorf("spool consumer name %q must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// cursorPath is the file of the named consumer's cursor.
func cursorPath(dir, name string) string {
	return filepath.Join(dir, cursorDir, name+cursorExt)
}

// readCursor reads the named consumer's cursor; ok is false when it has
// none yet.
func readCursor(dir, name string) (seq uint64, ok bool, err error) {
	b, err := os.ReadFile(cursorPath(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading the spool cursor of %s: %w", name, err)
	}
	seq, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("reading the spool cursor of %s: %q is not a sequence number", name, strings.TrimSpace(string(b)))
	}
	return seq, true, nil
}

// writeCursor replaces the named consumer's cursor with seq, durably.
func writeCursor(dir, name string, seq uint64) error {
	if err := fsutil.WriteFileAtomic(cursorPath(dir, name), []byte(strconv.FormatUint(seq, 10)+"\n")); err != nil {
		return fmt.Errorf("writing the spool cursor of %s: %w", name, err)
	}
	return nil
}

// staleCursors returns the names of cursor files in dir that belong to
// none of the consumers in keep.
func staleCursors(dir string, keep map[string]*cursor) ([]string, error) {
	des, err := os.ReadDir(filepath.Join(dir, cursorDir))
	if err != nil {
		return nil, fmt.Errorf("listing spool cursors: %w", err)
	}
	var stale []string
	for _, de := range des {
		name, ok := strings.CutSuffix(de.Name(), cursorExt)
		if !ok || de.IsDir() {
			continue
		}
		if _, used := keep[name]; !used {
			stale = append(stale, name)
		}
	}
	return stale, nil
}

// cursor is the spool's state of one consumer. Every field is guarded by
// the spool's mutex.
type cursor struct {
	name string
	// acked: every record below it is done; persisted is what the cursor
	// file holds (at most acked).
	acked, persisted uint64
	// readPos is the next record to hand to the consumer; at least acked.
	readPos uint64
	// reader is the consumer's Reader, once made.
	reader *Reader
}
