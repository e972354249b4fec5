package clusterbus

import (
	"slices"
	"testing"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/vm"
)

// TestMergeStream: memory-only events go after the VM event their position
// names and before the next; a full page of one kind stops the merge where
// an event of it not read yet could come first.
func TestMergeStream(t *testing.T) {
	vms := func(ids ...int64) []*vm.Event {
		var out []*vm.Event
		for _, id := range ids {
			out = append(out, &vm.Event{ID: id})
		}
		return out
	}
	mem := func(pos ...events.Position) []events.StreamEvent {
		var out []events.StreamEvent
		for _, p := range pos {
			out = append(out, events.StreamEvent{Kind: events.StreamNode, Pos: p})
		}
		return out
	}
	p := func(v, s int64) events.Position { return events.Position{VMEvent: v, Seq: s} }
	for _, tc := range []struct {
		name            string
		evs             []*vm.Event
		mem             []events.StreamEvent
		moreVM, moreMem bool
		want            []events.Position
	}{
		{"vm only", vms(1, 2), nil, false, false, []events.Position{p(1, 0), p(2, 0)}},
		{"memory only", nil, mem(p(4, 5), p(4, 6)), false, false, []events.Position{p(4, 5), p(4, 6)}},
		{"interleaved", vms(3, 7, 9), mem(p(2, 3), p(3, 4), p(3, 5), p(7, 8), p(9, 10)), false, false,
			[]events.Position{p(2, 3), p(3, 0), p(3, 4), p(3, 5), p(7, 0), p(7, 8), p(9, 0), p(9, 10)}},
		{"vm page full", vms(3, 7), mem(p(3, 4), p(7, 8), p(9, 10)), true, false,
			[]events.Position{p(3, 0), p(3, 4), p(7, 0)}},
		{"memory page full", vms(3, 7, 9), mem(p(3, 4)), false, true,
			[]events.Position{p(3, 0), p(3, 4)}},
		{"both full", vms(3, 7), mem(p(1, 2), p(7, 8)), true, true,
			[]events.Position{p(1, 2), p(3, 0), p(7, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []events.Position
			for _, ev := range mergeStream(tc.evs, tc.mem, tc.moreVM, tc.moreMem) {
				got = append(got, ev.Pos)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("merged %v, want %v", got, tc.want)
			}
		})
	}
}
