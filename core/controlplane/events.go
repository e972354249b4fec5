package controlplane

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/store"
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

// LatestQuery selects the newest VM events of every VM (LatestEvents).
// Zero values do not filter.
type LatestQuery struct {
	// VM is a VM's id or name; its events only.
	VM string
	// Node is a node's id or name: the events of the VMs placed on it now.
	Node   string
	Action string
	Cause  vm.Cause
	// Before continues back from the oldest event of a page (its
	// NextBefore); "" starts at the newest.
	Before string
	// Limit is 1..MaxEventPage; 0 means DefaultEventPage.
	Limit int
}

// LatestPage is the newest events that match a LatestQuery, newest first.
type LatestPage struct {
	Events []*vm.Event
	// ResumeSince is the position of the event stream (Subscribe) that
	// carries on right after this history: the last VM event stored when
	// the page was read, "0" when there was none. The page holds no event
	// past it, so a page followed by the stream from there misses nothing
	// and repeats nothing.
	ResumeSince string
	// NextBefore continues with older events (LatestQuery.Before); "" when
	// none are left. (A page of MaxEventPage events always has one, which
	// may lead to an empty page.)
	NextBefore string
}

// LatestEvents returns the newest VM events that match q, newest first,
// and where the event stream continues from. The store reads them from an
// index backwards, so the cost follows the limit, not the history's size.
func (s *Service) LatestEvents(ctx context.Context, q LatestQuery) (*LatestPage, error) {
	var err error
	if q.Limit, err = pageLimit(q.Limit); err != nil {
		return nil, err
	}
	// One more than asked tells whether older events are left (at the
	// largest page, a full page is taken to have more).
	sq := store.EventQuery{Action: q.Action, Cause: q.Cause, Limit: min(q.Limit+1, MaxEventPage)}
	switch q.Cause {
	case "", vm.CauseAPI, vm.CauseHost, vm.CauseReconciler:
	default:
		return nil, errorf(KindBadRequest, "cause: %q is not one of %s, %s, %s", q.Cause, vm.CauseAPI, vm.CauseHost, vm.CauseReconciler)
	}
	if sq.Before, err = parseBefore(q.Before, "an event id"); err != nil {
		return nil, err
	}
	if q.VM != "" {
		v, err := s.Get(ctx, q.VM)
		if KindOf(err) == KindNotFound {
			return nil, errorf(KindBadRequest, "vm_id: vm %q not found", q.VM)
		}
		if err != nil {
			return nil, err
		}
		sq.VMID = v.ID
	}
	if q.Node != "" {
		n, err := s.node(ctx, q.Node)
		if KindOf(err) == KindNotFound {
			return nil, errorf(KindBadRequest, "node_id: node %q not found", q.Node)
		}
		if err != nil {
			return nil, err
		}
		sq.NodeID = n.ID
	}
	// The stream's position first: an event stored after it comes through
	// the stream, not the page.
	last, err := s.store.Events().LastID(ctx)
	if err != nil {
		return nil, storeError("reading the last event id", err)
	}
	if sq.Before == 0 || sq.Before > last+1 {
		sq.Before = last + 1
	}
	list, err := s.store.Events().Latest(ctx, sq)
	if err != nil {
		return nil, storeError("listing the latest events", err)
	}
	page := &LatestPage{ResumeSince: strconv.FormatInt(last, 10)}
	page.Events, page.NextBefore = trimPage(list, q.Limit, func(e *vm.Event) int64 { return e.ID })
	return page, nil
}

// pageLimit is the number of events a page asks for: 1..MaxEventPage, 0
// meaning DefaultEventPage.
func pageLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultEventPage, nil
	case limit < 1 || limit > MaxEventPage:
		return 0, errorf(KindBadRequest, "limit: %d is outside 1..%d", limit, MaxEventPage)
	}
	return limit, nil
}

// parseBefore reads a page's before, the next_before of the page before
// it (what names the kind of id); 0 when empty.
func parseBefore(before, what string) (int64, error) {
	if before == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(before, 10, 64)
	if err != nil || n < 1 {
		return 0, errorf(KindBadRequest, "before: %q is not %s (the next_before of a page)", before, what)
	}
	return n, nil
}

// trimPage cuts list, read with one more than limit (at most
// MaxEventPage), to limit, and says where the next page continues: the id
// of its oldest event when older ones are left (a page of MaxEventPage is
// taken to have more), "" otherwise.
func trimPage[E any](list []E, limit int, id func(E) int64) ([]E, string) {
	more := len(list) > limit || len(list) == MaxEventPage
	if len(list) > limit {
		list = list[:limit]
	}
	if !more {
		return list, ""
	}
	return list, strconv.FormatInt(id(list[len(list)-1]), 10)
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

// nodeEventStoreTimeout bounds the storing of one node event, which goes on
// even when the change's own context ends (an agent's session closing).
const nodeEventStoreTimeout = 5 * time.Second

// publishNode publishes a node change on the stream, then stores it with
// its position (one row per change in the cluster: the server that makes a
// change publishes it). A change that cannot be stored is still published,
// with a warning.
func (r *Reconciler) publishNode(ctx context.Context, ev events.NodeEvent) {
	if err := r.seedBroker(ctx); err != nil {
		r.log.Warn("reading the last event id for the event stream", "error", err)
	}
	if ev.Time.IsZero() {
		ev.Time = r.now()
	}
	se := events.StreamEvent{Kind: events.StreamNode, Node: &ev}
	var pos events.Position
	if pp, ok := r.pub.(events.PositionPublisher); ok {
		pos, _ = pp.PublishMemoryPos(se)
	} else {
		r.pub.PublishMemory(se)
	}
	rec := &store.NodeEvent{NodeID: ev.NodeID, NodeName: ev.NodeName, Time: ev.Time, Action: ev.Action,
		OldState: ev.OldState, NewState: ev.NewState, Healthy: ev.Healthy, Message: ev.Message,
		StreamVMEvent: pos.VMEvent, StreamSeq: pos.Seq}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), nodeEventStoreTimeout)
	defer cancel()
	if err := r.store.NodeEvents().Append(sctx, rec); err != nil {
		r.log.Warn("storing a node event; it was published on the event stream but will not be listed", "node", ev.NodeName, "action", ev.Action, "error", err)
	}
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
	// In a cluster the publisher keeps every server's node changes too,
	// and a resumed stream replays them with the VM events.
	var history events.History = s.store.Events()
	if rp, ok := r.pub.(events.Replayer); ok {
		history = rp
	}
	es, err := r.broker.Subscribe(pos, history)
	if err != nil {
		return nil, &Error{Kind: KindUnavailable, Message: "the event stream is closed: the server is shutting down", Err: err}
	}
	return es, nil
}

// NodeEventQuery selects the newest stored node events (LatestNodeEvents).
type NodeEventQuery struct {
	// Node is a node's id or name; its events only. The events of a
	// removed node stay listed under its id.
	Node string
	// Before continues back from the oldest event of a page (its
	// NextBefore); "" starts at the newest.
	Before string
	// Limit is 1..MaxEventPage; 0 means DefaultEventPage.
	Limit int
}

// NodeEventPage is the newest stored node events, newest first.
type NodeEventPage struct {
	Events []*store.NodeEvent
	// ResumeSince is the position of the event stream read before the
	// page: the stream from there carries the changes after the page,
	// and may carry again the newest node events of the page (same ids).
	ResumeSince string
	// NextBefore continues with older events; "" when none are left.
	NextBefore string
}

// LatestNodeEvents returns the newest stored node events that match q,
// newest first.
func (s *Service) LatestNodeEvents(ctx context.Context, q NodeEventQuery) (*NodeEventPage, error) {
	var err error
	if q.Limit, err = pageLimit(q.Limit); err != nil {
		return nil, err
	}
	sq := store.NodeEventQuery{Limit: min(q.Limit+1, MaxEventPage)}
	if sq.Before, err = parseBefore(q.Before, "a node event id"); err != nil {
		return nil, err
	}
	if q.Node != "" {
		n, err := s.node(ctx, q.Node)
		switch {
		case err == nil:
			sq.NodeID = n.ID
		case KindOf(err) == KindNotFound:
			// A removed node: its history stays under its id.
			old, lerr := s.store.NodeEvents().Latest(ctx, store.NodeEventQuery{NodeID: q.Node, Limit: 1})
			if lerr != nil {
				return nil, storeError("listing node events", lerr)
			}
			if len(old) == 0 {
				return nil, err
			}
			sq.NodeID = q.Node
		default:
			return nil, err
		}
	}
	last, err := s.store.Events().LastID(ctx)
	if err != nil {
		return nil, storeError("reading the last event id", err)
	}
	list, err := s.store.NodeEvents().Latest(ctx, sq)
	if err != nil {
		return nil, storeError("listing node events", err)
	}
	page := &NodeEventPage{ResumeSince: strconv.FormatInt(last, 10)}
	page.Events, page.NextBefore = trimPage(list, q.Limit, func(e *store.NodeEvent) int64 { return e.ID })
	return page, nil
}
