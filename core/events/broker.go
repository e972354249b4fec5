package events

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/vm"
)

// Publisher is where the control plane publishes its changes once they
// are committed. A Broker publishes them to its own subscribers; on
// PostgreSQL a core/clusterbus.Bus carries them to the brokers of every
// server sharing the database (this one's included).
type Publisher interface {
	// PublishVM publishes stored VM events, in the order given.
	PublishVM(evs ...*vm.Event)
	// PublishMemory publishes an event that is not a stored VM event: a
	// node change or a VM event of a removed record. The stream never
	// reads these back from the store.
	PublishMemory(ev StreamEvent)
	// Rehome makes the VM events of from that subscribers may still be
	// sent events of to (Broker.Rehome).
	Rehome(from, to string)
}

var _ Publisher = (*Broker)(nil)

// PositionPublisher is a Publisher that tells where a memory-only event
// stands on the stream, so that whoever keeps the event (the node events
// of the store) can keep its position.
type PositionPublisher interface {
	// PublishMemoryPos publishes ev as PublishMemory does and returns its
	// position on the stream; ok is false when it was not published.
	PublishMemoryPos(ev StreamEvent) (pos Position, ok bool)
}

var _ PositionPublisher = (*Broker)(nil)

// Default sizes of a Broker.
const (
	DefaultRingSize         = 4096
	DefaultSubscriberBuffer = 256
)

// Position is a place in the event stream. A VM event stands at the id the
// store gave it (Seq 0); an event kept only in memory (node changes, the
// removal of an unmanaged VM's record) stands after the last VM event
// published before it, numbered by Seq. Written "<vm event id>" or
// "<vm event id>.<seq>".
type Position struct {
	VMEvent int64
	Seq     int64
}

func (p Position) String() string {
	if p.Seq == 0 {
		return strconv.FormatInt(p.VMEvent, 10)
	}
	return strconv.FormatInt(p.VMEvent, 10) + "." + strconv.FormatInt(p.Seq, 10)
}

// Before tells whether p comes before q in the stream.
func (p Position) Before(q Position) bool {
	return p.VMEvent < q.VMEvent || (p.VMEvent == q.VMEvent && p.Seq < q.Seq)
}

// ParsePosition parses what Position.String writes.
func ParsePosition(s string) (Position, error) {
	a, b, dotted := strings.Cut(strings.TrimSpace(s), ".")
	var p Position
	var err error
	if p.VMEvent, err = strconv.ParseInt(a, 10, 64); err != nil || p.VMEvent < 0 {
		return Position{}, fmt.Errorf("event id %q: want a whole number, or two joined by a dot", s)
	}
	if dotted {
		if p.Seq, err = strconv.ParseInt(b, 10, 64); err != nil || p.Seq < 1 {
			return Position{}, fmt.Errorf("event id %q: want a whole number, or two joined by a dot", s)
		}
	}
	return p, nil
}

// The kinds of stream events.
const (
	StreamVM   = "vm"
	StreamNode = "node"
	StreamGap  = "gap"
)

// StreamEvent is one entry of the event stream (GET /api/events).
type StreamEvent struct {
	Pos  Position
	Kind string
	// VM is set for Kind vm. A VM whose record was removed has an event
	// with ID 0: it exists only in the stream.
	VM *vm.Event
	// Node is set for Kind node.
	Node *NodeEvent
	// Gap is set for Kind gap.
	Gap *Gap
}

// NodeEvent is a change of a node: registration, liveness, backend health.
type NodeEvent struct {
	NodeID   string
	NodeName string
	Time     time.Time
	Action   string
	OldState node.State
	NewState node.State
	Healthy  bool
	Message  string
}

// Gap tells a subscriber that events were dropped because it read too
// slowly; resuming from Resume fetches them again (VM events from the
// database, node events while the server still holds them).
type Gap struct {
	Dropped int
	Resume  Position
	Message string
}

// ErrStreamClosed: the broker was closed.
var ErrStreamClosed = errors.New("event stream closed")

// BrokerOptions size a Broker; zero values take the defaults.
type BrokerOptions struct {
	// RingSize is how many recent events are kept for resuming.
	RingSize int
	// SubscriberBuffer is how many events a subscriber may fall behind
	// before events are dropped for it (and a gap marker sent).
	SubscriberBuffer int
}

// Broker fans VM and node changes out to subscribers without ever waiting
// for them: a subscriber that falls SubscriberBuffer events behind loses the
// events that follow and receives a gap marker in their place. It keeps the
// last RingSize events, so that a subscriber resuming from a recent position
// misses nothing; older VM events are read back from the store.
type Broker struct {
	mu      sync.Mutex
	ring    []StreamEvent
	head    int // index of the oldest entry
	n       int // entries held
	evicted bool
	lastVM  int64
	seq     int64
	seeded  bool
	subs    map[*subscription]struct{}
	buffer  int
	closed  bool
	// drops counts the events dropped for subscribers that read too
	// slowly (metrics.go).
	drops uint64
}

// NewBroker returns a broker with no subscriber.
func NewBroker(opts BrokerOptions) *Broker {
	if opts.RingSize <= 0 {
		opts.RingSize = DefaultRingSize
	}
	if opts.SubscriberBuffer <= 0 {
		opts.SubscriberBuffer = DefaultSubscriberBuffer
	}
	return &Broker{ring: make([]StreamEvent, opts.RingSize), subs: make(map[*subscription]struct{}), buffer: opts.SubscriberBuffer}
}

// Seed tells the broker the id of the last VM event stored before it
// started, so that the positions of its memory-only events follow it.
func (b *Broker) Seed(lastVMEvent int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if lastVMEvent > b.lastVM {
		b.lastVM = lastVMEvent
	}
	b.seeded = true
}

// Seeded reports whether Seed was called.
func (b *Broker) Seeded() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seeded
}

// PublishVM publishes stored VM events, in the order given.
func (b *Broker) PublishVM(evs ...*vm.Event) {
	if len(evs) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range evs {
		if e.ID > b.lastVM {
			b.lastVM = e.ID
		}
		b.add(StreamEvent{Pos: Position{VMEvent: e.ID}, Kind: StreamVM, VM: e})
	}
}

// PublishMemory publishes an event the store does not keep: a node change
// or a VM event of a removed record.
func (b *Broker) PublishMemory(ev StreamEvent) { b.PublishMemoryPos(ev) }

// PublishMemoryPos publishes as PublishMemory does and returns the event's
// position; ok is false once the broker is closed.
func (b *Broker) PublishMemoryPos(ev StreamEvent) (Position, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return Position{}, false
	}
	b.seq++
	ev.Pos = Position{VMEvent: b.lastVM, Seq: b.seq}
	b.add(ev)
	return ev.Pos, true
}

// PublishMemoryAt publishes an event the store does not keep under a
// number given by whoever sent it (a server of a cluster, core/clusterbus),
// unique among the positions of memory-only events: it stands at
// Position{last VM event published, seq}, so that every server delivering
// the same events in the same order gives it the same position.
func (b *Broker) PublishMemoryAt(seq int64, ev StreamEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev.Pos = Position{VMEvent: b.lastVM, Seq: seq}
	b.add(ev)
}

// Rehome makes the VM events of from that the ring holds events of to, as
// the store moved them when a VM's record took a new id: streams resumed
// from the ring then tell the VM's history as a replay from the store does.
// Subscribers that were sent them already keep what they got.
func (b *Broker) Rehome(from, to string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.n {
		slot := &b.ring[(b.head+i)%len(b.ring)]
		if slot.Kind == StreamVM && slot.VM.VMID == from {
			e := *slot.VM
			e.VMID = to
			slot.VM = &e
		}
	}
}

// add keeps ev in the ring and queues it for every subscriber; b.mu is held.
func (b *Broker) add(ev StreamEvent) {
	if b.closed {
		return
	}
	if b.n == len(b.ring) {
		b.head = (b.head + 1) % len(b.ring)
		b.n--
		b.evicted = true
	}
	b.ring[(b.head+b.n)%len(b.ring)] = ev
	b.n++
	for s := range b.subs {
		s.offer(ev)
	}
}

// subscribe registers a subscriber. With since nil it gets what is
// published from now on. Otherwise backlog holds what the ring has after
// since and found tells whether since was in the ring; when it was not, the
// caller replays older VM events from the store, and evicted tells whether
// memory-only events may have been lost meanwhile.
func (b *Broker) subscribe(since *Position) (s *subscription, backlog []StreamEvent, found, evicted bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, false, false, ErrStreamClosed
	}
	s = &subscription{b: b, ch: make(chan StreamEvent, b.buffer), lastQueued: b.latest()}
	b.subs[s] = struct{}{}
	if since == nil {
		return s, nil, true, false, nil
	}
	for i := range b.n {
		if b.ring[(b.head+i)%len(b.ring)].Pos == *since {
			found = true
			continue
		}
		if found {
			backlog = append(backlog, b.ring[(b.head+i)%len(b.ring)])
		}
	}
	if !found {
		backlog = make([]StreamEvent, 0, b.n)
		for i := range b.n {
			backlog = append(backlog, b.ring[(b.head+i)%len(b.ring)])
		}
	}
	return s, backlog, found, b.evicted, nil
}

// latest is the position of the newest event; b.mu is held.
func (b *Broker) latest() Position {
	if b.n == 0 {
		return Position{VMEvent: b.lastVM, Seq: b.seq}
	}
	return b.ring[(b.head+b.n-1)%len(b.ring)].Pos
}

// Close ends every subscription; later publishes are dropped.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for s := range b.subs {
		close(s.ch)
		delete(b.subs, s)
	}
}

// subscription is one subscriber's queue.
type subscription struct {
	b  *Broker
	ch chan StreamEvent
	// Guarded by b.mu.
	dropped    int
	lastQueued Position
	gapFrom    Position
}

// offer queues ev without waiting; b.mu is held. Once an event has been
// dropped, a gap marker has to be queued before anything else.
func (s *subscription) offer(ev StreamEvent) {
	if s.dropped > 0 {
		select {
		case s.ch <- s.gapEvent():
			s.dropped = 0
		default:
			s.dropped++
			s.b.drops++
			return
		}
	}
	select {
	case s.ch <- ev:
		s.lastQueued = ev.Pos
	default:
		s.dropped = 1
		s.gapFrom = s.lastQueued
		s.b.drops++
	}
}

func (s *subscription) gapEvent() StreamEvent {
	return StreamEvent{Kind: StreamGap, Gap: &Gap{
		Dropped: s.dropped,
		Resume:  s.gapFrom,
		Message: fmt.Sprintf("%d events were dropped because this client reads too slowly; resume with since=%s to fetch them", s.dropped, s.gapFrom),
	}}
}

// next returns the next queued event, the pending gap marker once the
// queue has drained, or waits until one is published or done is closed.
func (s *subscription) next(done <-chan struct{}) (StreamEvent, error) {
	select {
	case ev, ok := <-s.ch:
		if !ok {
			return StreamEvent{}, ErrStreamClosed
		}
		return ev, nil
	default:
	}
	s.b.mu.Lock()
	if s.dropped > 0 {
		g := s.gapEvent()
		s.dropped = 0
		s.b.mu.Unlock()
		return g, nil
	}
	s.b.mu.Unlock()
	select {
	case ev, ok := <-s.ch:
		if !ok {
			return StreamEvent{}, ErrStreamClosed
		}
		return ev, nil
	case <-done:
		return StreamEvent{}, errDone
	}
}

// errDone: the caller's wait ended.
var errDone = errors.New("wait ended")

// close unregisters the subscription.
func (s *subscription) close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if _, ok := s.b.subs[s]; ok {
		delete(s.b.subs, s)
		close(s.ch)
	}
}
