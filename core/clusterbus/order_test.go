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
			es, err := s.broker.Subscribe(&pos, s.st.Events())
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
// while events are committed: it reconnects and reads what it missed, so
// its stream still carries every event once, in order, and its subscribers
// are told node events may be missing.
func TestListenerReconnect(t *testing.T) {
	srv := cluster(t, 2, false)
	c := collect(t, srv[1], nil)
	stop := killListener(t, srv[1])
	ids := writeConcurrently(t, srv[:1], 3, 40)
	n := stop()
	if n == 0 {
		t.Fatal("the listener was never terminated")
	}
	c.waitVM(t, ids[len(ids)-1])
	if got := c.vmIDs(); !slices.Equal(got, ids) {
		t.Errorf("after %d reconnects: %d events, want %d; missing %v; in order %v", n, len(got), len(ids), missing(ids, got), slices.IsSorted(got))
	}
	gaps := func() int {
		n := 0
		for _, ev := range c.events() {
			if ev.Kind == events.StreamGap {
				n++
			}
		}
		return n
	}
	wait.Until(t, 10*time.Second, "a gap marker on the stream", func() bool { return gaps() > 0 })
	t.Logf("%d events, listener terminated %d times, %d gap markers", len(ids), n, gaps())
}
