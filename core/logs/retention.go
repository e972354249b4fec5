package logs

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/quantixvm/quantix/internal/fsutil"
)

// maintainer persists acknowledged cursors, removes the segments every
// consumer is done with and enforces the retention bounds, every
// CursorSyncInterval until Close.
func (s *Spool) maintainer() {
	defer close(s.maintain)
	t := time.NewTicker(s.opts.CursorSyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if err := s.syncCursors(); err != nil {
				s.log.Warn("log spool: persisting cursors", "error", err)
			}
			if err := s.removeConsumed(); err != nil {
				s.log.Warn("log spool: removing delivered segments", "error", err)
			}
			s.enforceBounds(now)
		}
	}
}

// syncCursors writes every cursor acknowledged past what its file holds.
func (s *Spool) syncCursors() error {
	s.cursorWrites.Lock()
	defer s.cursorWrites.Unlock()
	type write struct {
		c   *cursor
		seq uint64
	}
	var todo []write
	s.mu.Lock()
	for _, c := range s.cursors {
		if c.acked != c.persisted {
			todo = append(todo, write{c, c.acked})
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, w := range todo {
		if err := writeCursor(s.dir, w.c.name, w.seq); err != nil {
			errs = append(errs, err)
			continue
		}
		s.mu.Lock()
		w.c.persisted = w.seq
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// removeConsumed removes the sealed segments every consumer's persisted
// cursor is past.
func (s *Spool) removeConsumed() error {
	s.mu.Lock()
	low := s.next
	for _, c := range s.cursors {
		low = min(low, c.persisted)
	}
	var done []*segment
	for len(s.segs) > 1 && s.segs[0].sealed && s.segs[0].end <= low {
		done = append(done, s.segs[0])
		s.bytes -= s.segs[0].size
		s.segs = s.segs[1:]
	}
	s.mu.Unlock()
	if len(done) == 0 {
		return nil
	}
	var errs []error
	for _, seg := range done {
		if err := os.Remove(seg.path); err != nil && !os.IsNotExist(err) {
			errs = append(errs, fmt.Errorf("removing spool segment %s: %w", seg.path, err))
		}
	}
	if err := fsutil.SyncDir(s.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// enforceBounds discards the oldest sealed segments while the spool is
// over MaxBytes or they are older than MaxAge, whether or not every
// consumer got their records. What a consumer loses that way is logged at
// error level and reported to OnEvict; its cursor moves past the segment.
// The segment being written is never discarded.
func (s *Spool) enforceBounds(now time.Time) {
	for {
		s.mu.Lock()
		if len(s.segs) < 2 || !s.segs[0].sealed {
			s.mu.Unlock()
			return
		}
		seg := s.segs[0]
		reason := ""
		switch {
		case s.bytes > s.opts.MaxBytes:
			reason = ReasonMaxBytes
		case now.Sub(seg.modTime) > s.opts.MaxAge:
			reason = ReasonMaxAge
		}
		if reason == "" {
			s.mu.Unlock()
			return
		}
		ranges := map[string][2]uint64{}
		for name, c := range s.cursors {
			if from := max(c.readPos, seg.first); from < seg.end {
				ranges[name] = [2]uint64{from, seg.end}
			}
			c.readPos = max(c.readPos, seg.end)
			c.acked = max(c.acked, seg.end)
		}
		s.segs = s.segs[1:]
		s.bytes -= seg.size
		total := s.bytes
		s.mu.Unlock()
		s.evict(seg, reason, ranges, total)
	}
}

// evict counts what each consumer loses with seg, removes it, logs and
// reports it.
func (s *Spool) evict(seg *segment, reason string, ranges map[string][2]uint64, remaining int64) {
	ev := Eviction{Reason: reason, Segment: seg.path, Bytes: seg.size, Lost: map[string]map[byte]int{}}
	if len(ranges) > 0 {
		_, err := scanSegment(seg.path, seg.first, func(rec Record, _ int64) error {
			if rec.Tag == damagedTag {
				return nil // counted as damaged when found
			}
			for name, r := range ranges {
				if rec.Seq >= r[0] && rec.Seq < r[1] {
					if ev.Lost[name] == nil {
						ev.Lost[name] = map[byte]int{}
					}
					ev.Lost[name][rec.Tag]++
				}
			}
			return nil
		})
		if err != nil {
			s.log.Error("log spool: counting the entries of a discarded segment", "segment", seg.path, "error", err)
		}
	}
	bound := fmt.Sprintf("max_bytes %d", s.opts.MaxBytes)
	if reason == ReasonMaxAge {
		bound = fmt.Sprintf("max_age %s", s.opts.MaxAge)
	}
	lostAny := false
	for name, tags := range ev.Lost {
		n := 0
		for _, c := range tags {
			n += c
		}
		if n > 0 {
			lostAny = true
			s.log.Error("LOG SPOOL RETENTION BOUND CROSSED: discarded entries that were never delivered",
				"bound", bound, "consumer", name, "entries_lost", n, "segment", seg.path, "segment_bytes", seg.size, "spool_bytes", remaining)
		}
	}
	if !lostAny {
		s.log.Warn("log spool retention bound crossed: discarded a segment every consumer had already read", "bound", bound, "segment", seg.path, "segment_bytes", seg.size)
	}
	if s.opts.OnEvict != nil {
		s.opts.OnEvict(ev)
	}
	if err := os.Remove(seg.path); err != nil && !os.IsNotExist(err) {
		s.log.Error("log spool: removing a discarded segment", "segment", seg.path, "error", err)
	}
	if err := fsutil.SyncDir(s.dir); err != nil {
		s.log.Warn("log spool: syncing after discarding a segment", "error", err)
	}
}
