package eventhub_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/backend/eventhub"
)

// within bounds every wait of these tests.
const within = 10 * time.Second

// recorder is one Watch call and what it delivered.
type recorder struct {
	mu     sync.Mutex
	events []backend.Event
	done   chan error
	cancel context.CancelFunc
}

func (r *recorder) got() []backend.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// watch starts a Watch call whose fn records each event after calling
// before (when not nil), and waits until it is subscribed.
func watch(t *testing.T, h *eventhub.Hub, before func(backend.Event)) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &recorder{done: make(chan error, 1), cancel: cancel}
	n := h.Subscribers()
	go func() {
		r.done <- h.Watch(ctx, func(ev backend.Event) error {
			if before != nil {
				before(ev)
			}
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
			return nil
		})
	}()
	wait.Until(t, within, "the Watch call to subscribe", func() bool { return h.Subscribers() > n })
	return r
}

// waitCount waits until r recorded n events and returns them.
func (r *recorder) waitCount(t *testing.T, n int) []backend.Event {
	t.Helper()
	return wait.Value(t, within, fmt.Sprintf("%d events", n), func() ([]backend.Event, bool) {
		got := r.got()
		return got, len(got) >= n
	})
}

// returned waits for the Watch call to return and gives its error.
func (r *recorder) returned(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(within):
		t.Fatalf("Watch did not return within %s", within)
		return nil
	}
}

func numbered(i int) backend.Event {
	return backend.Event{Type: backend.EventStateChanged, VMID: fmt.Sprintf("vm-%d", i), State: backend.StateRunning}
}

func names(evs []backend.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.VMID
		if ev.Type == backend.EventResync {
			out[i] = "resync"
		}
	}
	return out
}

// TestConcurrentSubscribers publishes from several goroutines to several
// subscribers: each gets every event, and all get them in the same order.
func TestConcurrentSubscribers(t *testing.T) {
	const subscribers, publishers, each = 6, 4, 300
	h := eventhub.New(publishers * each)
	defer h.Close()
	recs := make([]*recorder, subscribers)
	for i := range recs {
		recs[i] = watch(t, h, nil)
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				h.Publish(numbered(p*each + i))
			}
		}()
	}
	wg.Wait()
	first := recs[0].waitCount(t, publishers*each)
	seen := map[string]bool{}
	for _, ev := range first {
		if ev.Type != backend.EventStateChanged || seen[ev.VMID] {
			t.Fatalf("subscriber 0 got %s twice or a resync without an overflow", ev.VMID)
		}
		if ev.Time.IsZero() {
			t.Errorf("event %s has no time; Publish must set it", ev.VMID)
		}
		seen[ev.VMID] = true
	}
	if len(first) != publishers*each {
		t.Fatalf("subscriber 0 got %d events, want %d", len(first), publishers*each)
	}
	for i, r := range recs[1:] {
		if got := r.waitCount(t, publishers*each); !slices.Equal(names(got), names(first)) {
			t.Errorf("subscriber %d got the events in another order than subscriber 0 (or other events)", i+1)
		}
	}
	for i, r := range recs {
		r.cancel()
		if err := r.returned(t); err != nil {
			t.Errorf("subscriber %d: Watch after cancel = %v, want nil", i, err)
		}
	}
}

// TestOverflowResync blocks one subscriber while events overflow its
// buffer: the publisher and another subscriber go on, and the blocked one
// then gets a single resync in place of what it could not hold, followed by
// newer events only.
func TestOverflowResync(t *testing.T) {
	const buffer = 4
	h := eventhub.New(buffer)
	defer h.Close()
	fast := watch(t, h, nil)
	slow, entered, release := blocked(t, h, "vm-0")

	// vm-0 blocks the slow subscriber in fn. Then batches of half a
	// buffer, each taken by the fast subscriber before the next: it must
	// get every one while the slow one overflows at vm-5 and drops what
	// follows until it takes its resync.
	h.Publish(numbered(0))
	<-entered
	fast.waitCount(t, 1)
	for i := 1; i <= 9; i++ {
		h.Publish(numbered(i))
		if i%(buffer/2) == 0 {
			fast.waitCount(t, i+1)
		}
	}
	release <- struct{}{}
	wait.Until(t, within, "the slow subscriber to take the resync", func() bool { return len(slow.got()) >= 2 })
	h.Publish(numbered(10))

	want := []string{"vm-0", "vm-1", "vm-2", "vm-3", "vm-4", "vm-5", "vm-6", "vm-7", "vm-8", "vm-9", "vm-10"}
	if got := names(fast.waitCount(t, len(want))); !slices.Equal(got, want) {
		t.Errorf("fast subscriber got %v, want %v", got, want)
	}
	want = []string{"vm-0", "resync", "vm-10"}
	if got := names(slow.waitCount(t, len(want))); !slices.Equal(got, want) {
		t.Errorf("slow subscriber got %v, want %v: the stale buffer must give way to one resync", got, want)
	}
	wait.Stays(t, 50*time.Millisecond, "the slow subscriber getting nothing more", func() bool { return len(slow.got()) == len(want) })
}

// blocked starts a Watch call whose fn blocks on each event named in at:
// entered receives when fn has one, and release lets fn go on.
func blocked(t *testing.T, h *eventhub.Hub, at ...string) (r *recorder, entered, release chan struct{}) {
	t.Helper()
	entered, release = make(chan struct{}), make(chan struct{})
	r = watch(t, h, func(ev backend.Event) {
		if slices.Contains(at, ev.VMID) {
			entered <- struct{}{}
			<-release
		}
	})
	return r, entered, release
}

// TestOverflowAgain checks that a subscriber gets events again once it took
// its resync, and that it can overflow again.
func TestOverflowAgain(t *testing.T) {
	const buffer = 4
	h := eventhub.New(buffer)
	defer h.Close()
	slow, entered, release := blocked(t, h, "vm-0", "vm-6")
	// vm-0 blocks fn; vm-1..vm-4 fill the buffer, vm-5 overflows it.
	h.Publish(numbered(0))
	<-entered
	for i := 1; i <= 5; i++ {
		h.Publish(numbered(i))
	}
	release <- struct{}{}
	wait.Until(t, within, "the first resync to be taken", func() bool { return len(slow.got()) == 2 })
	// vm-6 blocks fn again; vm-7..vm-10 fill the buffer, vm-11 overflows.
	h.Publish(numbered(6))
	<-entered
	for i := 7; i <= 11; i++ {
		h.Publish(numbered(i))
	}
	release <- struct{}{}
	wait.Until(t, within, "the second resync to be taken", func() bool { return len(slow.got()) == 4 })
	h.Publish(numbered(12))
	want := []string{"vm-0", "resync", "vm-6", "resync", "vm-12"}
	if got := names(slow.waitCount(t, len(want))); !slices.Equal(got, want) {
		t.Errorf("slow subscriber got %v, want %v", got, want)
	}
}

// TestResync reaches every subscriber.
func TestResync(t *testing.T) {
	h := eventhub.New(0)
	defer h.Close()
	a, b := watch(t, h, nil), watch(t, h, nil)
	h.Resync()
	for name, r := range map[string]*recorder{"a": a, "b": b} {
		got := r.waitCount(t, 1)
		if len(got) != 1 || got[0].Type != backend.EventResync || got[0].Time.IsZero() {
			t.Errorf("subscriber %s got %+v, want one resync with a time", name, got)
		}
	}
}

// TestWatchEnds checks that a Watch call unsubscribes when its context ends
// and when fn fails, returning nil and fn's error as is.
func TestWatchEnds(t *testing.T) {
	h := eventhub.New(0)
	defer h.Close()
	r := watch(t, h, nil)
	other := watch(t, h, nil)
	r.cancel()
	if err := r.returned(t); err != nil {
		t.Errorf("Watch after its context ended = %v, want nil", err)
	}
	wait.Until(t, within, "the cancelled Watch to unsubscribe", func() bool { return h.Subscribers() == 1 })
	h.Publish(numbered(1))
	other.waitCount(t, 1)
	if got := r.got(); len(got) != 0 {
		t.Errorf("a cancelled Watch delivered %v", names(got))
	}

	stop := errors.New("enough")
	done := make(chan error, 1)
	go func() {
		done <- h.Watch(context.Background(), func(backend.Event) error { return stop })
	}()
	wait.Until(t, within, "the second Watch to subscribe", func() bool { return h.Subscribers() == 2 })
	h.Publish(numbered(2))
	select {
	case err := <-done:
		if err != stop {
			t.Errorf("Watch whose fn failed = %v, want fn's error as is", err)
		}
	case <-time.After(within):
		t.Fatal("Watch did not return fn's error")
	}
	wait.Until(t, within, "the failed Watch to unsubscribe", func() bool { return h.Subscribers() == 1 })
}

// TestWatchDoesNotDeliverAfterCancel checks that events still buffered when
// the context ends are not delivered.
func TestWatchDoesNotDeliverAfterCancel(t *testing.T) {
	h := eventhub.New(0)
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	entered := make(chan struct{})
	var after []string
	done := make(chan error, 1)
	go func() {
		done <- h.Watch(ctx, func(ev backend.Event) error {
			if ev.VMID == "vm-0" {
				close(entered)
				<-ctx.Done()
				return nil
			}
			after = append(after, ev.VMID)
			return nil
		})
	}()
	wait.Until(t, within, "Watch to subscribe", func() bool { return h.Subscribers() == 1 })
	h.Publish(numbered(0))
	<-entered
	h.Publish(numbered(1))
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch = %v, want nil", err)
	}
	if len(after) != 0 {
		t.Errorf("fn was called with %v after the context ended", after)
	}
}

// TestClose ends every Watch call; later calls return at once.
func TestClose(t *testing.T) {
	h := eventhub.New(0)
	a, b := watch(t, h, nil), watch(t, h, nil)
	h.Close()
	for name, r := range map[string]*recorder{"a": a, "b": b} {
		if err := r.returned(t); err != nil {
			t.Errorf("Watch %s after Close = %v, want nil", name, err)
		}
	}
	if n := h.Subscribers(); n != 0 {
		t.Errorf("%d subscribers after Close, want 0", n)
	}
	h.Publish(numbered(1))
	h.Resync()
	h.Close()
	called := false
	if err := h.Watch(context.Background(), func(backend.Event) error { called = true; return nil }); err != nil || called {
		t.Errorf("Watch on a closed hub = %v (fn called: %v), want nil at once", err, called)
	}
}
