// Package file is Quantix's file log sink: it appends entries to a file as
// JSON lines, one entry per line with the keys of a log entry
// (docs/logs.md), and rotates the file by size, keeping a number of rotated
// files.
//
// A Write reports an entry delivered once its line is in the file (synced to
// disk first with fsync). An I/O error makes the entries not yet written
// retryable; a failed write is cut back out of the file, so the file holds
// whole lines only. No entry is ever refused for good.
package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"sync"

	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Name is the plugin's short name.
const Name = "file"

// Version is the plugin's release version, set at build time with
// -ldflags "-X github.com/quantixvm/quantix/plugins/logsinks/file.Version=...".
var Version = "dev"

// keepBuffer is the largest write buffer kept between Writes.
const keepBuffer = 4 << 20

var (
	_ logsink.Sink    = (*Sink)(nil)
	_ logsink.Flusher = (*Sink)(nil)
)

// Sink appends entries to a file. Create it with New; it is safe for
// concurrent use.
type Sink struct {
	mu     sync.Mutex
	file   *logFile // nil before Configure and after Close
	closed bool
	buf    []byte
	line   bytes.Buffer
	enc    *json.Encoder
}

// New returns an unconfigured sink.
func New() *Sink {
	s := &Sink{}
	s.enc = json.NewEncoder(&s.line)
	s.enc.SetEscapeHTML(false)
	return s
}

// Info describes the plugin.
func (s *Sink) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{
		Name:         Name,
		Type:         plugin.TypeLogSink,
		Version:      Version,
		APIVersions:  logsink.APIVersions,
		Capabilities: []string{logsink.CapFlush},
	}, nil
}

// Configure checks the config block and opens the file, closing the one a
// previous configuration opened.
func (s *Sink) Configure(_ context.Context, raw []byte, _ int) error {
	cfg, _, err := parseSettings(raw)
	if err != nil {
		return err
	}
	f, err := openLogFile(cfg)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrExist) || isNotDir(err) {
			return plugin.InvalidArgument("path", "config: attribute \"path\": %v", err)
		}
		return plugin.Unavailable(err, "config: attribute \"path\": %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var closeErr error
	if s.file != nil {
		closeErr = s.file.close()
	}
	s.file, s.closed = f, false
	if closeErr != nil {
		return plugin.Unavailable(closeErr, "closing the previous file: %v", closeErr)
	}
	return nil
}

// Write appends one line per entry, rotating the file whenever the next
// line would take it past max_size.
func (s *Sink) Write(ctx context.Context, entries []logsink.Entry) ([]logsink.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return nil, s.notOpen()
	}
	results := make([]logsink.Result, len(entries))
	f := s.file
	// settle answers the entries before from delivered (their lines are
	// in the file) and the others retryable because of err.
	settle := func(from int, err error) ([]logsink.Result, error) {
		for i := range results {
			switch {
			case results[i].Outcome != 0:
			case i < from:
				results[i] = logsink.OK()
			default:
				results[i] = logsink.RetryLater("%v", err)
			}
		}
		return results, nil
	}
	// fail is settle after a failed write: with fsync, the lines before
	// from are delivered only once they are on disk.
	fail := func(from int, err error) ([]logsink.Result, error) {
		if from > 0 && f.cfg.fsync && f.sync() != nil {
			from = 0
		}
		return settle(from, err)
	}
	if err := f.ensureOpen(); err != nil {
		return fail(0, err)
	}
	buf := s.buf[:0]
	first := 0 // the first entry whose line is in buf
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		err := f.write(buf)
		buf = buf[:0]
		return err
	}
	for i := range entries {
		s.line.Reset()
		if err := s.enc.Encode(&entries[i]); err != nil {
			results[i] = logsink.Refused("encoding entry %s: %v", entries[i].ID, err)
			continue
		}
		line := s.line.Bytes()
		if f.needsRotation(len(buf), len(line)) {
			if err := flush(); err != nil {
				return fail(first, err)
			}
			first = i
			if err := f.rotate(); err != nil {
				return fail(first, err)
			}
		}
		buf = append(buf, line...)
	}
	if err := flush(); err != nil {
		return fail(first, err)
	}
	if cap(buf) <= keepBuffer {
		s.buf = buf
	}
	if f.cfg.fsync {
		if err := f.sync(); err != nil {
			// Nothing written by this call is known to be on disk.
			return fail(0, err)
		}
	}
	return settle(len(entries), nil)
}

// Flush syncs the file to disk.
func (s *Sink) Flush(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return s.notOpen()
	}
	if err := s.file.sync(); err != nil {
		return plugin.Unavailable(err, "%v", err)
	}
	return nil
}

// Close syncs and closes the file. Writes fail until Configure is called
// again.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return nil
	}
	err := s.file.close()
	s.file, s.closed, s.buf = nil, true, nil
	if err != nil {
		return plugin.Unavailable(err, "%v", err)
	}
	return nil
}

// notOpen is the error of a call before Configure or after Close.
func (s *Sink) notOpen() error {
	if s.closed {
		return plugin.Unavailable(nil, "file sink is closed; configure it again")
	}
	return plugin.Unavailable(nil, "file sink is not configured")
}
