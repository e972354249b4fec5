package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/quantixvm/quantix/core/vm"
)

// replayPage is how many stored events one read of a stream's replay takes.
const replayPage = 500

// History is where stored VM events are read back from when a stream
// resumes from a position the broker's ring no longer holds: the store's
// event repository.
type History interface {
	// Since returns the events of every VM with ID > afterID, oldest
	// first, at most limit.
	Since(ctx context.Context, afterID int64, limit int) ([]*vm.Event, error)
}

// Replayer is a History that also keeps the events kept only in memory
// elsewhere (node changes, removals of unmanaged VMs' records) with their
// positions: core/clusterbus on PostgreSQL, where every server's such
// events are stored as they are sent. A stream resuming from a position
// its broker no longer holds replays everything through it, in stream
// order, and needs no gap marker.
type Replayer interface {
	History
	// ReadSince returns the events after position after, in stream order,
	// at most about limit: VM events at their ids, the others at their
	// positions. Empty when none follows.
	ReadSince(ctx context.Context, after Position, limit int) ([]StreamEvent, error)
}

// Stream is one subscriber of the stream of VM and node changes: first
// what it missed after the position it resumes from, then every change as
// it is published. It is not safe for concurrent use.
type Stream struct {
	history History
	sub     *subscription
	pending []StreamEvent
	// While replay is set, VM events after `after` are read from the
	// history; ring (the broker's recent events) follows them.
	replay bool
	after  int64
	ring   []StreamEvent
	// resumed is set when the stream resumed from since, a position the
	// broker's ring did not hold: then what the ring and the live events
	// hold at or before since, or at or before the last VM event replayed,
	// is left out (VM event ids are handed out in commit order, so none
	// of those can be new to the client).
	resumed bool
	since   Position
	// With a Replayer (full), replay reads every kind of event, and last
	// is the position of the last one the client has: anything at or
	// before it is left out of the ring and the live events.
	full bool
	last Position
}

// Subscribe opens a stream. With since nil it carries what is published
// from now on. Otherwise it starts after the event at since: from the
// ring when it still holds that position, exactly; else VM events after
// since's VM event id are read back from history (a plain History does
// not give node events back, so a gap marker says they may be missing when
// the ring has dropped some), then the ring, then live. A history that is a
// Replayer gives the node events back too, in order, and no gap marker is
// needed. Seed the broker first, so
// that positions follow the stored events. After Close it returns
// ErrStreamClosed. Close the stream when done.
func (b *Broker) Subscribe(since *Position, history History) (*Stream, error) {
	sub, backlog, found, evicted, err := b.subscribe(since)
	if err != nil {
		return nil, err
	}
	es := &Stream{history: history, sub: sub}
	if found {
		es.pending = backlog
		return es, nil
	}
	es.replay, es.after, es.ring = true, since.VMEvent, backlog
	es.resumed, es.since = true, *since
	if _, ok := history.(Replayer); ok {
		es.full, es.last = true, *since
		return es, nil
	}
	if evicted || since.Seq > 0 {
		es.pending = append(es.pending, StreamEvent{Kind: StreamGap, Gap: &Gap{
			Resume: *since,
			Message: fmt.Sprintf("the server no longer holds the events right after %s: VM events are replayed from the database, "+
				"node events in between are not read back and may be missing", since),
		}})
	}
	return es, nil
}

// Next returns the next event, waiting for one until ctx ends (then it
// returns ctx's error). ErrStreamClosed means the broker was closed (the
// server is shutting down); any other error is the history's.
func (es *Stream) Next(ctx context.Context) (StreamEvent, error) {
	for {
		if len(es.pending) > 0 {
			ev := es.pending[0]
			es.pending = es.pending[1:]
			return ev, nil
		}
		if es.replay {
			more, err := es.replayNext(ctx)
			if err != nil {
				return StreamEvent{}, fmt.Errorf("replaying events: %w", err)
			}
			if !more {
				es.endReplay()
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

// replayNext reads the next page of the replay into pending and moves the
// stream past it; more is false when the history had nothing left.
func (es *Stream) replayNext(ctx context.Context) (more bool, err error) {
	if es.full {
		page, err := es.history.(Replayer).ReadSince(ctx, es.last, replayPage)
		if err != nil {
			return false, err
		}
		for _, ev := range page {
			if es.last.Before(ev.Pos) {
				es.last = ev.Pos
				es.pending = append(es.pending, ev)
			}
		}
		return len(page) > 0, nil
	}
	page, err := es.history.Since(ctx, es.after, replayPage)
	if err != nil {
		return false, err
	}
	for _, e := range page {
		es.after = e.ID
		es.pending = append(es.pending, StreamEvent{Pos: Position{VMEvent: e.ID}, Kind: StreamVM, VM: e})
	}
	return len(page) > 0, nil
}

// endReplay ends the replay: what the ring holds that the client does not
// have follows.
func (es *Stream) endReplay() {
	es.replay = false
	for _, ev := range es.ring {
		if !es.seen(ev) {
			es.pending = append(es.pending, ev)
		}
	}
	es.ring = nil
}

// seen reports whether the client has ev already: on a stream resumed
// from a position the ring did not hold, a VM event at or before the last
// one replayed (or since), a node event before since's VM event. That
// position may be older than the ring (the usual case), or newer than
// what this broker has published yet (a client that was on another server
// that is ahead of this one). With a Replayer, the client has every event
// at or before the last position it got, of any kind; an event seen lets
// through moves that position on.
func (es *Stream) seen(ev StreamEvent) bool {
	if !es.resumed {
		return false
	}
	switch {
	case ev.Kind == StreamGap:
		return false
	case es.full:
		if !es.last.Before(ev.Pos) {
			return true
		}
		es.last = ev.Pos
		return false
	case ev.Kind == StreamVM && ev.VM.ID > 0:
		return ev.VM.ID <= es.after
	}
	return ev.Pos.VMEvent < es.since.VMEvent
}

// Close ends the subscription.
func (es *Stream) Close() { es.sub.close() }
