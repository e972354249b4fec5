package controlplane

import (
	"context"
	"fmt"
	"strconv"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/vm"
)

// Page sizes of VM histories.
const (
	DefaultEventPage = 100
	MaxEventPage     = 1000
)

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
	if r.broker.Seeded() {
		return nil
	}
	id, err := r.store.Events().LastID(ctx)
	if err != nil {
		return err
	}
	r.broker.Seed(id)
	return nil
}

// publishNode publishes a node change on the stream (memory only).
func (r *Reconciler) publishNode(ctx context.Context, ev events.NodeEvent) {
	if err := r.seedBroker(ctx); err != nil {
		r.log.Warn("reading the last event id for the event stream", "error", err)
	}
	if ev.Time.IsZero() {
		ev.Time = r.now()
	}
	r.pub.PublishMemory(events.StreamEvent{Kind: events.StreamNode, Node: &ev})
}

// publishRemoved publishes the last event of a VM whose record is removed:
// the store cannot keep it, so it lives only in the stream.
func (r *Reconciler) publishRemoved(ctx context.Context, e *vm.Event) {
	if err := r.seedBroker(ctx); err != nil {
		r.log.Warn("reading the last event id for the event stream", "error", err)
	}
	r.pub.PublishMemory(events.StreamEvent{Kind: events.StreamVM, VM: e})
}

// Subscribe opens an event stream (events.Broker.Subscribe). With since ""
// it carries what is published from now on; otherwise it starts after the
// event at since (an events.Position), VM events the broker no longer holds
// read back from the store. Close the stream when done.
func (s *Service) Subscribe(ctx context.Context, since string) (*events.Stream, error) {
	var pos *events.Position
	if since != "" {
		p, err := events.ParsePosition(since)
		if err != nil {
			return nil, errorf(KindBadRequest, "since: %v", err)
		}
		pos = &p
	}
	r := s.rec
	if err := r.seedBroker(ctx); err != nil {
		return nil, storeError("opening the event stream", err)
	}
	es, err := r.broker.Subscribe(pos, s.store.Events())
	if err != nil {
		return nil, &Error{Kind: KindUnavailable, Message: "the event stream is closed: the server is shutting down", Err: err}
	}
	return es, nil
}
