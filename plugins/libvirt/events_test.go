package libvirt

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/backend"
)

// count is the number of subscribers.
func (h *eventHub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// size is the number of keys held or waited for.
func (k *keyedMutex) size() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.locks)
}

func startedEvent(uuid string) rawEvent {
	return rawEvent{kind: rawLifecycle, uuid: uuid, name: "vm", event: libvirt.DOMAIN_EVENT_STARTED, at: time.Now()}
}

// TestHubSlowSubscriber checks that a subscriber that does not read neither
// blocks the producer nor other subscribers, and gets a resync.
func TestHubSlowSubscriber(t *testing.T) {
	h := newEventHub()
	h.start()
	defer h.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	release, entered := make(chan struct{}), make(chan struct{}, 1)
	var mu sync.Mutex
	var slow []backend.Event
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		_ = h.watch(ctx, func(e backend.Event) error {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
			mu.Lock()
			slow = append(slow, e)
			mu.Unlock()
			return nil
		})
	}()
	fastGot := make(chan backend.Event, 4*subscriberBuffer)
	go func() {
		_ = h.watch(ctx, func(e backend.Event) error {
			fastGot <- e
			return nil
		})
	}()
	waitSubscribers(t, h, 2)

	// The slow subscriber takes a first event and blocks on it: what
	// follows overflows its buffer.
	h.push(startedEvent("first"))
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow subscriber got no first event")
	}
	<-fastGot

	// Batches the fast subscriber drains before the next: it must get every
	// event, while the blocked one overflows.
	const batch = subscriberBuffer / 2
	total := 6 * batch
	start := time.Now()
	for i := range total {
		h.push(startedEvent(string(rune('a' + i%26))))
		if (i+1)%batch == 0 {
			for n := range batch {
				select {
				case e := <-fastGot:
					if e.Type != backend.EventStateChanged {
						t.Fatalf("fast subscriber got %+v", e)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("fast subscriber got %d of batch ending at event %d", n, i)
				}
			}
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("pushing %d events took %s: the producer was blocked", total, d)
	}
	// The fast subscriber got every event; broadcast offers each to all
	// subscribers under h.mu, so once it is free the slow one has been
	// offered every event too, and nothing can come after its resync.
	h.mu.Lock()
	h.mu.Unlock()
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n, resync := len(slow), hasResync(slow)
		mu.Unlock()
		if resync {
			if n >= total {
				t.Errorf("slow subscriber got all %d events and a resync", n)
			}
			// Nothing buffered before the overflow comes after the
			// resync (given time to come): only events pushed after it
			// could, and none is.
			time.Sleep(200 * time.Millisecond)
			mu.Lock()
			after := slices.IndexFunc(slow, func(e backend.Event) bool { return e.Type == backend.EventResync })
			if after != len(slow)-1 {
				t.Errorf("slow subscriber got %d events after its resync: stale ones were delivered", len(slow)-1-after)
			}
			mu.Unlock()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slow subscriber got %d events and no resync", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-slowDone
}

// TestHubRawOverflow checks that events lost before the dispatcher could
// take them turn into a resync for everyone.
func TestHubRawOverflow(t *testing.T) {
	h := newEventHub()
	s := h.subscribe()
	for range rawEventBuffer + 10 {
		h.push(startedEvent("x"))
	}
	if !h.lost.Load() {
		t.Fatal("overflowing the raw buffer did not mark events as lost")
	}
	h.start()
	defer h.stop()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-s.ch:
			if e.Type == backend.EventResync {
				return
			}
		case <-deadline:
			if s.overflow.Load() {
				return // the subscriber's own buffer overflowed first: it resyncs too
			}
			t.Fatal("no resync after lost raw events")
		}
	}
}

func TestHubWaiters(t *testing.T) {
	h := newEventHub()
	h.start()
	defer h.stop()
	ch, stop := h.waitFor("u1")
	h.push(startedEvent("u2"))
	h.push(rawEvent{kind: rawReboot, uuid: "u1"})
	select {
	case ev := <-ch:
		if ev.uuid != "u1" || ev.kind != rawReboot {
			t.Fatalf("waiter got %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter got nothing")
	}
	stop()
	h.mu.Lock()
	n := len(h.waiters)
	h.mu.Unlock()
	if n != 0 {
		t.Errorf("%d waiters left after stop", n)
	}
}

func waitSubscribers(t *testing.T, h *eventHub, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", h.count(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func hasResync(events []backend.Event) bool {
	for _, e := range events {
		if e.Type == backend.EventResync {
			return true
		}
	}
	return false
}

func TestKeyedMutex(t *testing.T) {
	k := newKeyedMutex()
	unlock, err := k.lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// Another key is free.
	unlockB, err := k.lock(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	unlockB()
	// The same key waits, and gives up with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := k.lock(ctx, "a"); err == nil {
		t.Fatal("locked a held key")
	}
	got := make(chan struct{})
	go func() {
		u, err := k.lock(context.Background(), "a")
		if err == nil {
			u()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("second lock did not wait")
	case <-time.After(20 * time.Millisecond):
	}
	unlock()
	<-got
	if n := k.size(); n != 0 {
		t.Errorf("%d keys left", n)
	}
}
