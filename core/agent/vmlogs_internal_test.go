package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/internal/wait"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

func newTestShipper(t *testing.T, b backend.Backend, dir string) *logShipper {
	t.Helper()
	sh, err := newLogShipper(b, dir, logTiming{linger: DefaultQEMULogLinger, scan: DefaultQEMULogScanInterval, retry: DefaultQEMULogRetryBackoff}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// queueLines queues n lines of VM id, offsets following on from off.
func queueLines(t *testing.T, sh *logShipper, id string, n int, off int64) int64 {
	t.Helper()
	sh.mu.Lock()
	if sh.vms[id] == nil {
		sh.vms[id] = &vmLog{}
	}
	sh.mu.Unlock()
	for i := range n {
		text := fmt.Sprintf("line %d", i)
		off += int64(len(text) + 1)
		if err := sh.enqueue(context.Background(), id, backend.LogLine{Text: text, Offset: off, Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	return off
}

func (sh *logShipper) ackedOf(id string) logPos {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.vms[id].acked
}

// TestShipperBatches: batches are cut by count, wait for more lines while
// young, stop at the window; an answer removes its lines once the batches
// before it are answered; a failed batch goes again after a pause; answers
// of an earlier session are ignored.
func TestShipperBatches(t *testing.T) {
	sh := newTestShipper(t, nil, "")
	end := queueLines(t, sh, idA, 1200, 0)
	tok := sh.attach()
	now := time.Now()
	b1, _ := sh.take(tok, 1, now)
	b2, _ := sh.take(tok, 2, now)
	if len(b1.GetLines()) != maxBatchLines || len(b2.GetLines()) != maxBatchLines {
		t.Fatalf("batches of %d and %d lines; want %d", len(b1.GetLines()), len(b2.GetLines()), maxBatchLines)
	}
	if b, wait := sh.take(tok, 3, now); b != nil || wait <= 0 || wait > batchDelay {
		t.Fatalf("a young batch not full: %d lines, wait %s; want to wait up to %s", len(b.GetLines()), wait, batchDelay)
	}
	b3, _ := sh.take(tok, 3, now.Add(batchDelay))
	if len(b3.GetLines()) != 200 || b3.GetLines()[199].GetOffset() != end {
		t.Fatalf("third batch: %d lines", len(b3.GetLines()))
	}

	sh.ack(tok, &agentv1.LogAck{Id: 2})
	if got := sh.ackedOf(idA); got != (logPos{}) {
		t.Errorf("batch 2 answered before batch 1 moved the offset to %+v", got)
	}
	sh.ack(tok, &agentv1.LogAck{Id: 1})
	if got, want := sh.ackedOf(idA).Offset, b2.GetLines()[maxBatchLines-1].GetOffset(); got != want {
		t.Errorf("offset after batches 1 and 2: %d, want %d", got, want)
	}
	sh.ack(tok, &agentv1.LogAck{Id: 3, Error: "spool unavailable"})
	if b, wait := sh.take(tok, 4, time.Now()); b != nil || wait < 900*time.Millisecond {
		t.Fatalf("right after a failed batch: %v, wait %s; want a pause of about 1s", b, wait)
	}
	b4, _ := sh.take(tok, 4, time.Now().Add(2*time.Second))
	if len(b4.GetLines()) != 200 || b4.GetLines()[0].GetText() != b3.GetLines()[0].GetText() {
		t.Fatalf("the failed batch sent again: %d lines", len(b4.GetLines()))
	}

	next := sh.attach()
	sh.ack(tok, &agentv1.LogAck{Id: 4})
	if got := sh.ackedOf(idA).Offset; got == end {
		t.Error("the answer of an earlier session was taken")
	}
	b5, _ := sh.take(next, 1, time.Now().Add(time.Hour))
	sh.ack(next, &agentv1.LogAck{Id: b5.GetId()})
	if got := sh.ackedOf(idA).Offset; got != end || len(sh.queue) != 0 || sh.bytes != 0 {
		t.Errorf("after the last answer: offset %d (want %d), %d lines and %d bytes queued", got, end, len(sh.queue), sh.bytes)
	}
}

// TestShipperRetryBackoff: the pause after a failed batch starts at the
// configured retry backoff and doubles with each failure in a row.
func TestShipperRetryBackoff(t *testing.T) {
	const retry = 50 * time.Millisecond
	sh, err := newLogShipper(nil, "", logTiming{linger: DefaultQEMULogLinger, scan: DefaultQEMULogScanInterval, retry: retry}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	queueLines(t, sh, idA, 10, 0)
	tok := sh.attach()
	later := time.Now().Add(time.Hour)
	for i, want := range []time.Duration{retry, 2 * retry, 4 * retry} {
		id := uint64(i + 1)
		b, _ := sh.take(tok, id, later)
		if b == nil {
			t.Fatalf("failure %d: no batch to send", i+1)
		}
		sh.ack(tok, &agentv1.LogAck{Id: id, Error: "spool unavailable"})
		if b, wait := sh.take(tok, id+1, time.Now()); b != nil || wait <= want/2 || wait > want {
			t.Errorf("after failure %d: batch %v, wait %s; want a pause of %s", i+1, b, wait, want)
		}
	}
}

// TestShipperWindow: no more than logWindow batches await an answer, and
// a batch stops short of maxBatchBytes.
func TestShipperWindow(t *testing.T) {
	sh := newTestShipper(t, nil, "")
	sh.vms[idA] = &vmLog{}
	long := string(make([]byte, maxBatchBytes/2))
	var off int64
	for range 2*logWindow + 1 {
		off += int64(len(long) + 1)
		if err := sh.enqueue(context.Background(), idA, backend.LogLine{Text: long, Offset: off}); err != nil {
			t.Fatal(err)
		}
	}
	tok := sh.attach()
	later := time.Now().Add(time.Hour)
	for id := uint64(1); id <= logWindow; id++ {
		b, _ := sh.take(tok, id, later)
		if len(b.GetLines()) != 2 {
			t.Fatalf("batch %d has %d lines of %d bytes; want 2", id, len(b.GetLines()), len(long))
		}
	}
	if b, wait := sh.take(tok, logWindow+1, later); b != nil || wait != 0 {
		t.Errorf("a batch beyond the window: %v", b)
	}
	sh.ack(tok, &agentv1.LogAck{Id: 1})
	if b, _ := sh.take(tok, logWindow+1, later); b == nil {
		t.Error("no batch once the window has room")
	}
}

// TestShipperGenerations: a reopened log, or one whose lines end no
// further than before, starts a new generation; texts are mended and cut.
func TestShipperGenerations(t *testing.T) {
	sh := newTestShipper(t, nil, "")
	sh.vms[idA] = &vmLog{}
	ctx := context.Background()
	for _, l := range []backend.LogLine{
		{Text: "a", Offset: 10}, {Text: "b", Offset: 20}, {Text: "c", Offset: 5, Reopened: true},
		{Text: "d", Offset: 3}, {Text: "bad \xff", Offset: 30}, {Text: string(make([]byte, maxLineBytes+10)), Offset: maxLineBytes + 50},
	} {
		if err := sh.enqueue(ctx, idA, l); err != nil {
			t.Fatal(err)
		}
	}
	want := []uint32{0, 0, 1, 2, 2, 2}
	for i, q := range sh.queue {
		if q.pos.Generation != want[i] {
			t.Errorf("line %d (%q at %d) is of generation %d, want %d", i, q.line.Text, q.line.Offset, q.pos.Generation, want[i])
		}
	}
	if sh.queue[4].line.Text != "bad \uFFFD" || len(sh.queue[5].line.Text) != maxLineBytes {
		t.Errorf("texts: %q, %d bytes", sh.queue[4].line.Text, len(sh.queue[5].line.Text))
	}
}

// TestShipperBackpressure: a full queue holds the follower back until an
// answer makes room.
func TestShipperBackpressure(t *testing.T) {
	sh := newTestShipper(t, nil, "")
	off := queueLines(t, sh, idA, maxQueuedLines, 0)
	done := make(chan error, 1)
	go func() {
		done <- sh.enqueue(context.Background(), idA, backend.LogLine{Text: "one more", Offset: off + 9})
	}()
	// Once it says it waits, it waits for an answer to make room.
	wait.Until(t, 5*time.Second, "the follower waiting for room", func() bool {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		return sh.vms[idA].waiting
	})
	select {
	case err := <-done:
		t.Fatalf("a line was queued into a full queue (%v)", err)
	default:
	}
	tok := sh.attach()
	b, _ := sh.take(tok, 1, time.Now())
	sh.ack(tok, &agentv1.LogAck{Id: b.GetId()})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the follower is still held back after an answer made room")
	}
	ctx, cancel := context.WithCancel(context.Background())
	queueLines(t, sh, idB, maxQueuedLines-len(sh.queue), 0)
	go func() { done <- sh.enqueue(ctx, idB, backend.LogLine{Text: "x", Offset: 1 << 30}) }()
	cancel()
	if err := <-done; err == nil {
		t.Error("a follower held back returned nil when its context ended")
	}
}

// streamer is a backend whose StreamLog blocks until its context ends,
// recording where each stream started.
type streamer struct {
	backend.Backend
	mu     sync.Mutex
	starts map[string][]int64
	open   map[string]int
}

func (s *streamer) StreamLog(ctx context.Context, id string, offset int64, _ func(backend.LogLine) error) error {
	s.mu.Lock()
	s.starts[id] = append(s.starts[id], offset)
	s.open[id]++
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	s.open[id]--
	s.mu.Unlock()
	return nil
}

func (s *streamer) state(id string) (starts []int64, open int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.starts[id]...), s.open[id]
}

// TestShipperScan: a running VM's log is followed from its acknowledged
// offset, still for its linger after it stopped, then not; a stopped VM with
// a known offset is followed once at start; the offsets of VMs gone are
// forgotten; offsets are saved and loaded.
func TestShipperScan(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, offsetsFile), []byte(`{"vms":{"`+idA+`":{"offset":42},"`+idC+`":{"offset":7}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &streamer{starts: map[string][]int64{}, open: map[string]int{}}
	sh := newTestShipper(t, b, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waitOpen := func(id string, want int) {
		t.Helper()
		wait.UntilNil(t, 5*time.Second, fmt.Sprintf("%d streams of vm %s open", want, id), func() error {
			if _, open := b.state(id); open != want {
				return fmt.Errorf("%d open", open)
			}
			return nil
		})
	}
	t0 := time.Now()
	states := map[string]backend.PowerState{idA: backend.StateRunning, idB: backend.StateStopped, idC: backend.StateStopped}
	sh.scan(ctx, states, false, false, t0)
	waitOpen(idA, 1)
	if starts, _ := b.state(idA); starts[0] != 42 {
		t.Errorf("the log of a running vm followed from %v, want its offset 42", starts)
	}
	sh.scan(ctx, states, true, true, t0)
	waitOpen(idC, 1)
	if _, open := b.state(idB); open != 0 {
		t.Error("the log of a stopped vm never sent from is followed")
	}

	states[idA] = backend.StateStopped
	sh.scan(ctx, states, true, false, t0.Add(time.Second))
	sh.scan(ctx, states, true, false, t0.Add(time.Second+sh.timing.linger-time.Millisecond))
	waitOpen(idA, 1)
	sh.scan(ctx, states, true, false, t0.Add(time.Second+sh.timing.linger))
	waitOpen(idA, 0)
	waitOpen(idC, 0)

	delete(states, idC)
	// The follower of C ends on its own: the scan after it has clears it.
	wait.Until(t, 5*time.Second, "the offset of a vm gone from the host forgotten", func() bool {
		sh.scan(ctx, states, true, false, t0.Add(2*sh.timing.linger))
		sh.mu.Lock()
		defer sh.mu.Unlock()
		_, kept := sh.vms[idC]
		return !kept
	})
	if err := sh.save(); err != nil {
		t.Fatal(err)
	}
	again := newTestShipper(t, b, dir)
	if len(again.vms) != 1 || again.vms[idA].acked.Offset != 42 {
		t.Errorf("offsets loaded after a save: %+v", again.vms)
	}
	sh.stopAll()
}

// TestShipperWaitingFollowerNotQuiet: a stopped VM's follower waiting for
// room in a full queue with a line in hand is not ended however long the
// wait lasts, so that its last lines are not left unread.
func TestShipperWaitingFollowerNotQuiet(t *testing.T) {
	b := &streamer{starts: map[string][]int64{}, open: map[string]int{}}
	sh := newTestShipper(t, b, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer sh.stopAll()
	openStreams := func() int { _, open := b.state(idA); return open }
	t0 := time.Now()
	states := map[string]backend.PowerState{idA: backend.StateRunning}
	sh.scan(ctx, states, true, false, t0)
	wait.Until(t, 5*time.Second, "the running vm's log followed", func() bool { return openStreams() == 1 })
	sh.mu.Lock()
	for len(sh.queue) < maxQueuedLines {
		sh.queue = append(sh.queue, queuedLine{vmID: idB, line: backend.LogLine{Text: "x"}})
	}
	sh.mu.Unlock()
	queued := make(chan error, 1)
	go func() { queued <- sh.enqueue(ctx, idA, backend.LogLine{Text: "shutting down", Offset: 100}) }()
	wait.Until(t, 5*time.Second, "enqueue into a full queue saying it waits", func() bool {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		return sh.vms[idA].waiting
	})
	states[idA] = backend.StateStopped
	sh.scan(ctx, states, true, false, t0.Add(time.Second))
	sh.scan(ctx, states, true, false, t0.Add(time.Second+10*sh.timing.linger))
	if sh.vms[idA].stop == nil {
		t.Fatal("the follower of a stopped vm was ended while it waited for room with a line in hand")
	}
	sh.mu.Lock()
	sh.queue = sh.queue[:0]
	close(sh.space)
	sh.space = make(chan struct{})
	sh.mu.Unlock()
	if err := <-queued; err != nil {
		t.Fatal(err)
	}
	sh.scan(ctx, states, true, false, time.Now().Add(2*sh.timing.linger))
	if sh.vms[idA].stop != nil {
		t.Error("the follower is not ended once its line is queued and the log has been quiet")
	}
}

// goneStreamer is a backend whose VMs are all deleted: StreamLog fails with
// a not-found error, counting its calls.
type goneStreamer struct {
	backend.Backend
	mu    sync.Mutex
	calls int
}

func (g *goneStreamer) StreamLog(context.Context, string, int64, func(backend.LogLine) error) error {
	g.mu.Lock()
	g.calls++
	g.mu.Unlock()
	return plugin.NotFound("following the log of vm %s: the vm was deleted", idA)
}

// TestShipperFollowerEndsWhenVMGone: a follower whose stream says the VM is
// gone ends by itself rather than following the log again (the log may be
// another VM's now), and the next scan clears it.
func TestShipperFollowerEndsWhenVMGone(t *testing.T) {
	b := &goneStreamer{}
	sh := newTestShipper(t, b, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer sh.stopAll()
	sh.scan(ctx, map[string]backend.PowerState{idA: backend.StateRunning}, true, false, time.Now())
	sh.mu.Lock()
	done := sh.vms[idA].done
	sh.mu.Unlock()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the follower of a vm gone still runs")
	}
	sh.scan(ctx, map[string]backend.PowerState{}, false, false, time.Now())
	sh.mu.Lock()
	v := sh.vms[idA]
	sh.mu.Unlock()
	if v == nil || v.stop != nil || v.done != nil {
		t.Error("the scan after the follower ended did not clear it")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.calls != 1 {
		t.Errorf("StreamLog called %d times, want once", b.calls)
	}
}
