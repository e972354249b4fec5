package sim

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
)

// TestSlowSubscriber checks that a subscriber that does not read blocks
// neither the backend nor a fast subscriber, and that once it reads again
// it gets one EventResync in place of everything it could not hold, then
// only newer events.
func TestSlowSubscriber(t *testing.T) {
	const buffer = 4
	b := newSim(t, Config{Hostname: "slow", VMs: VMsConfig{Count: 1, State: "stopped"}}, WithEventBuffer(buffer))
	fast := watch(t, b)

	release := make(chan struct{})
	var mu sync.Mutex
	var slow []backend.Event
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(slow)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	before := b.hub.Subscribers()
	go func() {
		done <- b.WatchEvents(ctx, func(ev backend.Event) error {
			mu.Lock()
			slow = append(slow, ev)
			n := len(slow)
			mu.Unlock()
			if n == 1 {
				<-release
			}
			return nil
		})
	}()
	subscribed(t, b, before)

	// Batches of half a buffer, each drained by the fast subscriber before
	// the next: it must get every event while the blocked one overflows.
	id := PopulatedID("slow", 0)
	const changes = 3 * buffer
	var busy time.Duration
	for i := range changes {
		st := backend.StateRunning
		if i%2 == 1 {
			st = backend.StateStopped
		}
		start := time.Now()
		if _, err := b.SetState(id, st); err != nil {
			t.Fatal(err)
		}
		busy += time.Since(start)
		if i == 0 {
			// The slow subscriber holds the first event, blocked in fn.
			wait.Until(t, 5*time.Second, "the slow subscriber to get the first event", func() bool { return received() == 1 })
		}
		if (i+1)%(buffer/2) == 0 {
			fast.wait(t, i+1)
		}
	}
	if busy > time.Second {
		t.Errorf("%d changes took %s with a blocked subscriber: the backend waited for it", changes, busy)
	}
	if got := fast.wait(t, changes); len(got) != changes {
		t.Errorf("the fast subscriber got %d events, want %d", len(got), changes)
	} else {
		for i, ev := range got {
			if ev.Type != backend.EventStateChanged {
				t.Errorf("fast subscriber event %d = %s, want state_changed", i, fmtEvent(ev))
			}
		}
	}
	close(release)
	// Wait for the slow subscriber to catch up: first event, then resync;
	// then the next change, and nothing after it.
	wait.Until(t, 5*time.Second, "the slow subscriber to get a second event", func() bool { return received() >= 2 })
	if _, err := b.SetState(id, backend.StatePaused); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 5*time.Second, "the slow subscriber to get a third event", func() bool { return received() >= 3 })
	wait.Stays(t, 50*time.Millisecond, "no fourth event for the slow subscriber", func() bool { return received() == 3 })
	mu.Lock()
	got := append([]backend.Event(nil), slow...)
	mu.Unlock()
	if len(got) != 3 || got[0].Type != backend.EventStateChanged || got[0].State != backend.StateRunning ||
		got[1].Type != backend.EventResync || got[2].Type != backend.EventStateChanged || got[2].State != backend.StatePaused {
		t.Errorf("slow subscriber got %s, want [RUNNING, resync, PAUSED]: stale events must not follow the resync", fmtEvents(got))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("WatchEvents after cancel = %v", err)
	}
}

// TestWatchEnds checks that WatchEvents returns fn's error as is, returns
// nil when the backend closes, and that StreamLog ends on Close too.
func TestWatchEnds(t *testing.T) {
	b := newSim(t, Config{Hostname: "ends", VMs: VMsConfig{Count: 1, State: "running"}})
	stop := errors.New("enough")
	errc := make(chan error, 1)
	before := b.hub.Subscribers()
	go func() {
		errc <- b.WatchEvents(context.Background(), func(backend.Event) error { return stop })
	}()
	subscribed(t, b, before)
	if _, err := b.Crash(PopulatedID("ends", 0)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err != stop {
			t.Errorf("WatchEvents = %v, want fn's error as is", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WatchEvents did not return fn's error")
	}
	if n := b.hub.Subscribers(); n != 0 {
		t.Errorf("%d subscribers left after WatchEvents returned", n)
	}

	watching := make(chan error, 1)
	streaming := make(chan error, 1)
	// The crash wrote a line to the VM's log: its arrival tells that
	// StreamLog is following.
	following := make(chan struct{})
	var once sync.Once
	go func() {
		watching <- b.WatchEvents(context.Background(), func(backend.Event) error { return nil })
	}()
	go func() {
		streaming <- b.StreamLog(context.Background(), PopulatedID("ends", 0), 0, func(backend.LogLine) error {
			once.Do(func() { close(following) })
			return nil
		})
	}()
	subscribed(t, b, 0)
	select {
	case <-following:
	case err := <-streaming:
		t.Fatalf("StreamLog returned %v before any line", err)
	case <-time.After(5 * time.Second):
		t.Fatal("StreamLog sent no line of the VM's log within 5s")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]chan error{"WatchEvents": watching, "StreamLog": streaming} {
		select {
		case err := <-c:
			if err != nil {
				t.Errorf("%s after Close = %v, want nil", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s still running 5s after Close", name)
		}
	}
}
