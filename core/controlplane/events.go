package controlplane

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/quantixvm/quantix/core/vm"
)

// Page sizes of VM histories.
const (
	DefaultEventPage = 100
	MaxEventPage     = 1000
)

// replayPage is how many stored events one read of a stream's replay takes.
const replayPage = 500

// EventPage is one page of a VM's history, oldest first, and the cursor of
// the next page ("" at the end).
type EventPage struct {
	VM         *vm.VM
	Events     []*vm.Event
	NextCursor string
}

// VMEvents returns the history of the VM with id or name ref: its state
// changes and the actions on it, oldest first, after cursor (an event id,
// "" from the start), at most limit (0 means DefaultEventPage).
func (s *Service) VMEvents(ctx context.Context, ref, cursor string, limit int) (*EventPage, error) {
	switch {
	case limit == 0:
		limit = DefaultEventPage
	case limit < 1 || limit > MaxEventPage:
		return nil, errorf(KindBadRequest, "limit: %d is outside 1..%d", limit, MaxEventPage)
	}
	var after int64
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n < 0 {
			return nil, errorf(KindBadRequest, "cursor: %q is not a cursor this server returned", cursor)
		}
		after = n
	}
	v, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	// One more than asked tells whether a next page exists.
	list, err := s.store.Events().List(ctx, v.ID, after, min(limit+1, MaxEventPage))
	if err != nil {
		return nil, storeError(fmt.Sprintf("listing events of vm %q", v.Name), err)
	}
	page := &EventPage{VM: v, Events: list}
	if len(list) > limit {
		page.Events = list[:limit]
		page.NextCursor = strconv.FormatInt(list[limit-1].ID, 10)
	}
	return page, nil
}

// seedBroker tells the broker the last stored VM event id once, so that the
// positions of memory-only events follow the stored ones across restarts.
func (r *Reconciler) seedBroker(ctx context.Context) error {
	if r.broker.isSeeded() {
		return nil
	}
	id, err := r.store.Events().LastID(ctx)
	if err != nil {
		return err
	}
	r.broker.seed(id)
	return nil
}

// publishNode publishes a node change on the stream (memory only).
func (r *Reconciler) publishNode(ctx context.Context, ev NodeEvent) {
	if err := r.seedBroker(ctx); err != nil {
		r.log.Warn("reading the last event id for the event stream", "error", err)
	}
	if ev.Time.IsZero() {
		ev.Time = r.now()
	}
	r.broker.publishMemory(StreamEvent{Kind: StreamNode, Node: &ev})
}

// publishRemoved publishes the last event of a VM whose record is removed:
// the store cannot keep it, so it lives only in the stream.
func (r *Reconciler) publishRemoved(ctx context.Context, e *vm.Event) {
	if err := r.seedBroker(ctx); err != nil {
		r.log.Warn("reading the last event id for the event stream", "error", err)
	}
	r.broker.publishMemory(StreamEvent{Kind: StreamVM, VM: e})
}

// EventStream is one subscriber of the stream of VM and node changes:
// first what it missed after the position it resumes from, then every
// change as it is published. It is not safe for concurrent use.
type EventStream struct {
	rec     *Reconciler
	sub     *subscription
	pending []StreamEvent
	// While replay is set, VM events after `after` are read from the
	// store; ring (the broker's recent events) follows them.
	replay bool
	after  int64
	ring   []StreamEvent
	// replayed holds the ids at or above floor sent from the store, so
	// that the same events arriving from the ring or live are skipped.
	floor    int64
	replayed map[int64]struct{}
}

// Subscribe opens an event stream. With since "" it carries what is
// published from now on. Otherwise it starts after the event at since (a
// Position): from the broker's ring when it still holds that position,
// exactly; else VM events after since's VM event id are read back from the
// store (node events are kept only in memory, so a gap marker says they may
// be missing when the ring has dropped some), then the ring, then live.
// Close the stream when done.
func (s *Service) Subscribe(ctx context.Context, since string) (*EventStream, error) {
	var pos *Position
	if since != "" {
		p, err := ParsePosition(since)
		if err != nil {
			return nil, errorf(KindBadRequest, "since: %v", err)
		}
		pos = &p
	}
	r := s.rec
	if err := r.seedBroker(ctx); err != nil {
		return nil, storeError("opening the event stream", err)
	}
	sub, backlog, found, evicted, err := r.broker.subscribe(pos)
	if err != nil {
		return nil, &Error{Kind: KindUnavailable, Message: "the event stream is closed: the server is shutting down", Err: err}
	}
	es := &EventStream{rec: r, sub: sub}
	if found {
		es.pending = backlog
		return es, nil
	}
	es.replay, es.after, es.ring = true, pos.VMEvent, backlog
	es.replayed = make(map[int64]struct{})
	es.floor = r.broker.latestVM() + 1
	for _, ev := range backlog {
		if ev.Kind == StreamVM && ev.VM.ID > 0 && ev.VM.ID < es.floor {
			es.floor = ev.VM.ID
		}
	}
	if evicted || pos.Seq > 0 {
		es.pending = append(es.pending, StreamEvent{Kind: StreamGap, Gap: &Gap{
			Resume: *pos,
			Message: fmt.Sprintf("the server no longer holds the events right after %s: VM events are replayed from the database, "+
				"node events in between are not kept and may be missing", pos),
		}})
	}
	return es, nil
}

// Next returns the next event, waiting for one until ctx ends (then it
// returns ctx's error). ErrStreamClosed means the server is shutting down.
func (es *EventStream) Next(ctx context.Context) (StreamEvent, error) {
	for {
		if len(es.pending) > 0 {
			ev := es.pending[0]
			es.pending = es.pending[1:]
			return ev, nil
		}
		if es.replay {
			page, err := es.rec.store.Events().Since(ctx, es.after, replayPage)
			if err != nil {
				return StreamEvent{}, storeError("replaying events", err)
			}
			if len(page) == 0 {
				es.replay = false
				for _, ev := range es.ring {
					if !es.seen(ev) {
						es.pending = append(es.pending, ev)
					}
				}
				es.ring = nil
				continue
			}
			for _, e := range page {
				es.after = e.ID
				if e.ID >= es.floor {
					es.replayed[e.ID] = struct{}{}
				}
				es.pending = append(es.pending, StreamEvent{Pos: Position{VMEvent: e.ID}, Kind: StreamVM, VM: e})
			}
			continue
		}
		ev, err := es.sub.next(ctx.Done())
		if errors.Is(err, errDone) {
			return StreamEvent{}, ctx.Err()
		}
		if err != nil {
			return StreamEvent{}, err
		}
		if es.seen(ev) {
			continue
		}
		return ev, nil
	}
}

// seen reports whether ev was sent already by the store replay.
func (es *EventStream) seen(ev StreamEvent) bool {
	if ev.Kind != StreamVM || ev.VM.ID == 0 || es.replayed == nil {
		return false
	}
	if _, ok := es.replayed[ev.VM.ID]; ok {
		delete(es.replayed, ev.VM.ID)
		return true
	}
	return false
}

// Close ends the subscription.
func (es *EventStream) Close() { es.sub.close() }
