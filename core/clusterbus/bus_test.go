package clusterbus

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/logs"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/logsink"
)

func TestMain(m *testing.M) {
	code := m.Run()
	teststore.Cleanup()
	os.Exit(code)
}

// server is one server's end of the streams: its own store handle on the
// shared database, broker and bus.
type server struct {
	st     store.Store
	broker *events.Broker
	bus    *Bus
	pipe   *logs.Pipeline
	sink   *countingSink
}

// cluster opens n servers on one fresh PostgreSQL database, each with a log
// pipeline (store and one sink) when withLogs, and runs their buses until
// the test ends.
func cluster(t testing.TB, n int, withLogs bool) []*server {
	t.Helper()
	return clusterWith(t, n, withLogs, events.BrokerOptions{})
}

// clusterWith is cluster with every server's broker made with bopts.
func clusterWith(t testing.TB, n int, withLogs bool, bopts events.BrokerOptions) []*server {
	t.Helper()
	dsn := teststore.PostgresDSN(t)
	out := make([]*server, n)
	for i := range out {
		st, err := store.Open(context.Background(), "postgres", dsn, nil)
		if err != nil {
			t.Fatalf("opening store %d: %v", i, err)
		}
		s := &server{st: st, broker: events.NewBroker(bopts)}
		opts := Options{Store: st, Broker: s.broker}
		if withLogs {
			s.sink = &countingSink{seen: map[string]int{}}
			s.pipe, err = logs.Open(logs.Options{Dir: t.TempDir(), Store: st.Logs(),
				Sinks: []logs.Sink{{Name: "count", Writer: s.sink}},
				Batch: logs.BatchOptions{MaxWait: 20 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			opts.Logs = s.pipe
		}
		if s.bus, err = New(opts); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = s.bus.Run(ctx)
		}()
		t.Cleanup(func() {
			cancel()
			<-done
			if s.pipe != nil {
				_ = s.pipe.Close(context.Background())
			}
			s.broker.Close()
			_ = st.Close()
		})
		select {
		case <-s.bus.Ready():
		case <-time.After(30 * time.Second):
			t.Fatalf("bus %d never connected", i)
		}
		out[i] = s
	}
	return out
}

// countingSink counts what it is sent, per entry id.
type countingSink struct {
	mu   sync.Mutex
	seen map[string]int
}

func (c *countingSink) Write(_ context.Context, entries []logsink.Entry) ([]logsink.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range entries {
		c.seen[e.ID]++
	}
	return logsink.AllDelivered(len(entries)), nil
}

func (c *countingSink) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[id]
}

func newVM(id string) *vm.VM {
	return &vm.VM{ID: id, Name: id, Origin: vm.OriginControlPlane, IsManaged: true, DesiredState: vm.DesiredRunning,
		RestartPolicy: vm.RestartNever, Spec: vm.Spec{VCPUs: 1, MemoryMiB: 64}, State: vm.StateStopped}
}

// addVM stores a VM and its first event through s.
func addVM(t testing.TB, s *server, id string) *vm.Event {
	t.Helper()
	ev := &vm.Event{VMID: id, Action: "create", NewState: vm.StateStopped, Cause: vm.CauseAPI}
	err := s.st.Tx(context.Background(), func(tx store.Store) error {
		if err := tx.VMs().Create(context.Background(), newVM(id)); err != nil {
			return err
		}
		return tx.Events().Append(context.Background(), ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// collector reads a stream in the background, resumed (since) through
// the bus as a server's streams are: every kind of event is read back.
type collector struct {
	mu  sync.Mutex
	got []events.StreamEvent
	err error
}

func collect(t testing.TB, s *server, since *events.Position) *collector {
	t.Helper()
	es, err := s.broker.Subscribe(since, s.bus)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := es.Next(ctx)
			c.mu.Lock()
			if err != nil {
				c.err = err
				c.mu.Unlock()
				return
			}
			c.got = append(c.got, ev)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		es.Close()
	})
	return c
}

func (c *collector) events() []events.StreamEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]events.StreamEvent(nil), c.got...)
}

// kind returns the events of one kind received.
func (c *collector) kind(k string) []events.StreamEvent {
	var out []events.StreamEvent
	for _, ev := range c.events() {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

// vmIDs are the ids of the VM events received.
func (c *collector) vmIDs() []int64 {
	var ids []int64
	for _, ev := range c.events() {
		if ev.Kind == events.StreamVM && ev.VM.ID > 0 {
			ids = append(ids, ev.VM.ID)
		}
	}
	return ids
}

func (c *collector) waitVM(t testing.TB, id int64) {
	t.Helper()
	wait.Until(t, 10*time.Second, fmt.Sprintf("vm event %d on the stream", id), func() bool {
		for _, got := range c.vmIDs() {
			if got == id {
				return true
			}
		}
		return false
	})
}

// TestVMEventsReachEveryServer: a VM event committed through one server is
// on the stream of every server, the committing one included, once, at the
// same position; a memory-only event (a node change) sent by one is on
// every stream at the same position too, and a position taken on one
// server resumes exactly on another.
func TestVMEventsReachEveryServer(t *testing.T) {
	srv := cluster(t, 3, false)
	streams := []*collector{collect(t, srv[0], nil), collect(t, srv[1], nil), collect(t, srv[2], nil)}

	ev1 := addVM(t, srv[0], "vm-a")
	sent, ok := srv[1].bus.PublishMemoryPos(events.StreamEvent{Kind: events.StreamNode, Node: &events.NodeEvent{NodeID: "n1", NodeName: "host-1", Action: "register"}})
	if !ok {
		t.Fatal("PublishMemoryPos did not send the node event")
	}
	ev2 := addVM(t, srv[2], "vm-c")
	for _, c := range streams {
		c.waitVM(t, ev2.ID)
	}
	want := []string{fmt.Sprint(ev1.ID), "node", fmt.Sprint(ev2.ID)}
	var node events.Position
	for i, c := range streams {
		got := c.events()
		if len(got) != 3 {
			t.Fatalf("server %d: %d events, want 3: %+v", i, len(got), got)
		}
		for j, ev := range got {
			name := ev.Pos.String()
			if ev.Kind == events.StreamNode {
				name = "node"
				if ev.Node.NodeName != "host-1" || ev.Pos.VMEvent != ev1.ID || ev.Pos.Seq <= ev1.ID {
					t.Errorf("server %d: node event %+v at %s", i, ev.Node, ev.Pos)
				}
				if i == 0 {
					node = ev.Pos
				} else if ev.Pos != node {
					t.Errorf("server %d has the node event at %s, server 0 at %s", i, ev.Pos, node)
				}
			}
			if name != want[j] {
				t.Errorf("server %d event %d = %s, want %s", i, j, name, want[j])
			}
		}
	}
	// The sender knew the position every server gave the event.
	if node != sent {
		t.Errorf("PublishMemoryPos returned %s, the servers published the node event at %s", sent, node)
	}
	// Resuming on server 2 from the node event's position seen on server 0
	// gives exactly what followed it.
	resumed := collect(t, srv[2], &node)
	resumed.waitVM(t, ev2.ID)
	if got := resumed.events(); len(got) != 1 {
		t.Errorf("resumed after %s on another server: %+v", node, got)
	}
}

// TestRehome: a VM's events moving to its new id reach every broker's ring.
func TestRehome(t *testing.T) {
	srv := cluster(t, 2, false)
	c := collect(t, srv[1], nil)
	first := addVM(t, srv[0], "first")
	ev := addVM(t, srv[0], "placeholder")
	c.waitVM(t, ev.ID)
	srv[0].bus.Rehome("placeholder", "real")
	marker := addVM(t, srv[0], "marker")
	c.waitVM(t, marker.ID)
	// Resumed from the ring of server 1, the placeholder's event is the
	// VM's.
	got := next(t, srv[1], &events.Position{VMEvent: first.ID}, 2)
	if got[0].VM.ID != ev.ID || got[0].VM.VMID != "real" || got[1].VM.ID != marker.ID {
		t.Errorf("resumed after %d: %+v %+v", first.ID, got[0].VM, got[1].VM)
	}
}

// next returns the first n events of a stream of s resumed from since.
func next(t testing.TB, s *server, since *events.Position, n int) []events.StreamEvent {
	t.Helper()
	es, err := s.broker.Subscribe(since, s.st.Events())
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []events.StreamEvent
	for range n {
		ev, err := es.Next(ctx)
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		out = append(out, ev)
	}
	return out
}
