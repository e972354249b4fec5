package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
)

// maxLineLen bounds a line without a break: a longer one is emitted in
// pieces of this size.
const maxLineLen = 1 << 20

// errStopped ends following once the context has ended.
var errStopped = errors.New("following stopped")

// follower follows a file the way `tail -F` does: complete lines only,
// from the start again when the file shrinks (truncation), and on to the
// new file when another one appears at the path (rotation). A file
// truncated and written past the old end between two polls is not seen as
// truncated; log writers truncate to write less, not more.
type follower struct {
	ctx  context.Context
	path string
	fn   func(backend.LogLine) error

	f   *os.File
	pos int64
	// opened is true once a file has been opened at path.
	opened bool
	// reopened marks the next line emitted.
	reopened bool
	partial  []byte
	buf      []byte
}

// followFile calls fn for every line written to path from offset on
// (negative: from the current end; past the end: from the start, as after
// a truncation), checking every poll, until ctx ends (nil) or fn fails (its
// error, as is). A file that does not exist yet is waited for and read from
// its start.
func followFile(ctx context.Context, path string, offset int64, poll time.Duration, fn func(backend.LogLine) error) error {
	fl := &follower{ctx: ctx, path: path, fn: fn, buf: make([]byte, 64<<10)}
	defer fl.close()
	err := fl.start(offset)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err == nil {
			err = fl.poll()
		}
		switch {
		case errors.Is(err, errStopped):
			return nil
		case err != nil:
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// start opens the file, when it exists, at offset.
func (fl *follower) start(offset int64) error {
	f, err := os.Open(fl.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening log %s: %w", fl.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("reading log %s: %w", fl.path, err)
	}
	fl.f, fl.opened = f, true
	switch {
	case offset < 0:
		fl.pos = st.Size()
	case offset > st.Size():
		fl.pos, fl.reopened = 0, true
	default:
		fl.pos = offset
	}
	return nil
}

func (fl *follower) close() {
	if fl.f != nil {
		fl.f.Close()
		fl.f = nil
	}
}

// poll reads what is new and handles truncation and rotation.
func (fl *follower) poll() error {
	if fl.f == nil {
		return fl.openNew()
	}
	if err := fl.read(); err != nil {
		return err
	}
	st, err := fl.f.Stat()
	if err != nil {
		return fmt.Errorf("reading log %s: %w", fl.path, err)
	}
	if st.Size() < fl.pos {
		fl.pos, fl.partial, fl.reopened = 0, fl.partial[:0], true
		return fl.read()
	}
	cur, err := os.Stat(fl.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Rotated away; the new file is not there yet.
		return nil
	case err != nil:
		return fmt.Errorf("reading log %s: %w", fl.path, err)
	case os.SameFile(st, cur):
		return nil
	}
	// Rotated: finish the old file, a last line without a break included.
	if err := fl.read(); err != nil {
		return err
	}
	if len(fl.partial) > 0 {
		line := fl.partial
		fl.partial = nil
		if err := fl.emit(line, fl.pos); err != nil {
			return err
		}
	}
	fl.close()
	return fl.openNew()
}

// openNew opens a file that appeared at path and reads it from its start.
func (fl *follower) openNew() error {
	f, err := os.Open(fl.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening log %s: %w", fl.path, err)
	}
	fl.f, fl.pos, fl.partial = f, 0, fl.partial[:0]
	fl.reopened, fl.opened = fl.opened, true
	return fl.read()
}

// read consumes the file from pos to its end.
func (fl *follower) read() error {
	for {
		n, err := fl.f.ReadAt(fl.buf, fl.pos)
		if n > 0 {
			if cerr := fl.consume(fl.buf[:n]); cerr != nil {
				return cerr
			}
		}
		if n == 0 || errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading log %s: %w", fl.path, err)
		}
	}
}

// consume splits data, read at pos, into lines and emits the complete
// ones; the rest waits for its line break.
func (fl *follower) consume(data []byte) error {
	base := fl.pos
	fl.pos += int64(len(data))
	for off := 0; off < len(data); {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			fl.partial = append(fl.partial, data[off:]...)
			if len(fl.partial) >= maxLineLen {
				line := fl.partial
				fl.partial = nil
				return fl.emit(line, fl.pos)
			}
			return nil
		}
		line := data[off : off+i]
		if len(fl.partial) > 0 {
			line = append(fl.partial, line...)
			fl.partial = fl.partial[:0]
		}
		off += i + 1
		if err := fl.emit(line, base+int64(off)); err != nil {
			return err
		}
	}
	return nil
}

// emit hands one line, ending at offset, to fn unless the context ended.
func (fl *follower) emit(line []byte, offset int64) error {
	if fl.ctx.Err() != nil {
		return errStopped
	}
	l := backend.LogLine{
		Text:     string(bytes.TrimSuffix(line, []byte{'\r'})),
		Offset:   offset,
		Time:     time.Now(),
		Reopened: fl.reopened,
	}
	fl.reopened = false
	return fl.fn(l)
}
