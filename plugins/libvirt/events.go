package libvirt

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/backend"
)

// Buffer sizes: raw events between libvirt's callback and the dispatcher, and
// mapped events per subscriber. A full buffer drops events and turns into an
// EventResync, so neither libvirt's event loop nor other subscribers wait.
const (
	rawEventBuffer   = 4096
	subscriberBuffer = 1024
)

type rawKind int

const (
	rawLifecycle rawKind = iota
	rawReboot
	rawResync
)

// rawEvent is what libvirt's callback hands over: cheap local fields only.
type rawEvent struct {
	kind   rawKind
	uuid   string
	name   string
	event  libvirt.DomainEventType
	detail int
	at     time.Time
}

// newRawEvent reads the domain's UUID and name, which libvirt keeps in the
// domain object (no call to libvirtd).
func newRawEvent(d *libvirt.Domain, kind rawKind, event libvirt.DomainEventType, detail int) rawEvent {
	ev := rawEvent{kind: kind, event: event, detail: detail, at: time.Now()}
	if d != nil {
		ev.uuid, _ = d.GetUUIDString()
		ev.name, _ = d.GetName()
	}
	return ev
}

// subscriber is one WatchEvents call.
type subscriber struct {
	ch       chan backend.Event
	overflow atomic.Bool
}

// eventHub takes raw events from libvirt's callback, maps them off the event
// loop and fans them out to every subscriber and to internal waiters.
type eventHub struct {
	raw  chan rawEvent
	lost atomic.Bool
	// created fills in the state of a newly defined VM; may be nil.
	created func(ev *backend.Event)

	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	waiters map[string]map[chan rawEvent]struct{}

	done chan struct{}
	wg   sync.WaitGroup
}

func newEventHub() *eventHub {
	return &eventHub{
		raw:     make(chan rawEvent, rawEventBuffer),
		subs:    make(map[*subscriber]struct{}),
		waiters: make(map[string]map[chan rawEvent]struct{}),
		done:    make(chan struct{}),
	}
}

// start runs the dispatcher until stop.
func (h *eventHub) start() {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.run()
	}()
}

func (h *eventHub) stop() {
	select {
	case <-h.done:
	default:
		close(h.done)
	}
	h.wg.Wait()
}

// push is called on libvirt's event loop: it never blocks.
func (h *eventHub) push(ev rawEvent) {
	select {
	case h.raw <- ev:
	default:
		h.lost.Store(true)
	}
}

// resync tells every subscriber to list all VMs again.
func (h *eventHub) resync() {
	h.push(rawEvent{kind: rawResync, at: time.Now()})
}

func (h *eventHub) run() {
	for {
		select {
		case <-h.done:
			return
		case ev := <-h.raw:
			h.dispatch(ev)
			if h.lost.Swap(false) {
				h.broadcast(backend.Event{Type: backend.EventResync, Time: time.Now()})
			}
		}
	}
}

func (h *eventHub) dispatch(ev rawEvent) {
	h.notifyWaiters(ev)
	switch ev.kind {
	case rawResync:
		h.broadcast(backend.Event{Type: backend.EventResync, Time: ev.at})
	case rawLifecycle:
		typ, state, reason := mapEvent(ev.event, ev.detail)
		out := backend.Event{Type: typ, VMID: ev.uuid, VMName: ev.name, State: state, Reason: reason, Time: ev.at}
		if typ == backend.EventCreated && h.created != nil {
			h.created(&out)
		}
		h.broadcast(out)
	}
}

func (h *eventHub) broadcast(ev backend.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.ch <- ev:
		default:
			s.overflow.Store(true)
		}
	}
}

func (h *eventHub) subscribe() *subscriber {
	s := &subscriber{ch: make(chan backend.Event, subscriberBuffer)}
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

// watch delivers events to fn until ctx ends (nil) or fn fails (its error).
// When a subscriber's buffer overflowed, every event still buffered is
// older than the one dropped: they are discarded and a single EventResync
// is delivered in their place, so that no stale event follows the listing
// the resync calls for.
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
				drainEvents(s.ch)
				ev = backend.Event{Type: backend.EventResync, Time: time.Now()}
			}
			if err := fn(ev); err != nil {
				return err
			}
		}
	}
}

// drainEvents empties ch without waiting.
func drainEvents(ch chan backend.Event) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// waitFor returns a channel receiving the raw events of one domain and a
// function that stops the delivery.
func (h *eventHub) waitFor(uuid string) (<-chan rawEvent, func()) {
	ch := make(chan rawEvent, 16)
	h.mu.Lock()
	if h.waiters[uuid] == nil {
		h.waiters[uuid] = make(map[chan rawEvent]struct{})
	}
	h.waiters[uuid][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.waiters[uuid], ch)
		if len(h.waiters[uuid]) == 0 {
			delete(h.waiters, uuid)
		}
		h.mu.Unlock()
	}
}

func (h *eventHub) notifyWaiters(ev rawEvent) {
	if ev.uuid == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.waiters[ev.uuid] {
		select {
		case ch <- ev:
		default:
		}
	}
}

// WatchEvents calls fn for each lifecycle event until ctx ends or fn fails.
// After the libvirt connection came back, and when fn fell behind, an
// EventResync says events may have been lost.
func (b *Backend) WatchEvents(ctx context.Context, fn func(backend.Event) error) error {
	if _, err := b.current(); err != nil {
		return err
	}
	return b.hub.watch(ctx, fn)
}
