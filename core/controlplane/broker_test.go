package controlplane

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/vm"
)

func TestPosition(t *testing.T) {
	for _, p := range []Position{{0, 0}, {42, 0}, {42, 7}, {0, 3}} {
		got, err := ParsePosition(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePosition(%q) = %v, %v", p.String(), got, err)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1.", "1.0", "1.2.3", "1.-2"} {
		if _, err := ParsePosition(bad); err == nil {
			t.Errorf("ParsePosition(%q) accepted", bad)
		}
	}
}

// vmEv is a stored VM event with id.
func vmEv(id int64) *vm.Event { return &vm.Event{ID: id, VMID: "v", Action: "x"} }

func next(t *testing.T, s *subscription) StreamEvent {
	t.Helper()
	done := make(chan struct{})
	timer := time.AfterFunc(time.Second, func() { close(done) })
	defer timer.Stop()
	ev, err := s.next(done)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return ev
}

// TestBrokerRing: a subscriber resuming from a position the ring holds gets
// exactly what followed it, memory-only events included.
func TestBrokerRing(t *testing.T) {
	b := NewBroker(BrokerOptions{RingSize: 4})
	b.seed(10)
	b.publishMemory(StreamEvent{Kind: StreamNode, Node: &NodeEvent{NodeID: "n1"}})
	b.publishVM(vmEv(11), vmEv(12))
	b.publishMemory(StreamEvent{Kind: StreamNode, Node: &NodeEvent{NodeID: "n2"}})
	b.publishVM(vmEv(13))

	want := []Position{{10, 1}, {11, 0}, {12, 0}, {12, 2}, {13, 0}}
	_, backlog, found, evicted, err := b.subscribe(&Position{11, 0})
	if err != nil || !found || !evicted {
		t.Fatalf("subscribe(11) found=%v evicted=%v err=%v", found, evicted, err)
	}
	if len(backlog) != 3 || backlog[0].Pos != want[2] || backlog[1].Pos != want[3] || backlog[2].Pos != want[4] {
		t.Errorf("backlog after 11 = %+v", backlog)
	}
	if _, _, found, _, _ := b.subscribe(&want[0]); found {
		t.Error("the evicted first event was still found")
	}
	s, backlog, found, _, _ := b.subscribe(nil)
	if !found || len(backlog) != 0 {
		t.Errorf("subscribe(nil) = %v, %v", backlog, found)
	}
	b.publishVM(vmEv(14))
	if ev := next(t, s); ev.Pos != (Position{14, 0}) || ev.VM.ID != 14 {
		t.Errorf("live event %+v", ev)
	}
	s.close()
	b.Close()
	if _, _, _, _, err := b.subscribe(nil); !errors.Is(err, ErrStreamClosed) {
		t.Errorf("subscribe after Close = %v", err)
	}
}

// TestBrokerSlowSubscriber: publishing never waits for a subscriber; one
// that falls behind gets a gap marker where events were dropped, then what
// follows, in order.
func TestBrokerSlowSubscriber(t *testing.T) {
	b := NewBroker(BrokerOptions{SubscriberBuffer: 4})
	slow, _, _, _, _ := b.subscribe(nil)
	fast, _, _, _, _ := b.subscribe(nil)
	go func() {
		for {
			if _, err := fast.next(nil); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	for id := int64(1); id <= 1000; id++ {
		b.publishVM(vmEv(id))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("publishing 1000 events with a stalled subscriber took %s", d)
	}
	for id := int64(1); id <= 4; id++ {
		if ev := next(t, slow); ev.Kind != StreamVM || ev.VM.ID != id {
			t.Fatalf("event %d: %+v", id, ev)
		}
	}
	gap := next(t, slow)
	if gap.Kind != StreamGap || gap.Gap.Dropped != 996 || gap.Gap.Resume != (Position{4, 0}) {
		t.Fatalf("want a gap of 996 resuming after 4, got %+v %+v", gap, gap.Gap)
	}
	b.publishVM(vmEv(1001))
	if ev := next(t, slow); ev.Kind != StreamVM || ev.VM.ID != 1001 {
		t.Fatalf("after the gap: %+v", ev)
	}
	// Dropping while a gap marker is still queued: the marker goes first,
	// the later drop gets a marker of its own.
	for id := int64(1002); id <= 1010; id++ {
		b.publishVM(vmEv(id))
	}
	if ev := next(t, slow); ev.VM == nil || ev.VM.ID != 1002 {
		t.Fatalf("got %+v, want 1002", ev)
	}
	b.publishVM(vmEv(1011))
	var got []string
	for i := range 6 {
		if i == 5 {
			b.publishVM(vmEv(1012))
		}
		ev := next(t, slow)
		switch ev.Kind {
		case StreamVM:
			got = append(got, ev.Pos.String())
		case StreamGap:
			got = append(got, fmt.Sprintf("gap %d after %s", ev.Gap.Dropped, ev.Gap.Resume))
		}
	}
	if want := []string{"1003", "1004", "1005", "gap 5 after 1005", "gap 1 after 1005", "1012"}; !equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	b.Close()
	if _, err := slow.next(nil); !errors.Is(err, ErrStreamClosed) {
		t.Errorf("next after Close = %v", err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestEventStreamResume: resuming from a position the ring no longer
// holds replays VM events from the store, without duplicates, says that
// memory-only events may be missing, and goes on live.
func TestEventStreamResume(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnvWith(t, driver, false, func(o *ReconcilerOptions) { o.Broker = NewBroker(BrokerOptions{RingSize: 4}) })
		ctx := context.Background()
		v := e.seed(t, "streamed", vm.StateStopped, "n1")
		edit := func() *vm.Event {
			d := "edit"
			if _, err := e.svc.Patch(ctx, v.ID, PatchRequest{Description: &d}); err != nil {
				t.Fatal(err)
			}
			evs := e.events(t, v.ID)
			return evs[len(evs)-1]
		}
		var ids []int64
		for range 10 {
			ids = append(ids, edit().ID)
		}
		// An event another server wrote: never published here.
		foreign := &vm.Event{VMID: v.ID, Action: "elsewhere", Cause: vm.CauseAPI}
		if err := e.store.Events().Append(ctx, foreign); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, foreign.ID)
		e.svc.Broker().publishMemory(StreamEvent{Kind: StreamNode, Node: &NodeEvent{NodeID: "n1", NewState: node.StateReady}})
		ids = append(ids, edit().ID)

		es, err := e.svc.Subscribe(ctx, Position{VMEvent: ids[1]}.String())
		if err != nil {
			t.Fatal(err)
		}
		defer es.Close()
		if ev := nextEvent(t, es); ev.Kind != StreamGap {
			t.Fatalf("first event %+v, want a gap marker: the ring dropped events", ev)
		}
		var got []int64
		nodes := 0
		for len(got) < len(ids)-2 || nodes == 0 {
			ev := nextEvent(t, es)
			switch ev.Kind {
			case StreamVM:
				got = append(got, ev.VM.ID)
			case StreamNode:
				nodes++
			default:
				t.Fatalf("unexpected %+v", ev)
			}
		}
		if !equalIDs(got, ids[2:]) || nodes != 1 {
			t.Errorf("replayed %v and %d node events, want %v and 1", got, nodes, ids[2:])
		}
		live := edit()
		if ev := nextEvent(t, es); ev.Kind != StreamVM || ev.VM.ID != live.ID {
			t.Errorf("live event %+v, want %d", ev, live.ID)
		}

		// From a position the ring holds: exactly what followed, no gap.
		es2, err := e.svc.Subscribe(ctx, Position{VMEvent: ids[len(ids)-1]}.String())
		if err != nil {
			t.Fatal(err)
		}
		defer es2.Close()
		if ev := nextEvent(t, es2); ev.Kind != StreamVM || ev.VM.ID != live.ID {
			t.Errorf("resume from the ring: %+v, want %d", ev, live.ID)
		}
		if _, err := e.svc.Subscribe(ctx, "nope"); KindOf(err) != KindBadRequest {
			t.Errorf("Subscribe(nope) = %v, want a bad request", err)
		}
		e.svc.Broker().Close()
		if _, err := es2.Next(ctx); !errors.Is(err, ErrStreamClosed) {
			t.Errorf("Next after the broker closed = %v", err)
		}
	})
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCreateHistoryInOrder: the events of a create (the placeholder's
// "creation requested", then the VM's record) keep their ids when the
// record takes the backend's UUID, so that a stream replayed from the
// store, or resumed from the ring, tells them in order and under the VM's
// id, and the ids the live stream gave are the stored ones.
func TestCreateHistoryInOrder(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver, true)
		ctx := context.Background()
		live, err := e.svc.Subscribe(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		defer live.Close()
		v, err := e.svc.Create(ctx, CreateRequest{Name: "ordered", VCPUs: 1, MemoryMiB: 64})
		if err != nil {
			t.Fatal(err)
		}
		stored := e.events(t, v.ID)
		if len(stored) != 2 || stored[0].ID >= stored[1].ID {
			t.Fatalf("stored history %+v, want two events in id order", stored)
		}
		var liveIDs []int64
		for len(liveIDs) < 2 {
			if ev := nextEvent(t, live); ev.Kind == StreamVM {
				liveIDs = append(liveIDs, ev.VM.ID)
			}
		}
		if liveIDs[0] != stored[0].ID || liveIDs[1] != stored[1].ID {
			t.Errorf("live stream sent events %v, the store holds %d and %d", liveIDs, stored[0].ID, stored[1].ID)
		}
		for _, since := range []string{"0", Position{VMEvent: stored[0].ID}.String()} {
			es, err := e.svc.Subscribe(ctx, since)
			if err != nil {
				t.Fatal(err)
			}
			var got []*vm.Event
			for want := len(stored); since != "0" && want > 1 || since == "0" && want > 0; want-- {
				ev := nextEvent(t, es)
				for ev.Kind != StreamVM {
					ev = nextEvent(t, es)
				}
				got = append(got, ev.VM)
			}
			es.Close()
			rest := stored
			if since != "0" {
				rest = stored[1:]
			}
			for i, g := range got {
				if g.ID != rest[i].ID || g.VMID != v.ID {
					t.Errorf("since %s: event %d is %d of vm %s, want %d of vm %s", since, i, g.ID, g.VMID, rest[i].ID, v.ID)
				}
			}
		}
	})
}
