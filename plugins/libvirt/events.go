package libvirt

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/backend/eventhub"
)

// rawEventBuffer is how many raw events may wait between libvirt's callback
// and the dispatcher. When it is full, events are dropped and turn into an
// EventResync, so libvirt's event loop never waits; each subscriber's own
// buffer is the hub's (eventhub.DefaultBuffer).
const rawEventBuffer = 4096

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

// dispatcher takes raw events from libvirt's callback, maps them off the
// event loop and hands them to internal waiters and to the hub that fans
// them out to the WatchEvents calls.
type dispatcher struct {
	raw  chan rawEvent
	lost atomic.Bool
	hub  *eventhub.Hub
	// created fills in the state of a newly defined VM; may be nil.
	created func(ev *backend.Event)

	mu      sync.Mutex
	waiters map[string]map[chan rawEvent]struct{}

	done chan struct{}
	wg   sync.WaitGroup
}

func newDispatcher(hub *eventhub.Hub) *dispatcher {
	return &dispatcher{
		raw:     make(chan rawEvent, rawEventBuffer),
		hub:     hub,
		waiters: make(map[string]map[chan rawEvent]struct{}),
		done:    make(chan struct{}),
	}
}

// start runs the dispatcher until stop.
func (d *dispatcher) start() {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.run()
	}()
}

func (d *dispatcher) stop() {
	select {
	case <-d.done:
	default:
		close(d.done)
	}
	d.wg.Wait()
}

// push is called on libvirt's event loop: it never blocks.
func (d *dispatcher) push(ev rawEvent) {
	select {
	case d.raw <- ev:
	default:
		d.lost.Store(true)
	}
}

// resync tells every subscriber to list all VMs again.
func (d *dispatcher) resync() {
	d.push(rawEvent{kind: rawResync, at: time.Now()})
}

func (d *dispatcher) run() {
	for {
		select {
		case <-d.done:
			return
		case ev := <-d.raw:
			d.dispatch(ev)
			// Events were dropped after those still waiting in d.raw:
			// the resync comes once these are delivered, so that none of
			// them follows it.
			if len(d.raw) == 0 && d.lost.Swap(false) {
				d.hub.Resync()
			}
		}
	}
}

func (d *dispatcher) dispatch(ev rawEvent) {
	d.notifyWaiters(ev)
	switch ev.kind {
	case rawResync:
		d.hub.Publish(backend.Event{Type: backend.EventResync, Time: ev.at})
	case rawLifecycle:
		typ, state, reason := mapEvent(ev.event, ev.detail)
		out := backend.Event{Type: typ, VMID: ev.uuid, VMName: ev.name, State: state, Reason: reason, Time: ev.at}
		if typ == backend.EventCreated && d.created != nil {
			d.created(&out)
		}
		d.hub.Publish(out)
	}
}

// waitFor returns a channel receiving the raw events of one domain and a
// function that stops the delivery.
func (d *dispatcher) waitFor(uuid string) (<-chan rawEvent, func()) {
	ch := make(chan rawEvent, 16)
	d.mu.Lock()
	if d.waiters[uuid] == nil {
		d.waiters[uuid] = make(map[chan rawEvent]struct{})
	}
	d.waiters[uuid][ch] = struct{}{}
	d.mu.Unlock()
	return ch, func() {
		d.mu.Lock()
		delete(d.waiters[uuid], ch)
		if len(d.waiters[uuid]) == 0 {
			delete(d.waiters, uuid)
		}
		d.mu.Unlock()
	}
}

func (d *dispatcher) notifyWaiters(ev rawEvent) {
	if ev.uuid == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for ch := range d.waiters[ev.uuid] {
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
	return b.hub.Watch(ctx, fn)
}
