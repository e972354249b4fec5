package clusterbus

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the test's admin connection

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/pgtest"
	"github.com/quantixvm/quantix/internal/wait"
)

// writeConcurrently has writers goroutines per server commit perWriter
// events each, on VMs of their own, several per transaction now and then,
// and returns every id committed.
func writeConcurrently(t *testing.T, srv []*server, writers, perWriter int) []int64 {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var ids []int64
	var wg sync.WaitGroup
	errs := make(chan error, len(srv)*writers)
	for si, s := range srv {
		for w := range writers {
			id := fmt.Sprintf("vm-%d-%d", si, w)
			addVMQuiet(t, s, id)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter {
					evs := []*vm.Event{{VMID: id, Action: "x", Message: fmt.Sprint(i)}}
					if i%5 == 0 {
						evs = append(evs, &vm.Event{VMID: id, Action: "y"}, &vm.Event{VMID: id, Action: "z"})
					}
					err := s.st.Tx(ctx, func(tx store.Store) error {
						// A read before the append, and a write after it
						// in the same transaction, as the control plane's
						// transactions have.
						if _, err := tx.VMs().Get(ctx, id); err != nil {
							return err
						}
						return tx.Events().AppendMany(ctx, evs)
					})
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					for _, e := range evs {
						ids = append(ids, e.ID)
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

func addVMQuiet(t testing.TB, s *server, id string) {
	t.Helper()
	if err := s.st.VMs().Create(context.Background(), newVM(id)); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentWritersResume: with writers on two servers committing
// concurrently, a reader that keeps reading "id > last" from the store
// (what a stream resumed from a position no ring holds does) misses no
// event, and the stream of each server carries every event once, in id
// order, while a client hops from server to server resuming from the last
// position it got.
func TestConcurrentWritersResume(t *testing.T) {
	srv := cluster(t, 2, false)
	ctx := context.Background()
	base, err := srv[0].st.Events().LastID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	streams := []*collector{collect(t, srv[0], nil), collect(t, srv[1], nil)}

	// The poller: "id > last", again and again, while the writers run.
	stop := make(chan struct{})
	var polled []int64
	pollDone := make(chan error, 1)
	go func() {
		last := base
		for {
			select {
			case <-stop:
				pollDone <- nil
				return
			default:
			}
			page, err := srv[1].st.Events().Since(ctx, last, 1000)
			if err != nil {
				pollDone <- err
				return
			}
			for _, e := range page {
				polled = append(polled, e.ID)
				last = e.ID
			}
		}
	}()
	// The hopping client: reads a few events from one server, resumes on
	// the other from the last position it got.
	hopDone := make(chan []int64, 1)
	go func() {
		var got []int64
		pos := events.Position{VMEvent: base}
		for hop := 0; ; hop++ {
			s := srv[hop%2]
			es, err := s.broker.Subscribe(&pos, s.bus)
			if err != nil {
				hopDone <- got
				return
			}
			nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			for range 7 {
				ev, err := es.Next(nctx)
				if err != nil {
					cancel()
					es.Close()
					hopDone <- got
					return
				}
				if ev.Kind == events.StreamVM {
					got = append(got, ev.VM.ID)
					pos = ev.Pos
				}
			}
			cancel()
			es.Close()
		}
	}()

	ids := writeConcurrently(t, srv, 4, 30)
	last := ids[len(ids)-1]
	for _, c := range streams {
		c.waitVM(t, last)
	}
	close(stop)
	if err := <-pollDone; err != nil {
		t.Fatal(err)
	}
	page, err := srv[1].st.Events().Since(ctx, lastOf(polled, base), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page {
		polled = append(polled, e.ID)
	}
	if !slices.Equal(polled, ids) {
		t.Errorf("reading id > last while writers committed: %d events, want %d; missing %v", len(polled), len(ids), missing(ids, polled))
	}
	for i, c := range streams {
		got := c.vmIDs()
		if !slices.Equal(got, ids) {
			t.Errorf("stream of server %d: %d events, want %d; missing %v; in order: %v", i, len(got), len(ids), missing(ids, got), slices.IsSorted(got))
		}
	}
	hopped := <-hopDone
	if !slices.Equal(hopped, ids) {
		t.Errorf("client hopping between servers: %d events, want %d; missing %v; in order: %v", len(hopped), len(ids), missing(ids, hopped), slices.IsSorted(hopped))
	}
}

func lastOf(ids []int64, def int64) int64 {
	if len(ids) == 0 {
		return def
	}
	return ids[len(ids)-1]
}

// missing returns the ids of want not in got (the first few).
func missing(want, got []int64) []int64 {
	have := map[int64]bool{}
	for _, id := range got {
		have[id] = true
	}
	var out []int64
	for _, id := range want {
		if !have[id] && len(out) < 10 {
			out = append(out, id)
		}
	}
	return out
}

// TestEventIDsInCommitOrder: a transaction that appends an event holds the
// event order lock until it ends, so one that appends after it gets a
// greater id and commits after it.
func TestEventIDsInCommitOrder(t *testing.T) {
	srv := cluster(t, 2, false)
	ctx := context.Background()
	addVMQuiet(t, srv[0], "a")
	addVMQuiet(t, srv[1], "b")
	release := make(chan struct{})
	appended := make(chan int64)
	first := make(chan error, 1)
	go func() {
		first <- srv[0].st.Tx(ctx, func(tx store.Store) error {
			e := &vm.Event{VMID: "a", Action: "first"}
			if err := tx.Events().Append(ctx, e); err != nil {
				return err
			}
			appended <- e.ID
			<-release
			return nil
		})
	}()
	firstID := <-appended
	second := &vm.Event{VMID: "b", Action: "second"}
	secondDone := make(chan error, 1)
	go func() { secondDone <- srv[1].st.Events().Append(ctx, second) }()
	wait.Stays(t, 300*time.Millisecond, "the second append waits for the first transaction", func() bool {
		return len(secondDone) == 0
	})
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-secondDone; err != nil {
		t.Fatal(err)
	}
	if second.ID <= firstID {
		t.Errorf("the event committed second has id %d, the first %d", second.ID, firstID)
	}
}

// killListener terminates s's listening connection again and again (each
// time once it is back) until the returned func is called; that returns
// how many times.
func killListener(t *testing.T, s *server) (stop func() int) {
	t.Helper()
	admin, err := sql.Open("pgx", pgtest.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	app := store.ListenerApplicationName(s.bus.stream.Origin())
	listener := func() int {
		var pid int
		err := admin.QueryRow(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, app).Scan(&pid)
		if err != nil {
			return 0
		}
		return pid
	}
	done := make(chan struct{})
	kills := make(chan int, 1)
	go func() {
		n := 0
		defer func() { kills <- n }()
		for {
			pid := wait.Value(t, 20*time.Second, "the listener connected", func() (int, bool) {
				p := listener()
				return p, p != 0
			})
			select {
			case <-done:
				return
			default:
			}
			if _, err := admin.Exec(`SELECT pg_terminate_backend($1)`, pid); err != nil {
				t.Error(err)
				return
			}
			n++
			wait.Until(t, 20*time.Second, "the terminated listener gone", func() bool { return listener() != pid })
		}
	}()
	return func() int {
		close(done)
		n := <-kills
		_ = admin.Close()
		return n
	}
}

// TestListenerReconnect: the listener's backend terminated again and again
// while VM events are committed and node events sent: it reconnects and
// reads back what it missed, so its stream carries every event once, in
// the order and at the positions of a server whose listener stayed, with
// no gap marker.
func TestListenerReconnect(t *testing.T) {
	srv := cluster(t, 2, false)
	steady, c := collect(t, srv[0], nil), collect(t, srv[1], nil)
	stop := killListener(t, srv[1])
	nodeDone := make(chan struct{})
	const nodeEvents = 60
	go func() {
		defer close(nodeDone)
		for i := range nodeEvents {
			srv[i%2].bus.PublishMemory(events.StreamEvent{Kind: events.StreamNode,
				Node: &events.NodeEvent{NodeID: "n1", NodeName: "host-1", Action: "heartbeat", Message: fmt.Sprint("node-", i)}})
		}
	}()
	ids := writeConcurrently(t, srv[:1], 3, 40)
	<-nodeDone
	n := stop()
	if n == 0 {
		t.Fatal("the listener was never terminated")
	}
	for _, col := range []*collector{steady, c} {
		col.waitVM(t, ids[len(ids)-1])
		wait.Until(t, 10*time.Second, fmt.Sprintf("%d node events on the stream", nodeEvents), func() bool {
			return len(col.kind(events.StreamNode)) == nodeEvents
		})
	}
	if got := c.vmIDs(); !slices.Equal(got, ids) {
		t.Errorf("after %d reconnects: %d events, want %d; missing %v; in order %v", n, len(got), len(ids), missing(ids, got), slices.IsSorted(got))
	}
	want, got := steady.events(), c.events()
	if len(got) != len(want) {
		t.Fatalf("after %d reconnects: %d events on the stream, %d on the steady server's", n, len(got), len(want))
	}
	for i := range want {
		if got[i].Kind == events.StreamGap {
			t.Fatalf("event %d is a gap marker: %s", i, got[i].Gap.Message)
		}
		if got[i].Pos != want[i].Pos || got[i].Kind != want[i].Kind {
			t.Fatalf("event %d: %s %s, on the steady server %s %s", i, got[i].Kind, got[i].Pos, want[i].Kind, want[i].Pos)
		}
		if i > 0 && !got[i-1].Pos.Before(got[i].Pos) {
			t.Fatalf("event %d at %s after %s", i, got[i].Pos, got[i-1].Pos)
		}
	}
	t.Logf("%d vm events and %d node events, listener terminated %d times", len(ids), nodeEvents, n)
}

// TestResumeReplaysNodeEvents: a client resuming on a server whose memory
// no longer holds its position gets the VM events and the node events
// that followed it, in order and at their positions, with no gap marker.
func TestResumeReplaysNodeEvents(t *testing.T) {
	srv := clusterWith(t, 2, false, events.BrokerOptions{RingSize: 8})
	// The resuming server must have published everything first: a server
	// still behind would hold the position in its memory and not replay.
	all, behind := collect(t, srv[0], nil), collect(t, srv[1], nil)
	var last *vm.Event
	for i := range 20 {
		last = addVM(t, srv[i%2], fmt.Sprint("vm-", i))
		srv[(i+1)%2].bus.PublishMemory(events.StreamEvent{Kind: events.StreamNode,
			Node: &events.NodeEvent{NodeID: "n1", NodeName: "host-1", Action: "heartbeat", Message: fmt.Sprint("node-", i)}})
	}
	for _, c := range []*collector{all, behind} {
		c.waitVM(t, last.ID)
		wait.Until(t, 10*time.Second, "20 node events on the stream", func() bool { return len(c.kind(events.StreamNode)) == 20 })
	}
	want := all.events()
	for _, from := range []int{0, 5, 6} { // after a VM event, after a node event, ...
		since := want[from].Pos
		c := collect(t, srv[1], &since)
		wait.Until(t, 10*time.Second, fmt.Sprintf("the events after %s", since), func() bool { return len(c.events()) >= len(want)-from-1 })
		got := c.events()
		if len(got) != len(want)-from-1 {
			t.Fatalf("resumed after %s: %d events, want %d", since, len(got), len(want)-from-1)
		}
		for i, ev := range got {
			w := want[from+1+i]
			if ev.Kind != w.Kind || ev.Pos != w.Pos {
				t.Fatalf("resumed after %s: event %d is %s %s, want %s %s", since, i, ev.Kind, ev.Pos, w.Kind, w.Pos)
			}
		}
	}
}

// TestUnreadableChangeKeepsItsPlace: a stored change this server cannot
// read (a newer server's) comes back on a resumed stream as a gap marker at
// its position, and the replay goes on past it.
func TestUnreadableChangeKeepsItsPlace(t *testing.T) {
	srv := clusterWith(t, 2, false, events.BrokerOptions{RingSize: 4})
	ctx := context.Background()
	// all follows the server that resumes below, which must have published
	// everything first (else its memory would still hold the position).
	all := collect(t, srv[1], nil)
	first := addVM(t, srv[0], "vm-first")
	all.waitVM(t, first.ID)
	srv[0].bus.PublishMemory(events.StreamEvent{Kind: events.StreamNode, Node: &events.NodeEvent{NodeID: "n1", Action: "heartbeat", Message: "before"}})
	st, _ := store.StreamOf(srv[0].st)
	bad, _, err := st.NotifyPositioned(ctx, noteMemory, `{"k":"future-kind"}`)
	if err != nil {
		t.Fatal(err)
	}
	srv[1].bus.PublishMemory(events.StreamEvent{Kind: events.StreamNode, Node: &events.NodeEvent{NodeID: "n1", Action: "heartbeat", Message: "after"}})
	var last *vm.Event
	for i := range 6 {
		last = addVM(t, srv[1], fmt.Sprint("vm-", i))
	}
	all.waitVM(t, last.ID)

	c := collect(t, srv[1], &events.Position{VMEvent: first.ID})
	wait.Until(t, 10*time.Second, "the vm events after the unreadable change", func() bool {
		ids := c.vmIDs()
		return len(ids) > 0 && ids[len(ids)-1] == last.ID
	})
	var got []string
	for _, ev := range c.events() {
		switch ev.Kind {
		case events.StreamNode:
			got = append(got, "node "+ev.Node.Message)
		case events.StreamGap:
			got = append(got, "gap")
			if ev.Pos.Seq != bad || ev.Gap.Resume.Seq != bad {
				t.Errorf("gap at %s resuming at %s, want the unreadable change's number %d", ev.Pos, ev.Gap.Resume, bad)
			}
		}
	}
	if want := []string{"node before", "gap", "node after"}; !slices.Equal(got, want) {
		t.Errorf("replayed %q, want %q", got, want)
	}
	if n := len(c.vmIDs()); n != 6 {
		t.Errorf("%d vm events after the unreadable change, want 6", n)
	}
}
