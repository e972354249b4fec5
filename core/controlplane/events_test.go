package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

// TestEventStreamResume: resuming from a position the ring no longer
// holds replays VM events from the store, without duplicates, says that
// memory-only events may be missing, and goes on live.
func TestEventStreamResume(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnvWith(t, driver, false, func(o *ReconcilerOptions) { o.Broker = events.NewBroker(events.BrokerOptions{RingSize: 4}) })
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
		e.svc.Broker().PublishMemory(events.StreamEvent{Kind: events.StreamNode, Node: &events.NodeEvent{NodeID: "n1", NewState: node.StateReady}})
		ids = append(ids, edit().ID)

		es, err := e.svc.Subscribe(ctx, events.Position{VMEvent: ids[1]}.String())
		if err != nil {
			t.Fatal(err)
		}
		defer es.Close()
		if ev := nextEvent(t, es); ev.Kind != events.StreamGap {
			t.Fatalf("first event %+v, want a gap marker: the ring dropped events", ev)
		}
		var got []int64
		nodes := 0
		for len(got) < len(ids)-2 || nodes == 0 {
			ev := nextEvent(t, es)
			switch ev.Kind {
			case events.StreamVM:
				got = append(got, ev.VM.ID)
			case events.StreamNode:
				nodes++
			default:
				t.Fatalf("unexpected %+v", ev)
			}
		}
		if !equalIDs(got, ids[2:]) || nodes != 1 {
			t.Errorf("replayed %v and %d node events, want %v and 1", got, nodes, ids[2:])
		}
		live := edit()
		if ev := nextEvent(t, es); ev.Kind != events.StreamVM || ev.VM.ID != live.ID {
			t.Errorf("live event %+v, want %d", ev, live.ID)
		}

		// From a position the ring holds: exactly what followed, no gap.
		es2, err := e.svc.Subscribe(ctx, events.Position{VMEvent: ids[len(ids)-1]}.String())
		if err != nil {
			t.Fatal(err)
		}
		defer es2.Close()
		if ev := nextEvent(t, es2); ev.Kind != events.StreamVM || ev.VM.ID != live.ID {
			t.Errorf("resume from the ring: %+v, want %d", ev, live.ID)
		}
		if _, err := e.svc.Subscribe(ctx, "nope"); KindOf(err) != KindBadRequest {
			t.Errorf("Subscribe(nope) = %v, want a bad request", err)
		}
		e.svc.Broker().Close()
		if _, err := es2.Next(ctx); !errors.Is(err, events.ErrStreamClosed) {
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
			if ev := nextEvent(t, live); ev.Kind == events.StreamVM {
				liveIDs = append(liveIDs, ev.VM.ID)
			}
		}
		if liveIDs[0] != stored[0].ID || liveIDs[1] != stored[1].ID {
			t.Errorf("live stream sent events %v, the store holds %d and %d", liveIDs, stored[0].ID, stored[1].ID)
		}
		for _, since := range []string{"0", events.Position{VMEvent: stored[0].ID}.String()} {
			es, err := e.svc.Subscribe(ctx, since)
			if err != nil {
				t.Fatal(err)
			}
			var got []*vm.Event
			for want := len(stored); since != "0" && want > 1 || since == "0" && want > 0; want-- {
				ev := nextEvent(t, es)
				for ev.Kind != events.StreamVM {
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

// TestCompleteOverDiscoveredStreamsAgree: a create that completes over the
// record a host report inserted for the same VM keeps that record's
// events (its discovery) with the VM's history, so that a stream resumed
// from the ring and one replayed from the store tell the same events.
func TestCompleteOverDiscoveredStreamsAgree(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver, false)
		r := e.svc.rec
		ctx := context.Background()
		base := e.seed(t, "base", vm.StateStopped, "n1")
		d := "a position to resume from"
		if _, err := e.svc.Patch(ctx, base.ID, PatchRequest{Description: &d}); err != nil {
			t.Fatal(err)
		}
		baseEvs := e.events(t, base.ID)
		from := events.Position{VMEvent: baseEvs[len(baseEvs)-1].ID}

		observed := &backend.VM{ID: "uuid-agree", Name: "agree", State: backend.StateStopped}
		if v, err := r.Apply(ctx, "n1", observed, Note{Cause: vm.CauseHost}); err != nil || v.Origin != vm.OriginHostDiscovered {
			t.Fatalf("report of an unknown vm = %+v, %v; want it discovered", v, err)
		}
		p := &vm.VM{ID: "ph-agree", Name: "agree", Origin: vm.OriginControlPlane, IsManaged: true, NodeID: "n1"}
		if err := r.Reserve(ctx, p, Note{Cause: vm.CauseAPI, Action: "create", Message: "creation requested"}); err != nil {
			t.Fatal(err)
		}
		v, err := r.Complete(ctx, p.ID, "n1", observed, vm.Spec{VCPUs: 1, MemoryMiB: 64}, Note{Cause: vm.CauseAPI, Action: "create"})
		if err != nil {
			t.Fatal(err)
		}
		stored := e.events(t, v.ID)
		last := stored[len(stored)-1].ID

		// collect reads es up to the event last, keeping those of the VM.
		collect := func(es *events.Stream) []string {
			t.Helper()
			defer es.Close()
			var got []string
			for {
				ev := nextEvent(t, es)
				if ev.Kind != events.StreamVM {
					continue
				}
				if ev.VM.VMID == v.ID {
					got = append(got, fmt.Sprintf("%d %s %s", ev.VM.ID, ev.VM.Action, ev.VM.NewState))
				}
				if ev.VM.ID >= last {
					return got
				}
			}
		}
		resumed, err := e.svc.Subscribe(ctx, from.String())
		if err != nil {
			t.Fatal(err)
		}
		fromRing := collect(resumed)
		// A server started afresh on the store has nothing in its ring: it
		// replays from the store.
		fresh := events.NewBroker(events.BrokerOptions{})
		fresh.Seed(last)
		replayed, err := fresh.Subscribe(&from, e.store.Events())
		if err != nil {
			t.Fatal(err)
		}
		fromStore := collect(replayed)
		if !slices.Equal(fromRing, fromStore) {
			t.Errorf("events of vm %s resumed from the ring %q, replayed from the store %q; want the same", v.ID, fromRing, fromStore)
		}
		if len(fromStore) != 3 || !strings.Contains(fromStore[0], "discover") {
			t.Errorf("events of vm %s from the store %q; want its discovery, the creation requested and the create", v.ID, fromStore)
		}
	})
}
