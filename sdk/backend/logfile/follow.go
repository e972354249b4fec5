package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
)

// Follow settings.
const (
	// DefaultPoll is how often Follow looks for new lines when asked for 0.
	DefaultPoll   = 200 * time.Millisecond
	followReadBuf = 64 << 10
	// maxLineLen bounds a line without a break: longer ones are cut.
	maxLineLen = 1 << 20
)

// errFollowDone stops following once the context has ended.
var errFollowDone = errors.New("follow: context ended")

// follower follows a file the way `tail -F` does: it emits complete lines,
// starts over when the file is truncated and moves to the new file when it
// is rotated.
type follower struct {
	ctx  context.Context
	path string
	fn   func(backend.LogLine) error

	f        *os.File
	opened   bool
	pos      int64
	partial  []byte
	reopened bool
	buf      []byte
}

// Follow calls fn for every line written to path from offset on (negative:
// from the current end), polling every poll (DefaultPoll when 0), until ctx
// ends (nil) or fn fails (its error). A file that does not exist yet is
// waited for; truncation and rotation are followed like `tail -F`, the first
// line after either marked Reopened. Offsets count bytes of the file; texts
// are valid UTF-8.
func Follow(ctx context.Context, path string, offset int64, poll time.Duration, fn func(backend.LogLine) error) error {
	if poll <= 0 {
		poll = DefaultPoll
	}
	fl := &follower{ctx: ctx, path: path, fn: fn, buf: make([]byte, followReadBuf)}
	defer fl.close()
	if err := fl.openAt(offset); err != nil {
		return err
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := fl.step(); errors.Is(err, errFollowDone) {
			return nil
		} else if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// openAt opens the file and positions the reader at offset.
func (fl *follower) openAt(offset int64) error {
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

// step reads what is new, then handles truncation and rotation.
func (fl *follower) step() error {
	if fl.f == nil {
		return fl.openNew()
	}
	if err := fl.drain(); err != nil {
		return err
	}
	st, err := fl.f.Stat()
	if err != nil {
		return fmt.Errorf("reading log %s: %w", fl.path, err)
	}
	if st.Size() < fl.pos {
		fl.pos, fl.partial, fl.reopened = 0, fl.partial[:0], true
		return fl.drain()
	}
	cur, err := os.Stat(fl.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading log %s: %w", fl.path, err)
	}
	if os.SameFile(st, cur) {
		return nil
	}
	return fl.rotate()
}

// rotate finishes the old file, including a last line without a break, and
// moves to the new one.
func (fl *follower) rotate() error {
	if err := fl.drain(); err != nil {
		return err
	}
	if len(fl.partial) > 0 {
		if err := fl.emit(fl.partial); err != nil {
			return err
		}
		fl.partial = fl.partial[:0]
	}
	fl.close()
	return fl.openNew()
}

// openNew opens a file that appeared at path and reads it from the start.
func (fl *follower) openNew() error {
	f, err := os.Open(fl.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening log %s: %w", fl.path, err)
	}
	fl.f, fl.pos, fl.partial = f, 0, fl.partial[:0]
	fl.reopened = fl.opened
	fl.opened = true
	return fl.drain()
}

// drain reads from pos to the end of the file, emitting complete lines.
func (fl *follower) drain() error {
	for {
		n, err := fl.f.ReadAt(fl.buf, fl.pos)
		if n > 0 {
			fl.pos += int64(n)
			if perr := fl.consume(fl.buf[:n]); perr != nil {
				return perr
			}
		}
		if errors.Is(err, io.EOF) || n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading log %s: %w", fl.path, err)
		}
	}
}

// consume splits newly read data into lines; the rest waits for its break.
func (fl *follower) consume(data []byte) error {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			fl.partial = append(fl.partial, data...)
			if len(fl.partial) >= maxLineLen {
				line := fl.partial
				fl.partial = nil
				return fl.emitAt(line, fl.pos)
			}
			return nil
		}
		line := data[:i]
		if len(fl.partial) > 0 {
			line = append(fl.partial, line...)
			fl.partial = fl.partial[:0]
		}
		data = data[i+1:]
		if err := fl.emitAt(line, fl.pos-int64(len(data))); err != nil {
			return err
		}
	}
	return nil
}

func (fl *follower) emit(line []byte) error { return fl.emitAt(line, fl.pos) }

// emitAt hands one line, ending at offset, to fn, unless the context has
// ended. Bytes that are not UTF-8 become U+FFFD in the text: a line
// travels as a protobuf string, which must be valid UTF-8.
func (fl *follower) emitAt(line []byte, offset int64) error {
	if fl.ctx.Err() != nil {
		return errFollowDone
	}
	l := backend.LogLine{
		Text:     strings.ToValidUTF8(string(bytes.TrimSuffix(line, []byte{'\r'})), "\uFFFD"),
		Offset:   offset,
		Time:     time.Now(),
		Reopened: fl.reopened,
	}
	fl.reopened = false
	return fl.fn(l)
}
