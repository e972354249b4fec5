package logs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ErrClosed: the spool (or the pipeline) is closed.
var ErrClosed = errors.New("log spool is closed")

// Defaults of SpoolOptions.
const (
	DefaultSegmentBytes       = 16 << 20
	DefaultSpoolMaxBytes      = 1 << 30
	DefaultSpoolMaxAge        = 7 * 24 * time.Hour
	DefaultCursorSyncInterval = 200 * time.Millisecond
)

// SpoolOptions configure a Spool.
type SpoolOptions struct {
	// Dir holds the segments and the cursors; it is created if missing.
	Dir string
	// Consumers names every consumer; each has a cursor. A consumer that
	// is new starts at the end of the spool; the cursor of a consumer no
	// longer named is removed.
	Consumers []string
	// SegmentBytes is the size at which the segment being written is
	// sealed and a new one started. Default DefaultSegmentBytes.
	SegmentBytes int64
	// MaxBytes bounds the size of all segments; past it the oldest sealed
	// segments are discarded, delivered or not. Default
	// DefaultSpoolMaxBytes; at least twice SegmentBytes.
	MaxBytes int64
	// MaxAge bounds how long a sealed segment is kept after its last
	// write, delivered or not. Default DefaultSpoolMaxAge.
	MaxAge time.Duration
	// CursorSyncInterval is how often acknowledged cursors are written
	// to disk and retention is checked. Default DefaultCursorSyncInterval.
	CursorSyncInterval time.Duration
	// OnEvict is told of every segment a retention bound discarded, with
	// what each consumer lost. It is called without locks held.
	OnEvict func(Eviction)
	// Logger receives recovery notes and retention alarms; nil discards.
	Logger hclog.Logger
}

// Eviction is a segment discarded by a retention bound.
type Eviction struct {
	// Reason is ReasonMaxBytes or ReasonMaxAge.
	Reason string
	// Segment is the discarded file.
	Segment string
	// Bytes is its size.
	Bytes int64
	// Lost counts, per consumer and per tag, the records that consumer had
	// not yet received.
	Lost map[string]map[byte]int
}

// Reasons of an Eviction.
const (
	ReasonMaxBytes = "max_bytes"
	ReasonMaxAge   = "max_age"
)

func (o SpoolOptions) withDefaults() (SpoolOptions, error) {
	if o.Dir == "" {
		return o, errors.New("opening log spool: no directory given")
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultSpoolMaxBytes
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultSpoolMaxAge
	}
	if o.CursorSyncInterval <= 0 {
		o.CursorSyncInterval = DefaultCursorSyncInterval
	}
	if o.MaxBytes < 2*o.SegmentBytes {
		return o, fmt.Errorf("opening log spool: max bytes %d must be at least twice the segment size %d", o.MaxBytes, o.SegmentBytes)
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	return o, nil
}

// Spool is a durable, append-only queue of records on disk: segment files
// under one directory, read by named consumers that each keep a cursor.
// Append returns once its records are written and synced; appends that
// arrive while a sync runs are written and synced together (group commit).
// Opening a spool after a crash finds a record the crash tore at the end of
// the last segment and cuts it off: such a record was never acknowledged.
// A damaged record that good records follow (the disk changed what was
// written) is skipped instead, counted and logged, and the records after it
// are kept; a reader gets a filler record of tag damagedTag in its place.
type Spool struct {
	dir  string
	opts SpoolOptions
	log  hclog.Logger

	mu      sync.Mutex
	segs    []*segment // oldest first; the last one is written to
	next    uint64     // the sequence number of the next record; all below are durable
	bytes   int64      // total size of segs
	pending []*appendBatch
	cursors map[string]*cursor
	closed  bool
	failed  error
	changed chan struct{} // closed and replaced when records become durable or the spool closes

	active *os.File // the last segment, owned by the flusher
	wbuf   []byte   // the flusher's write buffer

	kick      chan struct{}
	stop      chan struct{}
	flushed   chan struct{}
	maintain  chan struct{}
	closeOnce sync.Once
	closeErr  error
	// cursorWrites serialises writing cursor files.
	cursorWrites sync.Mutex
	// syncs counts group commits.
	syncs atomic.Uint64
	// damaged counts the records found damaged at open and skipped.
	damaged atomic.Uint64
}

// appendBatch is one Append waiting for its records to be durable.
type appendBatch struct {
	tags     []byte
	payloads [][]byte
	first    uint64
	err      error
	done     chan struct{}
}

// OpenSpool opens (or creates) the spool in opts.Dir, recovers from a crash
// and starts writing.
func OpenSpool(opts SpoolOptions) (*Spool, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, cursorDir), 0o750); err != nil {
		return nil, fmt.Errorf("opening log spool: %w", err)
	}
	s := &Spool{
		dir: opts.Dir, opts: opts, log: opts.Logger,
		cursors: map[string]*cursor{}, changed: make(chan struct{}),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), flushed: make(chan struct{}), maintain: make(chan struct{}),
	}
	if err := s.recover(); err != nil {
		return nil, err
	}
	if err := s.openCursors(); err != nil {
		_ = s.active.Close()
		return nil, err
	}
	go s.flusher()
	go s.maintainer()
	return s, nil
}

// recover lists the segments, checks the last one record by record,
// fills damaged records that good ones follow (repairSegment), truncates
// what a crash tore at its end and opens it for writing.
func (s *Spool) recover() error {
	segs, err := listSegments(s.dir)
	if err != nil {
		return fmt.Errorf("opening log spool: %w", err)
	}
	if len(segs) == 0 {
		var start uint64
		for _, name := range s.opts.Consumers {
			if seq, ok, err := readCursor(s.dir, name); err == nil && ok && seq > start {
				start = seq
			}
		}
		f, seg, err := createSegment(s.dir, start)
		if err != nil {
			return fmt.Errorf("opening log spool: %w", err)
		}
		s.active, s.segs, s.next, s.bytes = f, []*segment{seg}, start, seg.size
		return nil
	}
	for i, seg := range segs[:len(segs)-1] {
		seg.end, seg.sealed = segs[i+1].first, true
		s.bytes += seg.size
	}
	last := segs[len(segs)-1]
	res, damaged, err := repairSegment(last.path, last.first)
	if err != nil {
		return fmt.Errorf("opening log spool: %w", err)
	}
	for _, d := range damaged {
		s.damaged.Add(d.next - d.first)
		s.log.Error("LOG SPOOL DAMAGED: skipping damaged records in the middle of the last segment; the records after them are kept",
			"segment", last.path, "offset", d.off, "bytes", d.size, "first_record", d.first, "records_skipped", d.next-d.first, "problem", d.problem)
	}
	if res.end == 0 {
		// Not even the header made it: the crash came while the segment
		// was being created, so it holds nothing.
		s.log.Warn("log spool: the last segment has no valid header; starting it again", "segment", last.path, "problem", res.torn)
		if err := os.Remove(last.path); err != nil {
			return fmt.Errorf("opening log spool: removing the broken segment %s: %w", last.path, err)
		}
		f, seg, err := createSegment(s.dir, last.first)
		if err != nil {
			return fmt.Errorf("opening log spool: %w", err)
		}
		segs[len(segs)-1] = seg
		s.active, s.segs, s.next, s.bytes = f, segs, seg.first, s.bytes+seg.size
		return nil
	}
	if res.torn != nil {
		s.log.Warn("log spool: cutting off an incomplete record at the end of the last segment; it was never acknowledged",
			"segment", last.path, "offset", res.end, "bytes_dropped", last.size-res.end, "problem", res.torn)
		if err := os.Truncate(last.path, res.end); err != nil {
			return fmt.Errorf("opening log spool: truncating the torn end of %s: %w", last.path, err)
		}
	}
	f, err := os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening log spool segment %s: %w", last.path, err)
	}
	if res.torn != nil {
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return fmt.Errorf("opening log spool: syncing %s: %w", last.path, err)
		}
	}
	last.end, last.size = res.next, res.end
	s.active, s.segs, s.next, s.bytes = f, segs, res.next, s.bytes+res.end
	return nil
}

// openCursors loads the cursor of every consumer, starts new consumers at
// the end and removes the cursors of consumers no longer named.
func (s *Spool) openCursors() error {
	first := s.segs[0].first
	for _, name := range s.opts.Consumers {
		if err := checkConsumerName(name); err != nil {
			return fmt.Errorf("opening log spool: %w", err)
		}
		if _, dup := s.cursors[name]; dup {
			return fmt.Errorf("opening log spool: consumer %q is named twice", name)
		}
		seq, ok, err := readCursor(s.dir, name)
		if err != nil {
			return fmt.Errorf("opening log spool: %w", err)
		}
		switch {
		case !ok:
			seq = s.next
			if err := writeCursor(s.dir, name, seq); err != nil {
				return fmt.Errorf("opening log spool: %w", err)
			}
			s.log.Info("log spool: new consumer starts at the end of the spool", "consumer", name, "position", seq)
		case seq > s.next:
			s.log.Warn("log spool: a cursor is past the end of the spool; moving it to the end", "consumer", name, "cursor", seq, "end", s.next)
			seq = s.next
		case seq < first:
			// The segments below were removed once every consumer was done
			// with them, or discarded by a retention bound (counted then).
			seq = first
		}
		s.cursors[name] = &cursor{name: name, acked: seq, persisted: seq, readPos: seq}
	}
	stale, err := staleCursors(s.dir, s.cursors)
	if err != nil {
		return fmt.Errorf("opening log spool: %w", err)
	}
	for _, name := range stale {
		s.log.Info("log spool: removing the cursor of a consumer that is no longer configured", "consumer", name)
		if err := os.Remove(cursorPath(s.dir, name)); err != nil {
			return fmt.Errorf("opening log spool: removing the stale cursor of %s: %w", name, err)
		}
	}
	return nil
}

// Append writes one record per payload, tagged with tags[i], and returns
// the sequence number of the first once all of them are durable. When ctx
// ends first the records may still be written; they are then delivered
// although the caller was told otherwise (at least once).
func (s *Spool) Append(ctx context.Context, tags []byte, payloads [][]byte) (uint64, error) {
	if len(tags) != len(payloads) {
		return 0, fmt.Errorf("appending to the log spool: %d tags for %d payloads", len(tags), len(payloads))
	}
	if len(payloads) == 0 {
		return s.End(), nil
	}
	for i, p := range payloads {
		if len(p) > maxRecordPayload {
			return 0, fmt.Errorf("appending to the log spool: record %d has %d bytes, more than %d", i, len(p), maxRecordPayload)
		}
		if tags[i] == damagedTag {
			return 0, fmt.Errorf("appending to the log spool: record %d has tag %d, which marks damaged records", i, damagedTag)
		}
	}
	b := &appendBatch{tags: tags, payloads: payloads, done: make(chan struct{})}
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	s.pending = append(s.pending, b)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	select {
	case <-b.done:
		return b.first, b.err
	case <-ctx.Done():
		return 0, fmt.Errorf("appending to the log spool: %w", ctx.Err())
	}
}

// usable says why appends are refused, if they are. Called with mu held.
func (s *Spool) usable() error {
	if s.closed {
		return ErrClosed
	}
	if s.failed != nil {
		return fmt.Errorf("log spool is unusable since a write failed (%w); restart quantixd once the disk is fixed", s.failed)
	}
	return nil
}

// End returns the sequence number the next record will have: every record
// below it is durable.
func (s *Spool) End() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// flusher writes and syncs what Append queues, one group at a time, until
// Close; then it writes what is left and returns.
func (s *Spool) flusher() {
	defer close(s.flushed)
	for {
		select {
		case <-s.kick:
		case <-s.stop:
			s.flushPending()
			return
		}
		s.flushPending()
	}
}

// flushPending writes every queued batch.
func (s *Spool) flushPending() {
	for {
		s.mu.Lock()
		batches := s.pending
		s.pending = nil
		s.mu.Unlock()
		if len(batches) == 0 {
			return
		}
		s.writeGroup(batches)
	}
}

// writeGroup writes a group of batches to the last segment with one write
// and one sync, then wakes the appenders and readers.
func (s *Spool) writeGroup(batches []*appendBatch) {
	s.mu.Lock()
	err := s.failed
	next := s.next
	seg := s.segs[len(s.segs)-1]
	s.mu.Unlock()
	if err == nil && seg.size >= s.opts.SegmentBytes && seg.end > seg.first {
		err = s.rotate(seg, next)
		s.mu.Lock()
		seg = s.segs[len(s.segs)-1]
		s.mu.Unlock()
	}
	if err != nil {
		s.finish(batches, fmt.Errorf("log spool is unusable since a write failed (%w); restart quantixd once the disk is fixed", err))
		return
	}
	buf := s.wbuf[:0]
	seq := next
	for _, b := range batches {
		b.first = seq
		for i, p := range b.payloads {
			buf = appendRecord(buf, seq, b.tags[i], p)
			seq++
		}
	}
	s.wbuf = buf
	if _, err := s.active.Write(buf); err != nil {
		werr := fmt.Errorf("writing log spool segment %s: %w", seg.path, err)
		// Cut off what part of the group made it, so that the segment
		// stays a sequence of whole records.
		if terr := s.active.Truncate(seg.size); terr != nil {
			s.fail(fmt.Errorf("%w; then truncating it back: %v", werr, terr))
		}
		s.finish(batches, werr)
		return
	}
	if err := s.active.Sync(); err != nil {
		// After a failed fsync the kernel may have dropped the dirty
		// pages: what is on disk is unknown, so nothing more is written.
		err = fmt.Errorf("syncing log spool segment %s: %w", seg.path, err)
		s.fail(err)
		s.finish(batches, err)
		return
	}
	s.syncs.Add(1)
	s.mu.Lock()
	seg.size += int64(len(buf))
	seg.end = seq
	seg.modTime = time.Now()
	s.bytes += int64(len(buf))
	s.next = seq
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	if cap(s.wbuf) > 4<<20 {
		s.wbuf = nil
	}
	s.finish(batches, nil)
}

// finish tells every batch of a group how it went.
func (s *Spool) finish(batches []*appendBatch, err error) {
	for _, b := range batches {
		b.err = err
		close(b.done)
	}
}

// fail makes the spool refuse every later append.
func (s *Spool) fail(err error) {
	s.log.Error("log spool: a write failed; refusing new entries until quantixd restarts", "error", err)
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
	}
	s.mu.Unlock()
}

// rotate seals seg, the last segment, and starts a new one at next.
func (s *Spool) rotate(seg *segment, next uint64) error {
	if err := s.active.Close(); err != nil {
		s.fail(fmt.Errorf("closing log spool segment %s: %w", seg.path, err))
		return err
	}
	f, nseg, err := createSegment(s.dir, next)
	if err != nil {
		s.fail(err)
		return err
	}
	s.active = f
	s.mu.Lock()
	seg.sealed = true
	s.segs = append(s.segs, nseg)
	s.bytes += nseg.size
	s.mu.Unlock()
	return nil
}

// Close writes what is queued, persists every cursor and closes the files.
// Appends and reads fail with ErrClosed afterwards; closing again does
// nothing.
func (s *Spool) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
		<-s.flushed
		<-s.maintain
		s.mu.Lock()
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		err := s.syncCursors()
		if cerr := s.active.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing log spool: %w", cerr)
		}
		s.closeErr = err
	})
	return s.closeErr
}

// SpoolStats describes a spool.
type SpoolStats struct {
	// Segments and Bytes count the segment files and their size.
	Segments int
	Bytes    int64
	// First is the oldest record kept; End the one after the newest.
	First, End uint64
	// Lag is, per consumer, how many records it has not acknowledged.
	Lag map[string]uint64
	// Syncs counts the group commits so far: one write and one fsync each.
	Syncs uint64
	// Damaged counts the records found damaged when the spool was opened
	// and skipped: no consumer gets them.
	Damaged uint64
}

// Stats describes the spool now.
func (s *Spool) Stats() SpoolStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SpoolStats{Segments: len(s.segs), Bytes: s.bytes, First: s.segs[0].first, End: s.next, Lag: map[string]uint64{}, Syncs: s.syncs.Load(), Damaged: s.damaged.Load()}
	for name, c := range s.cursors {
		st.Lag[name] = s.next - c.acked
	}
	return st
}
