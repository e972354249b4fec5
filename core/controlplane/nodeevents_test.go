package controlplane

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/teststore"
)

// TestNodeEventsStored: each node change published is stored once, with
// the position the stream gave it, and listed newest first by node id or
// name; a removed node's history stays under its id.
func TestNodeEventsStored(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver, false)
		ctx := context.Background()
		sub, err := e.svc.Subscribe(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		a := e.register(t, "node-a", 0)
		e.rec.Disconnected(ctx, a)
		var streamed []events.StreamEvent
		for len(streamed) < 2 {
			if ev := nextEvent(t, sub); ev.Kind == events.StreamNode {
				streamed = append(streamed, ev)
			}
		}
		page, err := e.svc.LatestNodeEvents(ctx, NodeEventQuery{Node: "node-a"})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != 2 {
			t.Fatalf("%d node events stored, want 2: %+v", len(page.Events), page.Events)
		}
		for i, got := range page.Events {
			want := streamed[1-i]
			pos := events.Position{VMEvent: got.StreamVMEvent, Seq: got.StreamSeq}
			if pos != want.Pos || got.Action != want.Node.Action || got.NodeID != a || got.NodeName != "node-a" ||
				!got.Time.Equal(want.Node.Time.Truncate(time.Microsecond)) || got.Message != want.Node.Message {
				t.Errorf("stored %d = %+v at %s, streamed %+v at %s", i, got, pos, want.Node, want.Pos)
			}
		}
		// Removed, the node keeps its history under its id.
		if _, err := e.svc.RemoveNode(ctx, a, true); err != nil {
			t.Fatal(err)
		}
		page, err = e.svc.LatestNodeEvents(ctx, NodeEventQuery{Node: a, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != 1 || page.Events[0].Action != "remove" || page.NextBefore == "" {
			t.Errorf("the removed node's newest event: %+v (next_before %q)", page.Events, page.NextBefore)
		}
		if _, err := e.svc.LatestNodeEvents(ctx, NodeEventQuery{Node: "node-a"}); KindOf(err) != KindNotFound {
			t.Errorf("events of the removed node by its name: %v, want not found", err)
		}
	})
}

// failingNodeEvents is a node event repository whose appends fail.
type failingNodeEvents struct{ store.NodeEventRepo }

func (failingNodeEvents) Append(context.Context, *store.NodeEvent) error {
	return errors.New("the disk is full")
}

type failingNodeEventStore struct{ store.Store }

func (s failingNodeEventStore) NodeEvents() store.NodeEventRepo {
	return failingNodeEvents{s.Store.NodeEvents()}
}

// TestNodeEventStoreFailure: a node change that cannot be stored is still
// published on the stream.
func TestNodeEventStoreFailure(t *testing.T) {
	st := failingNodeEventStore{teststore.Open(t, "sqlite")}
	svc, err := New(Options{Store: st, Executor: agentserver.NewDispatcher(), Logger: testlog.New(t, hclog.Error)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Reconciler().Close)
	ctx := context.Background()
	sub, err := svc.Subscribe(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := svc.Reconciler().Register(ctx, nodeapi.Registration{NodeName: "node-f", Backend: node.Backend{Name: "sim", Healthy: true}}); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, sub); ev.Kind != events.StreamNode || ev.Node.NodeName != "node-f" || ev.Node.Action != "register" {
		t.Errorf("stream event %+v, want node-f's registration", ev)
	}
	if id, err := st.Store.NodeEvents().LastID(ctx); err != nil || id != 0 {
		t.Errorf("LastID = %d, %v; want nothing stored", id, err)
	}
}
