package sim

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
)

// DefaultEventBuffer is how many events each WatchEvents call may have
// waiting before the backend drops them and sends an EventResync instead.
const DefaultEventBuffer = 1024

// subscriber is one WatchEvents call.
type subscriber struct {
	ch chan backend.Event
	// overflow is set when an event was dropped because ch was full.
	overflow atomic.Bool
}

// eventHub fans events out to every subscriber without ever blocking the
// emitter: a subscriber whose buffer is full loses its buffered events and
// gets one EventResync in their place. While the simulated hypervisor
// connection is down, events are lost for everyone; reconnecting sends an
// EventResync.
type eventHub struct {
	buffer int

	mu   sync.Mutex
	subs map[*subscriber]struct{}
	down bool

	done      chan struct{}
	closeOnce sync.Once
}

func newEventHub(buffer int) *eventHub {
	if buffer < 1 {
		buffer = DefaultEventBuffer
	}
	return &eventHub{buffer: buffer, subs: make(map[*subscriber]struct{}), done: make(chan struct{})}
}

// emit hands ev to every subscriber; it never blocks.
func (h *eventHub) emit(ev backend.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		return
	}
	for s := range h.subs {
		select {
		case s.ch <- ev:
		default:
			s.overflow.Store(true)
		}
	}
}

// resync tells every subscriber to list all VMs again.
func (h *eventHub) resync() {
	h.emit(backend.Event{Type: backend.EventResync})
}

// setDown starts or ends an outage. Ending one sends an EventResync, since
// events were lost meanwhile.
func (h *eventHub) setDown(down bool) {
	h.mu.Lock()
	was := h.down
	h.down = down
	h.mu.Unlock()
	if was && !down {
		h.resync()
	}
}

// isDown reports whether the connection is down.
func (h *eventHub) isDown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down
}

// close ends every WatchEvents call.
func (h *eventHub) close() {
	h.closeOnce.Do(func() { close(h.done) })
}

// count is the number of subscribers.
func (h *eventHub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *eventHub) subscribe() *subscriber {
	s := &subscriber{ch: make(chan backend.Event, h.buffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *eventHub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// watch delivers events to fn until ctx ends or the hub closes (nil) or fn
// fails (its error). When the subscriber's buffer overflowed, every event
// still buffered is older than the one dropped, so they are all discarded
// and a single EventResync is delivered instead: a listing made after it
// supersedes them, and no stale event follows it.
func (h *eventHub) watch(ctx context.Context, fn func(backend.Event) error) error {
	s := h.subscribe()
	defer h.unsubscribe(s)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.done:
			return nil
		case ev := <-s.ch:
			if s.overflow.Swap(false) {
				drain(s.ch)
				ev = backend.Event{Type: backend.EventResync, Time: time.Now()}
			}
			if ctx.Err() != nil {
				return nil
			}
			if err := fn(ev); err != nil {
				return err
			}
		}
	}
}

// drain empties ch without waiting.
func drain(ch chan backend.Event) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// WatchEvents calls fn for each lifecycle event until ctx ends or fn fails:
// created, state_changed and deleted for every change of every VM, whether
// made through the Backend or by a script, and EventResync when events
// were lost (the subscriber fell behind, the connection came back, or
// Resync was called).
func (b *Backend) WatchEvents(ctx context.Context, fn func(backend.Event) error) error {
	if _, err := b.current("watching events"); err != nil {
		return err
	}
	return b.hub.watch(ctx, fn)
}
