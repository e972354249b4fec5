package events

import (
	"errors"
	"fmt"
	"testing"
	"time"

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
	b.Seed(10)
	b.PublishMemory(StreamEvent{Kind: StreamNode, Node: &NodeEvent{NodeID: "n1"}})
	b.PublishVM(vmEv(11), vmEv(12))
	b.PublishMemory(StreamEvent{Kind: StreamNode, Node: &NodeEvent{NodeID: "n2"}})
	b.PublishVM(vmEv(13))

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
	b.PublishVM(vmEv(14))
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
		b.PublishVM(vmEv(id))
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
	b.PublishVM(vmEv(1001))
	if ev := next(t, slow); ev.Kind != StreamVM || ev.VM.ID != 1001 {
		t.Fatalf("after the gap: %+v", ev)
	}
	// Dropping while a gap marker is still queued: the marker goes first,
	// the later drop gets a marker of its own.
	for id := int64(1002); id <= 1010; id++ {
		b.PublishVM(vmEv(id))
	}
	if ev := next(t, slow); ev.VM == nil || ev.VM.ID != 1002 {
		t.Fatalf("got %+v, want 1002", ev)
	}
	b.PublishVM(vmEv(1011))
	var got []string
	for i := range 6 {
		if i == 5 {
			b.PublishVM(vmEv(1012))
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
