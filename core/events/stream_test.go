package events

import (
	"context"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/vm"
)

// history is a History over a list of stored events, in id order.
type history []*vm.Event

func (h history) Since(_ context.Context, after int64, limit int) ([]*vm.Event, error) {
	var out []*vm.Event
	for _, e := range h {
		if e.ID > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

// TestResumeAheadOfBroker: a client resuming from a position this broker
// has not published yet (it comes from a server that is ahead) gets what
// follows from the store, and nothing this broker publishes later that the
// client has: VM events up to the last replayed, node events before its
// position.
func TestResumeAheadOfBroker(t *testing.T) {
	b := NewBroker(BrokerOptions{})
	b.Seed(10)
	b.PublishVM(vmEv(11), vmEv(12))
	stored := history{vmEv(11), vmEv(12), vmEv(13), vmEv(14), vmEv(15)}
	es, err := b.Subscribe(&Position{VMEvent: 14}, stored)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	// The broker catches up: 13 to 15, a node event after 13 (the client
	// has it) and one after 15 (it has not), then 16.
	b.PublishVM(vmEv(13))
	b.PublishMemoryAt(40, StreamEvent{Kind: StreamNode, Node: &NodeEvent{NodeID: "old"}})
	b.PublishVM(vmEv(14), vmEv(15))
	b.PublishMemoryAt(41, StreamEvent{Kind: StreamNode, Node: &NodeEvent{NodeID: "new"}})
	b.PublishVM(vmEv(16))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []string
	for len(got) < 3 {
		ev, err := es.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, ev.Kind+" "+ev.Pos.String())
	}
	if want := []string{"vm 15", "node 15.41", "vm 16"}; !equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
