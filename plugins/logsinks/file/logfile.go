package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// fileMode is the mode new log files are created with: log entries may
// name users and what they did.
const fileMode = 0o640

// logFile is the open log file, its rotation and its size.
type logFile struct {
	cfg settings
	f   *os.File
	// size is what the file holds, as far as this sink wrote it.
	size int64
	// regular is false for a device, a pipe or a socket: those are never
	// rotated nor truncated.
	regular bool
	// dirty is set when a failed write may have left part of a line that
	// could not be cut off; the next write starts on a new line.
	dirty bool
}

// openLogFile creates the file's directory when missing and opens the file
// for appending.
func openLogFile(cfg settings) (*logFile, error) {
	if err := os.MkdirAll(filepath.Dir(cfg.path), 0o750); err != nil {
		return nil, fmt.Errorf("creating the directory of %s: %w", cfg.path, err)
	}
	l := &logFile{cfg: cfg}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *logFile) open() error {
	f, err := os.OpenFile(l.cfg.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return fmt.Errorf("opening %s: %w", l.cfg.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("opening %s: %w", l.cfg.path, err)
	}
	l.f, l.size, l.regular = f, fi.Size(), fi.Mode().IsRegular()
	return nil
}

// ensureOpen reopens the file when a previous failure left it closed, or
// when the path no longer leads to it (moved or removed by someone else):
// writing on would lose the lines.
func (l *logFile) ensureOpen() error {
	if l.f != nil {
		cur, err1 := l.f.Stat()
		onDisk, err2 := os.Stat(l.cfg.path)
		if err1 == nil && err2 == nil && os.SameFile(cur, onDisk) {
			return nil
		}
		_ = l.f.Close()
		l.f = nil
	}
	return l.open()
}

// needsRotation reports whether a line of n bytes does not fit in the file
// after pending bytes not written yet. A line never fits an empty file
// better, so an empty file takes it whatever its length.
func (l *logFile) needsRotation(pending, n int) bool {
	used := l.size + int64(pending)
	return l.regular && used > 0 && used+int64(n) > l.cfg.maxSize
}

// write appends p, whole lines, in one call. When it fails the file is cut
// back to where it was, so no partial line stays.
func (l *logFile) write(p []byte) error {
	if l.dirty {
		p = append([]byte{'\n'}, p...)
	}
	n, err := l.f.Write(p)
	if err == nil {
		l.size += int64(n)
		l.dirty = false
		return nil
	}
	if n > 0 {
		if !l.regular || l.f.Truncate(l.size) != nil {
			l.dirty = true
			l.size += int64(n)
		}
	}
	return fmt.Errorf("writing %s: %w", l.cfg.path, err)
}

// rotated is the name of the i-th rotated file.
func (l *logFile) rotated(i int) string { return fmt.Sprintf("%s.%d", l.cfg.path, i) }

// rotate closes the file, shifts path.1 … path.N-1 to path.2 … path.N
// (dropping path.N), moves the file to path.1 and opens a new, empty one.
// Whatever fails, a file is open at the path afterwards if at all possible.
func (l *logFile) rotate() error {
	var errs []error
	if l.cfg.fsync {
		if err := l.f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("syncing %s before rotating it: %w", l.cfg.path, err))
		}
	}
	_ = l.f.Close()
	l.f = nil
	if len(errs) == 0 {
		errs = append(errs, l.shift())
	}
	if err := l.open(); err != nil {
		errs = append(errs, err)
	}
	if l.cfg.fsync {
		errs = append(errs, syncDir(filepath.Dir(l.cfg.path)))
	}
	return errors.Join(errs...)
}

// shift renames the files one step older.
func (l *logFile) shift() error {
	if l.cfg.maxFiles == 0 {
		if err := os.Remove(l.cfg.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotating %s: %w", l.cfg.path, err)
		}
		return nil
	}
	if err := os.Remove(l.rotated(l.cfg.maxFiles)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotating %s: %w", l.cfg.path, err)
	}
	for i := l.cfg.maxFiles - 1; i >= 1; i-- {
		if err := os.Rename(l.rotated(i), l.rotated(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotating %s: %w", l.cfg.path, err)
		}
	}
	if err := os.Rename(l.cfg.path, l.rotated(1)); err != nil {
		return fmt.Errorf("rotating %s: %w", l.cfg.path, err)
	}
	return nil
}

// sync flushes the file to disk.
func (l *logFile) sync() error {
	if l.f == nil {
		return nil
	}
	if err := l.f.Sync(); err != nil && l.regular {
		return fmt.Errorf("syncing %s: %w", l.cfg.path, err)
	}
	return nil
}

// close syncs and closes the file.
func (l *logFile) close() error {
	if l.f == nil {
		return nil
	}
	err := l.sync()
	if cerr := l.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("closing %s: %w", l.cfg.path, cerr)
	}
	l.f = nil
	return err
}

// syncDir makes renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
