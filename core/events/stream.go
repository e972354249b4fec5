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
	// replayed holds the ids at or above floor sent from the history, so
	// that the same events arriving from the ring or live are skipped.
	floor    int64
	replayed map[int64]struct{}
}

// Subscribe opens a stream. With since nil it carries what is published
// from now on. Otherwise it starts after the event at since: from the
// ring when it still holds that position, exactly; else VM events after
// since's VM event id are read back from history (node events are kept
// only in memory, so a gap marker says they may be missing when the ring
// has dropped some), then the ring, then live. Seed the broker first, so
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
	es.replayed = make(map[int64]struct{})
	es.floor = b.latestVM() + 1
	for _, ev := range backlog {
		if ev.Kind == StreamVM && ev.VM.ID > 0 && ev.VM.ID < es.floor {
			es.floor = ev.VM.ID
		}
	}
	if evicted || since.Seq > 0 {
		es.pending = append(es.pending, StreamEvent{Kind: StreamGap, Gap: &Gap{
			Resume: *since,
			Message: fmt.Sprintf("the server no longer holds the events right after %s: VM events are replayed from the database, "+
				"node events in between are not kept and may be missing", since),
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
			page, err := es.history.Since(ctx, es.after, replayPage)
			if err != nil {
				return StreamEvent{}, fmt.Errorf("replaying events: %w", err)
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

// seen reports whether ev was sent already by the replay.
func (es *Stream) seen(ev StreamEvent) bool {
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
func (es *Stream) Close() { es.sub.close() }
