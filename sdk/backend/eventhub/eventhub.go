// Package eventhub fans a backend's lifecycle events out to its WatchEvents
// callers, so that every backend keeps the same contract with them:
//
//   - any number of WatchEvents calls run at once, each getting every event
//     published while it runs, in the order published;
//   - publishing never waits for a subscriber: each has a bounded buffer;
//   - a subscriber whose buffer is full loses what it has buffered and what
//     is published until it takes the one backend.EventResync that stands
//     in for all of it: the listing the resync calls for, made after that,
//     supersedes what was dropped, and no event published before the
//     subscriber took the resync follows it;
//   - a call ends when its context ends or the hub closes (nil) or its
//     callback fails (that error, as is).
//
// A backend creates one Hub, publishes each change after making it, and
// serves WatchEvents with Watch:
//
//	func (b *Backend) WatchEvents(ctx context.Context, fn func(backend.Event) error) error {
//		return b.hub.Watch(ctx, fn)
//	}
//
// Events lost before they reach the hub (a dropped hypervisor connection) are
// the backend's to notice; it calls Resync once it can list VMs again.
package eventhub

import (
	"context"
	"sync"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
)

// DefaultBuffer is how many events each subscriber may have waiting when New
// is given less than 1.
const DefaultBuffer = 1024

// Hub is the fan-out of one backend's events. It is safe for concurrent use.
type Hub struct {
	buffer int

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
	done   chan struct{}
}

// New returns a hub whose subscribers may each have buffer events waiting
// (DefaultBuffer when buffer < 1) before they are replaced by a resync.
func New(buffer int) *Hub {
	if buffer < 1 {
		buffer = DefaultBuffer
	}
	return &Hub{buffer: buffer, subs: make(map[*subscriber]struct{}), done: make(chan struct{})}
}

// Publish hands ev to every current subscriber and returns without waiting
// for any of them. A zero ev.Time is set to now. Every Watch call running
// when Publish starts gets ev (or a resync standing for it); a Watch call
// starting later does not. Publishing on a closed hub does nothing.
func (h *Hub) Publish(ev backend.Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.push(ev)
	}
}

// Resync tells every subscriber that events may have been lost and that it
// must list all VMs again.
func (h *Hub) Resync() {
	h.Publish(backend.Event{Type: backend.EventResync})
}

// Watch is backend.EventWatcher's WatchEvents: it calls fn for each event
// published from now on until ctx ends or the hub closes (returning nil) or
// fn returns an error (returned as is). fn is never called once ctx has
// ended. On a closed hub it returns nil at once.
func (h *Hub) Watch(ctx context.Context, fn func(backend.Event) error) error {
	s := h.subscribe()
	if s == nil {
		return nil
	}
	defer h.unsubscribe(s)
	for {
		ev, ok := s.pop()
		if !ok {
			select {
			case <-ctx.Done():
				return nil
			case <-h.done:
				return nil
			case <-s.wake:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-h.done:
			return nil
		default:
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

// Subscribers returns the number of Watch calls running.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Close ends every Watch call (they return nil without delivering what they
// still have buffered); later Watch calls return nil at once and later
// Publish calls do nothing. Closing twice is harmless.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.done)
	clear(h.subs)
}

// subscribe registers a new subscriber; nil when the hub is closed.
func (h *Hub) subscribe() *subscriber {
	s := &subscriber{ring: make([]backend.Event, h.buffer), wake: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.subs[s] = struct{}{}
	return s
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

// subscriber is one Watch call's buffer: a ring of events waiting to be
// delivered.
type subscriber struct {
	mu   sync.Mutex
	ring []backend.Event
	head int
	n    int
	// resyncing is true from an overflow until the resync standing for it
	// is taken: the ring holds that resync only, and pushes are dropped.
	resyncing bool
	// wake holds a token when events were pushed since the last pop found
	// the ring empty.
	wake chan struct{}
}

// push queues ev. When the ring is full, everything in it is dropped and a
// resync stands in for it, for ev and for every event pushed until the
// resync is taken.
func (s *subscriber) push(ev backend.Event) {
	s.mu.Lock()
	switch {
	case s.resyncing:
		s.mu.Unlock()
		return
	case s.n == len(s.ring):
		clear(s.ring)
		s.head, s.n, s.resyncing = 0, 1, true
		s.ring[0] = backend.Event{Type: backend.EventResync, Time: ev.Time}
	default:
		s.ring[(s.head+s.n)%len(s.ring)] = ev
		s.n++
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pop takes the oldest waiting event; false when there is none.
func (s *subscriber) pop() (backend.Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return backend.Event{}, false
	}
	ev := s.ring[s.head]
	s.ring[s.head] = backend.Event{}
	s.head = (s.head + 1) % len(s.ring)
	s.n--
	s.resyncing = false
	return ev, true
}
