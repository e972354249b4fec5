package store

import (
	"errors"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/node"
)

// TestNodeEvents: node events are stored with their stream position, listed
// newest first for one node or every node, paged back with Before, and bad
// input is refused without storing anything.
func TestNodeEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		if id, err := s.NodeEvents().LastID(ctx); err != nil || id != 0 {
			t.Fatalf("LastID of an empty table = %d, %v; want 0", id, err)
		}
		base := time.Date(2026, 3, 1, 3, 12, 0, 123456789, time.FixedZone("x", 3600))
		var all []*NodeEvent
		for i := range 12 {
			e := &NodeEvent{NodeID: []string{"n-a", "n-b", "n-c"}[i%3], NodeName: []string{"alpha", "beta", "gamma"}[i%3],
				Time: base.Add(time.Duration(i) * time.Minute), Action: []string{"register", "heartbeat", "unreachable"}[i%3],
				OldState: node.StateReady, NewState: node.StateUnreachable, Healthy: i%2 == 0, Message: "m",
				StreamVMEvent: int64(10 + i), StreamSeq: int64(i + 1)}
			if err := s.NodeEvents().Append(ctx, e); err != nil {
				t.Fatal(err)
			}
			if e.ID <= 0 || (len(all) > 0 && e.ID <= all[len(all)-1].ID) {
				t.Fatalf("event %d got id %d, want one above the previous", i, e.ID)
			}
			all = append(all, e)
		}
		got, err := s.NodeEvents().Latest(ctx, NodeEventQuery{Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || *got[0] != *all[11] || *got[1] != *all[10] || *got[2] != *all[9] {
			t.Fatalf("Latest(3) = %+v, want the last three newest first", got)
		}
		if !got[0].Time.Equal(base.Add(11*time.Minute).Truncate(time.Microsecond)) || got[0].Time.Location() != time.UTC {
			t.Errorf("time read back %v, want %v in UTC", got[0].Time, base.Add(11*time.Minute))
		}
		got, err = s.NodeEvents().Latest(ctx, NodeEventQuery{NodeID: "n-b", Before: all[10].ID, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != all[7].ID || got[1].ID != all[4].ID {
			t.Fatalf("Latest(n-b before %d, 2) = %+v, want events %d and %d", all[10].ID, got, all[7].ID, all[4].ID)
		}
		if got, err := s.NodeEvents().Latest(ctx, NodeEventQuery{NodeID: "ghost"}); err != nil || len(got) != 0 {
			t.Errorf("Latest of an unknown node = %v, %v; want none", got, err)
		}
		if got, err := s.NodeEvents().Latest(ctx, NodeEventQuery{Before: all[0].ID}); err != nil || len(got) != 0 {
			t.Errorf("Latest before the first = %v, %v; want none", got, err)
		}
		if id, err := s.NodeEvents().LastID(ctx); err != nil || id != all[11].ID {
			t.Errorf("LastID = %d, %v; want %d", id, err, all[11].ID)
		}
		for _, q := range []NodeEventQuery{{Limit: -1}, {Limit: maxPageSize + 1}, {Before: -1}} {
			if _, err := s.NodeEvents().Latest(ctx, q); !errors.Is(err, ErrInvalid) {
				t.Errorf("Latest(%+v) error %v, want ErrInvalid", q, err)
			}
		}
		for _, e := range []*NodeEvent{nil, {Action: "register"}, {NodeID: "n-a"}, {NodeID: "n-a", Action: "x", StreamSeq: -1}} {
			if err := s.NodeEvents().Append(ctx, e); !errors.Is(err, ErrInvalid) {
				t.Errorf("Append(%+v) error %v, want ErrInvalid", e, err)
			}
		}
		if id, _ := s.NodeEvents().LastID(ctx); id != all[11].ID {
			t.Errorf("refused appends stored something: LastID %d, want %d", id, all[11].ID)
		}
		// A zero time is now.
		e := &NodeEvent{NodeID: "n-a", Action: "disconnect"}
		before := time.Now().Add(-time.Second)
		if err := s.NodeEvents().Append(ctx, e); err != nil {
			t.Fatal(err)
		}
		if e.Time.Before(before) {
			t.Errorf("zero time stored as %v, want now", e.Time)
		}
	})
}
