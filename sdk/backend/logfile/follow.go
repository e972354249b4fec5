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
	// MaxRotated is how many rotated files FollowFrom looks at: <path>.0
	// (virtlogd's newest) to <path>.<MaxRotated-1> (logrotate starts at
	// .1), a lower number being newer.
	MaxRotated = 10
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

	f *os.File
	// file identifies f (FileID).
	file string
	// backlog are the files to read from their start after f before
	// following path: the newer rotated files and the file at path when
	// following resumed in a rotated file.
	backlog  []*os.File
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
	return FollowFrom(ctx, path, backend.LogPosition{Offset: offset}, poll, fn)
}

// FollowFrom is Follow resuming at from, and each line names its file
// (LogLine.File, see FileID). When from.File is set and is not the file at
// path, the log was rotated since: the rest of from.File from from.Offset
// is read first when it is among the rotated files (see MaxRotated), then
// the newer rotated files and the file at path from their start, the first
// line of each marked Reopened; when it is not there any more, the file at
// path is read from its start, its first line marked Reopened.
func FollowFrom(ctx context.Context, path string, from backend.LogPosition, poll time.Duration, fn func(backend.LogLine) error) error {
	if poll <= 0 {
		poll = DefaultPoll
	}
	fl := &follower{ctx: ctx, path: path, fn: fn, buf: make([]byte, followReadBuf)}
	defer fl.close()
	if err := fl.openAt(from); err != nil {
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

// openAt opens the file and positions the reader at from.
func (fl *follower) openAt(from backend.LogPosition) error {
	f, st, err := openStat(fl.path)
	if err != nil {
		return err
	}
	if from.File != "" && from.Offset >= 0 && (f == nil || FileID(st) != from.File) {
		return fl.openRotated(from, f)
	}
	if f == nil {
		return nil
	}
	fl.f, fl.file, fl.opened = f, FileID(st), true
	offset := from.Offset
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

// openStat opens path; nil without an error when it does not exist.
func openStat(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("opening log %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("reading log %s: %w", path, err)
	}
	return f, st, nil
}

// openRotated resumes in from.File, which is not the file at path (cur,
// nil when there is none): it reads the rest of from.File when it is a
// rotated file, then the newer rotated files and cur; cur from its start
// when from.File is gone.
func (fl *follower) openRotated(from backend.LogPosition, cur *os.File) error {
	fl.opened = true
	var newer []*os.File // newest first
	for i := 0; i < MaxRotated; i++ {
		f, st, err := openStat(fmt.Sprintf("%s.%d", fl.path, i))
		if err != nil || f == nil {
			continue
		}
		if FileID(st) != from.File {
			newer = append(newer, f)
			continue
		}
		fl.f, fl.file, fl.opened = f, from.File, true
		fl.pos = from.Offset
		if from.Offset > st.Size() {
			fl.pos, fl.reopened = 0, true
		}
		for j := len(newer) - 1; j >= 0; j-- {
			fl.backlog = append(fl.backlog, newer[j])
		}
		if cur != nil {
			fl.backlog = append(fl.backlog, cur)
		}
		return nil
	}
	for _, f := range newer {
		f.Close()
	}
	if cur == nil {
		return nil
	}
	st, err := cur.Stat()
	if err != nil {
		cur.Close()
		return fmt.Errorf("reading log %s: %w", fl.path, err)
	}
	fl.f, fl.file, fl.opened = cur, FileID(st), true
	fl.pos, fl.reopened = 0, true
	return nil
}

func (fl *follower) close() {
	if fl.f != nil {
		fl.f.Close()
		fl.f = nil
	}
	for _, f := range fl.backlog {
		f.Close()
	}
	fl.backlog = nil
}

// nextBacklog finishes f, a rotated file, and moves to the next file of
// the backlog, read from its start; f is nil after the last when there
// was no file at path.
func (fl *follower) nextBacklog() error {
	if err := fl.finish(); err != nil {
		return err
	}
	f := fl.backlog[0]
	fl.backlog = fl.backlog[1:]
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("reading log %s: %w", fl.path, err)
	}
	fl.f, fl.file, fl.pos, fl.reopened = f, FileID(st), 0, true
	return fl.drain()
}

// finish reads the rest of f, including a last line without a break, and
// closes it.
func (fl *follower) finish() error {
	if err := fl.drain(); err != nil {
		return err
	}
	if len(fl.partial) > 0 {
		if err := fl.emit(fl.partial); err != nil {
			return err
		}
		fl.partial = fl.partial[:0]
	}
	fl.f.Close()
	fl.f = nil
	return nil
}

// step reads what is new, then handles truncation and rotation.
func (fl *follower) step() error {
	for len(fl.backlog) > 0 {
		if err := fl.nextBacklog(); err != nil {
			return err
		}
	}
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
	if err := fl.finish(); err != nil {
		return err
	}
	return fl.openNew()
}

// openNew opens a file that appeared at path and reads it from the start.
func (fl *follower) openNew() error {
	f, st, err := openStat(fl.path)
	if err != nil || f == nil {
		return err
	}
	fl.f, fl.file, fl.pos, fl.partial = f, FileID(st), 0, fl.partial[:0]
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
		File:     fl.file,
	}
	fl.reopened = false
	return fl.fn(l)
}
