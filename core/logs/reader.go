package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// readChunk is how much a Reader reads from a segment at a time; a record
// bigger than that is read whole.
const readChunk = 256 << 10

// Reader reads the spool for one consumer, from its cursor on, and
// acknowledges what the consumer is done with. A Reader is used by one
// goroutine at a time.
type Reader struct {
	s *Spool
	c *cursor
	// pos is the next record Read returns.
	pos uint64
	// f is open on seg, where record pos starts at off.
	f   *os.File
	seg *segment
	off int64
}

// Reader returns the reader of the named consumer, one of
// SpoolOptions.Consumers; every call returns the same one.
func (s *Spool) Reader(name string) (*Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cursors[name]
	if !ok {
		return nil, fmt.Errorf("log spool: no consumer %q; name it in SpoolOptions.Consumers", name)
	}
	if c.reader == nil {
		c.reader = &Reader{s: s, c: c, pos: c.readPos}
	}
	return c.reader, nil
}

// Position returns the sequence number of the next record Read returns.
func (r *Reader) Position() uint64 { return r.pos }

// Read returns the durable records from the reader's position on, at most
// maxRecords of them and about maxBytes of payload (at least one record when any
// is there), without waiting: none when the reader is at the end. The
// records stay valid after later calls.
func (r *Reader) Read(maxRecords, maxBytes int) ([]Record, error) {
	var out []Record
	size := 0
	for len(out) < maxRecords && (size < maxBytes || len(out) == 0) {
		before := r.pos
		recs, n, err := r.readSome(maxRecords-len(out), maxBytes-size)
		if err != nil {
			if len(out) > 0 {
				return out, nil
			}
			return nil, err
		}
		if len(recs) == 0 {
			if r.pos != before {
				continue // past the damaged rest of a segment
			}
			break
		}
		out = append(out, recs...)
		size += n
	}
	return out, nil
}

// readSome reads records from the segment holding the reader's position.
func (r *Reader) readSome(maxRecords, maxBytes int) ([]Record, int, error) {
	seg, limit, err := r.locate()
	if err != nil || seg == nil {
		return nil, 0, err
	}
	if r.f == nil || r.seg != seg {
		if err := r.open(seg); err != nil {
			return nil, 0, err
		}
	}
	avail := limit - r.off
	if avail <= 0 {
		return nil, 0, nil
	}
	buf := make([]byte, min(avail, readChunk))
	if _, err := r.f.ReadAt(buf, r.off); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("reading log spool segment %s: %w", seg.path, err)
	}
	recs := make([]Record, 0, min(maxRecords, 1024))
	used, payload := 0, 0
	for len(recs) < maxRecords && (payload < maxBytes || len(recs) == 0) {
		rec, n, err := parseRecord(buf[used:], r.pos)
		if errors.Is(err, errShort) {
			if len(recs) > 0 {
				break
			}
			if int64(used+recordHeaderSize) > avail {
				return nil, 0, r.corrupt(seg, fmt.Errorf("%w: the durable end cuts a record header", errCorrupt))
			}
			// One record bigger than the chunk: read it whole.
			if buf, err = r.readWhole(buf, avail); err != nil || buf == nil {
				return nil, 0, err // buf nil: damaged, skipped (corrupt)
			}
			continue
		}
		if err != nil {
			if len(recs) > 0 {
				break // the damage is met by the next read, at its record
			}
			return nil, 0, r.corrupt(seg, err)
		}
		recs = append(recs, rec)
		used += n
		payload += len(rec.Payload)
		r.pos++
	}
	r.off += int64(used)
	r.s.mu.Lock()
	if r.c.readPos < r.pos {
		r.c.readPos = r.pos
	}
	r.s.mu.Unlock()
	return recs, payload, nil
}

// readWhole reads the record at the reader's offset whatever its size.
func (r *Reader) readWhole(buf []byte, avail int64) ([]byte, error) {
	if len(buf) < recordHeaderSize {
		return nil, fmt.Errorf("%w: record header past the durable end", errCorrupt)
	}
	n := int64(recordSize(int(uint32(buf[0]) | uint32(buf[1])<<8 | uint32(buf[2])<<16 | uint32(buf[3])<<24)))
	if n > avail || n > int64(recordSize(maxRecordPayload)) {
		return nil, r.corrupt(r.seg, fmt.Errorf("%w: record of %d bytes past the durable end", errCorrupt, n))
	}
	whole := make([]byte, n)
	if _, err := r.f.ReadAt(whole, r.off); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading log spool segment %s: %w", r.seg.path, err)
	}
	return whole, nil
}

// locate returns the segment holding the reader's position and how far it
// is durable; nil at the end of the spool. It follows a retention bound
// that moved the cursor.
func (r *Reader) locate() (*segment, int64, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, ErrClosed
	}
	if r.c.readPos > r.pos {
		r.pos = r.c.readPos
		r.closeFile()
	}
	if r.pos >= s.next {
		return nil, 0, nil
	}
	if r.seg != nil && r.pos >= r.seg.first && (r.pos < r.seg.end || !r.seg.sealed) && r.f != nil {
		return r.seg, r.seg.size, nil
	}
	if r.pos < s.segs[0].first {
		r.pos = s.segs[0].first
		r.c.readPos = max(r.c.readPos, r.pos)
	}
	for _, seg := range s.segs {
		if r.pos >= seg.first && (r.pos < seg.end || !seg.sealed) {
			return seg, seg.size, nil
		}
	}
	return nil, 0, fmt.Errorf("log spool: no segment holds record %d", r.pos)
}

// open opens seg and finds where the reader's position starts in it.
func (r *Reader) open(seg *segment) error {
	r.closeFile()
	off := int64(len(segmentMagic))
	if r.pos > seg.first {
		found := false
		stop := errors.New("found")
		_, err := scanSegment(seg.path, seg.first, func(rec Record, o int64) error {
			if rec.Seq == r.pos {
				off, found = o, true
				return stop
			}
			return nil
		})
		if err != nil && !errors.Is(err, stop) {
			return err
		}
		if !found {
			return fmt.Errorf("log spool: record %d is not in segment %s", r.pos, seg.path)
		}
	}
	f, err := os.Open(seg.path)
	if err != nil {
		return fmt.Errorf("opening log spool segment: %w", err)
	}
	r.f, r.seg, r.off = f, seg, off
	return nil
}

// corrupt handles bytes that are not a record inside the durable part of a
// segment (damage after it was written): the rest of a sealed segment is
// skipped and the loss logged; in the segment being written nothing can be
// skipped to, so the error is returned.
func (r *Reader) corrupt(seg *segment, err error) error {
	r.s.mu.Lock()
	sealed, end := seg.sealed, seg.end
	r.s.mu.Unlock()
	if !sealed {
		return fmt.Errorf("log spool segment %s is damaged at record %d: %w", seg.path, r.pos, err)
	}
	r.s.log.Error("LOG SPOOL DAMAGED: skipping the rest of a segment", "consumer", r.c.name, "segment", seg.path,
		"record", r.pos, "entries_skipped", end-r.pos, "error", err)
	r.pos = end
	r.closeFile()
	r.s.mu.Lock()
	r.c.readPos = max(r.c.readPos, end)
	r.s.mu.Unlock()
	return nil
}

func (r *Reader) closeFile() {
	if r.f != nil {
		_ = r.f.Close()
	}
	r.f, r.seg, r.off = nil, nil, 0
}

// Wait blocks until a record at or past the reader's position is durable,
// ctx ends (its error) or the spool closes (ErrClosed).
func (r *Reader) Wait(ctx context.Context) error {
	for {
		r.s.mu.Lock()
		if r.s.closed {
			r.s.mu.Unlock()
			return ErrClosed
		}
		if r.s.next > r.pos || r.c.readPos > r.pos {
			r.s.mu.Unlock()
			return nil
		}
		ch := r.s.changed
		r.s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Commit acknowledges every record below next: the consumer is done with
// them. The cursor reaches the disk within CursorSyncInterval, or at Sync
// or Close.
func (r *Reader) Commit(next uint64) {
	r.s.mu.Lock()
	if next > r.c.acked {
		r.c.acked = next
	}
	r.s.mu.Unlock()
}

// Acked returns the reader's acknowledged position.
func (r *Reader) Acked() uint64 {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.c.acked
}

// Sync writes every acknowledged cursor of the spool to disk now.
func (r *Reader) Sync() error { return r.s.syncCursors() }

// Close releases the reader's file; the cursor stays.
func (r *Reader) Close() { r.closeFile() }
