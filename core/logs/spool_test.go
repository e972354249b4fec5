package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/internal/wait"
)

// logBuffer collects a logger's output for checks.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func bufLogger(b *logBuffer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: b})
}

// openSpool opens a spool in dir with opts, closed when the test ends.
func openSpool(t testing.TB, dir string, opts SpoolOptions) *Spool {
	t.Helper()
	opts.Dir = dir
	if opts.Logger == nil {
		opts.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
	}
	s, err := OpenSpool(opts)
	if err != nil {
		t.Fatalf("OpenSpool: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func payloads(prefix string, from, n int) ([]byte, [][]byte) {
	tags := make([]byte, n)
	ps := make([][]byte, n)
	for i := range ps {
		tags[i] = byte((from + i) % 4)
		ps[i] = []byte(fmt.Sprintf("%s-%06d", prefix, from+i))
	}
	return tags, ps
}

func appendN(t testing.TB, s *Spool, prefix string, from, n int) uint64 {
	t.Helper()
	tags, ps := payloads(prefix, from, n)
	first, err := s.Append(context.Background(), tags, ps)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return first
}

// readAll reads what the reader has, without waiting.
func readAll(t testing.TB, r *Reader) []Record {
	t.Helper()
	var out []Record
	for {
		recs, err := r.Read(100, 1<<20)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
	}
}

func checkRecords(t testing.TB, recs []Record, prefix string, firstSeq uint64, from, n int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("read %d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		want := fmt.Sprintf("%s-%06d", prefix, from+i)
		if r.Seq != firstSeq+uint64(i) || string(r.Payload) != want || r.Tag != byte((from+i)%4) {
			t.Fatalf("record %d: seq %d tag %d %q, want seq %d tag %d %q", i, r.Seq, r.Tag, r.Payload, firstSeq+uint64(i), (from+i)%4, want)
		}
	}
}

func TestSpoolAppendReadAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{Consumers: []string{"a", "b"}, SegmentBytes: 1024, MaxBytes: 1 << 20})
	for i := 0; i < 50; i++ {
		if first := appendN(t, s, "x", i*10, 10); first != uint64(i*10) {
			t.Fatalf("append %d: first %d, want %d", i, first, i*10)
		}
	}
	st := s.Stats()
	if st.Segments < 5 || st.End != 500 {
		t.Fatalf("stats %+v: want several segments and end 500", st)
	}
	for _, name := range []string{"a", "b"} {
		r, err := s.Reader(name)
		if err != nil {
			t.Fatal(err)
		}
		checkRecords(t, readAll(t, r), "x", 0, 0, 500)
	}
}

func TestSpoolReadBoundsAndBigRecords(t *testing.T) {
	s := openSpool(t, t.TempDir(), SpoolOptions{Consumers: []string{"a"}})
	big := bytes.Repeat([]byte("z"), 3*readChunk)
	if _, err := s.Append(context.Background(), []byte{1, 2, 3}, [][]byte{[]byte("small"), big, []byte("after")}); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Reader("a")
	recs, err := r.Read(1, 1<<20)
	if err != nil || len(recs) != 1 || string(recs[0].Payload) != "small" {
		t.Fatalf("Read(1): %v %v", recs, err)
	}
	recs, err = r.Read(10, 10)
	if err != nil || len(recs) != 1 || !bytes.Equal(recs[0].Payload, big) {
		t.Fatalf("Read of a record over the byte budget: %d records, %v", len(recs), err)
	}
	recs, err = r.Read(10, 10)
	if err != nil || len(recs) != 1 || string(recs[0].Payload) != "after" || recs[0].Seq != 2 {
		t.Fatalf("Read after the big record: %v %v", recs, err)
	}
}

func TestSpoolGroupCommit(t *testing.T) {
	s := openSpool(t, t.TempDir(), SpoolOptions{Consumers: []string{"a"}})
	const workers, per = 40, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				tags, ps := payloads(fmt.Sprintf("w%02d", w), i, 1)
				if _, err := s.Append(context.Background(), tags, ps); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.End != workers*per {
		t.Fatalf("end %d, want %d", st.End, workers*per)
	}
	if st.Syncs > workers*per/2 {
		t.Errorf("%d fsyncs for %d concurrent appends: appends are not grouped", st.Syncs, workers*per)
	}
	t.Logf("%d appends, %d group commits", workers*per, st.Syncs)
	r, _ := s.Reader("a")
	seen := map[string]bool{}
	for _, rec := range readAll(t, r) {
		seen[string(rec.Payload)] = true
	}
	if len(seen) != workers*per {
		t.Fatalf("read %d distinct records, want %d", len(seen), workers*per)
	}
}

// TestSpoolAcknowledgedIsOnDisk: when Append returns, its records are in
// the segment file, whole.
func TestSpoolAcknowledgedIsOnDisk(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{Consumers: []string{"a"}})
	appendN(t, s, "d", 0, 7)
	res, err := scanSegment(filepath.Join(dir, segmentName(0)), 0, nil)
	if err != nil || res.torn != nil || res.next != 7 {
		t.Fatalf("segment after Append: %+v, %v; want 7 whole records", res, err)
	}
}

func TestSpoolCursorsPersistAndRedeliver(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{Consumers: []string{"a", "b"}})
	appendN(t, s, "c", 0, 30)
	ra, _ := s.Reader("a")
	recs, _ := ra.Read(10, 1<<20)
	ra.Commit(recs[len(recs)-1].Seq + 1)
	// Read further without acknowledging: after a restart these come again.
	if more, _ := ra.Read(5, 1<<20); len(more) != 5 {
		t.Fatalf("read %d, want 5", len(more))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openSpool(t, dir, SpoolOptions{Consumers: []string{"a", "b"}})
	ra, _ = s.Reader("a")
	checkRecords(t, readAll(t, ra), "c", 10, 10, 20)
	rb, _ := s.Reader("b")
	checkRecords(t, readAll(t, rb), "c", 0, 0, 30)
	if st := s.Stats(); st.Lag["a"] != 20 || st.Lag["b"] != 30 {
		t.Fatalf("lag %v, want a=20 b=30", st.Lag)
	}
}

func TestSpoolConsumersAddedAndRemoved(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{Consumers: []string{"old"}})
	appendN(t, s, "n", 0, 5)
	_ = s.Close()
	s = openSpool(t, dir, SpoolOptions{Consumers: []string{"new"}})
	if _, err := os.Stat(cursorPath(dir, "old")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cursor of a consumer no longer named is still there: %v", err)
	}
	r, _ := s.Reader("new")
	if got := readAll(t, r); len(got) != 0 {
		t.Fatalf("a new consumer got %d old records; it starts at the end", len(got))
	}
	appendN(t, s, "n", 5, 3)
	checkRecords(t, readAll(t, r), "n", 5, 5, 3)
	if _, err := s.Reader("nobody"); err == nil {
		t.Error("Reader of an unknown consumer: no error")
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden"} {
		if _, err := OpenSpool(SpoolOptions{Dir: t.TempDir(), Consumers: []string{bad}}); err == nil {
			t.Errorf("consumer name %q accepted", bad)
		}
	}
	if _, err := OpenSpool(SpoolOptions{Dir: t.TempDir(), Consumers: []string{"a", "a"}}); err == nil {
		t.Error("a consumer named twice was accepted")
	}
}

// TestSpoolTornTail: whatever a crash leaves after the last whole record
// is cut off at open, the records before it are all there, and appending
// goes on with the next number.
func TestSpoolTornTail(t *testing.T) {
	whole := appendRecord(nil, 20, 1, []byte("never-acknowledged"))
	cases := []struct {
		name string
		tail []byte
	}{
		{"half a header", whole[:9]},
		{"half a payload", whole[:len(whole)-5]},
		{"bad checksum", append(append([]byte{}, whole[:len(whole)-1]...), whole[len(whole)-1]^0xff)},
		{"preallocated zeros", make([]byte, 64)},
		{"wrong sequence number", appendRecord(nil, 99, 1, []byte("stale"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openSpool(t, dir, SpoolOptions{Consumers: []string{"a"}})
			appendN(t, s, "t", 0, 20)
			_ = s.Close()
			path := filepath.Join(dir, segmentName(0))
			clean, _ := os.Stat(path)
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = f.Write(tc.tail)
			_ = f.Close()

			var logs logBuffer
			s = openSpool(t, dir, SpoolOptions{Consumers: []string{"a"}, Logger: bufLogger(&logs)})
			if fi, _ := os.Stat(path); fi.Size() != clean.Size() {
				t.Errorf("segment is %d bytes after recovery, want %d (the torn tail cut off)", fi.Size(), clean.Size())
			}
			if !strings.Contains(logs.String(), "cutting off an incomplete record") {
				t.Errorf("recovery was not logged: %s", logs.String())
			}
			if first := appendN(t, s, "t", 20, 5); first != 20 {
				t.Fatalf("first append after recovery got %d, want 20", first)
			}
			r, _ := s.Reader("a")
			checkRecords(t, readAll(t, r), "t", 0, 0, 25)
		})
	}
}

// TestSpoolTornHeaderOfNewSegment: a crash while a segment was being
// created leaves a file without its header; it is started again.
func TestSpoolTornHeaderOfNewSegment(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{Consumers: []string{"a"}})
	appendN(t, s, "h", 0, 4)
	_ = s.Close()
	if err := os.WriteFile(filepath.Join(dir, segmentName(4)), []byte("QXS"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openSpool(t, dir, SpoolOptions{Consumers: []string{"a"}})
	if first := appendN(t, s, "h", 4, 2); first != 4 {
		t.Fatalf("first append got %d, want 4", first)
	}
	r, _ := s.Reader("a")
	checkRecords(t, readAll(t, r), "h", 0, 0, 6)
}

func TestSpoolWait(t *testing.T) {
	s := openSpool(t, t.TempDir(), SpoolOptions{Consumers: []string{"a"}})
	r, _ := s.Reader("a")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on an empty spool: %v, want a timeout", err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Wait(context.Background()) }()
	wait.Stays(t, 20*time.Millisecond, "Wait to block with nothing appended", func() bool { return len(done) == 0 })
	appendN(t, s, "w", 0, 1)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not wake up on Append")
	}
	readAll(t, r)
	go func() { done <- r.Wait(context.Background()) }()
	wait.Stays(t, 20*time.Millisecond, "Wait to block with everything read", func() bool { return len(done) == 0 })
	_ = s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not wake up on Close")
	}
	if _, err := s.Append(context.Background(), []byte{0}, [][]byte{[]byte("late")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
}

// TestSpoolRemovesDeliveredSegments: sealed segments every consumer has
// acknowledged are removed.
func TestSpoolRemovesDeliveredSegments(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{Consumers: []string{"a"}, SegmentBytes: 512, MaxBytes: 1 << 20, CursorSyncInterval: 10 * time.Millisecond})
	for i := 0; i < 20; i++ {
		appendN(t, s, "r", i*5, 5)
	}
	if s.Stats().Segments < 4 {
		t.Fatalf("%d segments, want several", s.Stats().Segments)
	}
	r, _ := s.Reader("a")
	recs := readAll(t, r)
	r.Commit(recs[len(recs)-1].Seq + 1)
	wait.Until(t, settle, "delivered segments to be removed", func() bool { return s.Stats().Segments == 1 })
	if got, _, _ := readCursor(dir, "a"); got != 100 {
		t.Fatalf("persisted cursor %d, want 100", got)
	}
}

func TestSpoolMaxBytes(t *testing.T) {
	var logs logBuffer
	var mu sync.Mutex
	var evs []Eviction
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{
		Consumers: []string{"slow", "fast"}, SegmentBytes: 1024, MaxBytes: 4096, CursorSyncInterval: 10 * time.Millisecond,
		Logger:  bufLogger(&logs),
		OnEvict: func(ev Eviction) { mu.Lock(); evs = append(evs, ev); mu.Unlock() },
	})
	fast, _ := s.Reader("fast")
	for i := 0; i < 40; i++ {
		appendN(t, s, "m", i*10, 10)
		fast.Commit(readAll(t, fast)[9].Seq + 1)
	}
	wait.Until(t, settle, "the spool to shrink under max_bytes", func() bool { return s.Stats().Bytes <= 4096 && segmentFiles(t, dir) == s.Stats().Segments })
	mu.Lock()
	lostSlow, lostFast := 0, 0
	for _, ev := range evs {
		if ev.Reason != ReasonMaxBytes {
			t.Errorf("eviction reason %q, want %q", ev.Reason, ReasonMaxBytes)
		}
		for _, n := range ev.Lost["slow"] {
			lostSlow += n
		}
		for _, n := range ev.Lost["fast"] {
			lostFast += n
		}
	}
	mu.Unlock()
	if lostSlow == 0 || lostFast != 0 {
		t.Fatalf("lost: slow %d, fast %d; want some for the consumer that never read, none for the other", lostSlow, lostFast)
	}
	if !strings.Contains(logs.String(), "RETENTION BOUND CROSSED") || !strings.Contains(logs.String(), "consumer=slow") {
		t.Errorf("the loss was not logged loudly:\n%s", logs.String())
	}
	slow, _ := s.Reader("slow")
	recs := readAll(t, slow)
	if len(recs)+lostSlow != 400 {
		t.Fatalf("slow consumer: read %d + lost %d, want 400 in all", len(recs), lostSlow)
	}
	if recs[len(recs)-1].Seq != 399 {
		t.Fatalf("slow consumer ends at %d, want 399", recs[len(recs)-1].Seq)
	}
}

func TestSpoolMaxAge(t *testing.T) {
	var mu sync.Mutex
	lost := 0
	dir := t.TempDir()
	s := openSpool(t, dir, SpoolOptions{
		Consumers: []string{"a"}, SegmentBytes: 256, MaxAge: 100 * time.Millisecond, CursorSyncInterval: 10 * time.Millisecond,
		OnEvict: func(ev Eviction) {
			mu.Lock()
			defer mu.Unlock()
			if ev.Reason == ReasonMaxAge {
				for _, n := range ev.Lost["a"] {
					lost += n
				}
			}
		},
	})
	for i := 0; i < 10; i++ {
		appendN(t, s, "g", i*5, 5)
	}
	wait.Until(t, settle, "old segments to be discarded", func() bool { return segmentFiles(t, dir) == 1 })
	r, _ := s.Reader("a")
	recs := readAll(t, r)
	mu.Lock()
	defer mu.Unlock()
	if lost == 0 || lost+len(recs) != 50 {
		t.Fatalf("lost %d, read %d: want some lost and 50 in all", lost, len(recs))
	}
}

func TestSpoolOptions(t *testing.T) {
	if _, err := OpenSpool(SpoolOptions{}); err == nil {
		t.Error("no directory: no error")
	}
	if _, err := OpenSpool(SpoolOptions{Dir: t.TempDir(), SegmentBytes: 1000, MaxBytes: 1500}); err == nil {
		t.Error("max bytes under two segments: no error")
	}
	s := openSpool(t, t.TempDir(), SpoolOptions{})
	if _, err := s.Append(context.Background(), []byte{1}, nil); err == nil {
		t.Error("tags and payloads of different lengths: no error")
	}
}

// settle bounds every wait for the spool's and the pipeline's background
// work (delivery, retention, cursor syncs).
const settle = 10 * time.Second

// segmentFiles counts the segment files in dir.
func segmentFiles(t testing.TB, dir string) int {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(segs)
}

// damage flips a byte of the payload want in the spool's segment files.
func damage(t *testing.T, dir string, want []byte) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if i := bytes.Index(b, want); i >= 0 {
			b[i+len(want)-1] ^= 0xff
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no segment file holds %q", want)
}

// TestSpoolDamagedSealedSegment: a record damaged in a sealed segment
// loses only that segment's rest: the records before it are still read,
// in order, and reading goes on in the next segment without an error,
// whether the damaged record is small or bigger than a read chunk.
func TestSpoolDamagedSealedSegment(t *testing.T) {
	for _, big := range []bool{false, true} {
		t.Run(fmt.Sprintf("big=%v", big), func(t *testing.T) {
			dir := t.TempDir()
			logs := &logBuffer{}
			s := openSpool(t, dir, SpoolOptions{Consumers: []string{"a"}, SegmentBytes: 4 * readChunk, MaxBytes: 1 << 30, Logger: bufLogger(logs)})
			appendN(t, s, "good", 0, 10)
			victim := []byte("victim-payload")
			if big {
				victim = append(bytes.Repeat([]byte("v"), 2*readChunk), victim...)
			}
			if _, err := s.Append(context.Background(), []byte{1}, [][]byte{victim}); err != nil {
				t.Fatal(err)
			}
			// Fill the segment past its size so that it is sealed.
			appendN(t, s, "lost", 0, 1)
			for s.Stats().Segments < 2 {
				if _, err := s.Append(context.Background(), []byte{1}, [][]byte{bytes.Repeat([]byte("f"), readChunk)}); err != nil {
					t.Fatal(err)
				}
			}
			next := appendN(t, s, "next", 0, 3)
			damage(t, dir, victim)

			r, _ := s.Reader("a")
			var got []string
			for range 100 {
				recs, err := r.Read(1000, 64<<20)
				if err != nil {
					t.Fatalf("Read after %d records: %v", len(got), err)
				}
				if len(recs) == 0 {
					break
				}
				for _, rec := range recs {
					if rec.Seq >= next || strings.HasPrefix(string(rec.Payload), "good") {
						got = append(got, string(rec.Payload))
					}
				}
			}
			want := []string{"good-000000", "good-000001", "good-000002", "good-000003", "good-000004", "good-000005",
				"good-000006", "good-000007", "good-000008", "good-000009", "next-000000", "next-000001", "next-000002"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("read %v, want %v", got, want)
			}
			if !strings.Contains(logs.String(), "LOG SPOOL DAMAGED") {
				t.Errorf("the damage was not logged:\n%s", logs)
			}
		})
	}
}
