package libvirt

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/backend/eventhub"
)

// size is the number of keys held or waited for.
func (k *keyedMutex) size() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.locks)
}

func startedEvent(uuid string) rawEvent {
	return rawEvent{kind: rawLifecycle, uuid: uuid, name: "vm", event: libvirt.DOMAIN_EVENT_STARTED, at: time.Now()}
}

// TestDispatcherMapsEvents checks that raw events reach the hub mapped, and
// that a resync pushed by the connection reaches it as one.
func TestDispatcherMapsEvents(t *testing.T) {
	hub := eventhub.New(0)
	defer hub.Close()
	d := newDispatcher(hub)
	d.start()
	defer d.stop()
	got := watchHub(t, hub)
	d.push(startedEvent("u1"))
	d.resync()
	evs := wait.Value(t, 5*time.Second, "two events", func() ([]backend.Event, bool) {
		evs := got()
		return evs, len(evs) >= 2
	})
	if e := evs[0]; e.Type != backend.EventStateChanged || e.VMID != "u1" || e.State != backend.StateRunning || e.Reason != "booted" {
		t.Errorf("first event = %+v, want u1 state_changed RUNNING (booted)", e)
	}
	if evs[1].Type != backend.EventResync {
		t.Errorf("second event = %+v, want a resync", evs[1])
	}
}

// TestDispatcherRawOverflow checks that events lost before the dispatcher
// could take them turn into a resync for everyone.
func TestDispatcherRawOverflow(t *testing.T) {
	// The subscriber's buffer holds every event, so that a resync can only
	// come from the lost raw events.
	hub := eventhub.New(2 * rawEventBuffer)
	defer hub.Close()
	d := newDispatcher(hub)
	got := watchHub(t, hub)
	for range rawEventBuffer + 10 {
		d.push(startedEvent("x"))
	}
	if !d.lost.Load() {
		t.Fatal("overflowing the raw buffer did not mark events as lost")
	}
	d.start()
	defer d.stop()
	evs := wait.Value(t, 5*time.Second, "a resync after lost raw events", func() ([]backend.Event, bool) {
		evs := got()
		return evs, slices.ContainsFunc(evs, func(e backend.Event) bool { return e.Type == backend.EventResync })
	})
	if n := len(evs) - 1; n != rawEventBuffer {
		t.Errorf("%d events before the resync, want the %d the raw buffer held", n, rawEventBuffer)
	}
}

// watchHub subscribes to hub until the test ends and returns what arrived
// so far.
func watchHub(t *testing.T, hub *eventhub.Hub) func() []backend.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var evs []backend.Event
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hub.Watch(ctx, func(e backend.Event) error {
			mu.Lock()
			evs = append(evs, e)
			mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	wait.Until(t, 5*time.Second, "the Watch call to subscribe", func() bool { return hub.Subscribers() == 1 })
	return func() []backend.Event {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(evs)
	}
}

func TestDispatcherWaiters(t *testing.T) {
	d := newDispatcher(eventhub.New(0))
	d.start()
	defer d.stop()
	ch, stop := d.waitFor("u1")
	d.push(startedEvent("u2"))
	d.push(rawEvent{kind: rawReboot, uuid: "u1"})
	select {
	case ev := <-ch:
		if ev.uuid != "u1" || ev.kind != rawReboot {
			t.Fatalf("waiter got %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter got nothing")
	}
	stop()
	d.mu.Lock()
	n := len(d.waiters)
	d.mu.Unlock()
	if n != 0 {
		t.Errorf("%d waiters left after stop", n)
	}
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
	wait.Stays(t, 20*time.Millisecond, "the second lock of a held key waiting", func() bool {
		select {
		case <-got:
			return false
		default:
			return true
		}
	})
	unlock()
	<-got
	if n := k.size(); n != 0 {
		t.Errorf("%d keys left", n)
	}
}
