package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/internal/wait"
)

// TestClusterAcquireRace: of servers racing for a free lease through their
// own connections, exactly one wins; the others see its lease.
func TestClusterAcquireRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		driver, dsn := b.fresh(t)
		const n = 6
		stores := make([]*sqlStore, n)
		for i := range stores {
			stores[i] = openAt(t, driver, dsn)
		}
		for round := range 3 {
			var (
				wg     sync.WaitGroup
				mu     sync.Mutex
				wins   []string
				leases []Lease
			)
			start := make(chan struct{})
			for i, s := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					id := fmt.Sprintf("srv-%d", i)
					l, ok, err := s.Cluster().Acquire(ctx, id, 0, time.Minute)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						t.Errorf("Acquire(%s): %v", id, err)
						return
					}
					leases = append(leases, l)
					if ok {
						wins = append(wins, id)
					}
				}()
			}
			close(start)
			wg.Wait()
			if len(wins) != 1 {
				t.Fatalf("round %d: %d winners %v, want exactly one", round, len(wins), wins)
			}
			for _, l := range leases {
				if l.ServerID != wins[0] || l.Epoch != int64(round+1) {
					t.Errorf("round %d: a contender saw lease %+v, want %s's at epoch %d", round, l, wins[0], round+1)
				}
			}
			if err := stores[0].Cluster().Release(ctx, wins[0], int64(round+1)); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestClusterLeaseLifecycle: a live lease is renewed at its epoch and
// refused to others; an expired one is taken by another server at epoch+1
// and its former holder can no longer renew it; Release frees it at once.
func TestClusterLeaseLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		c := s.Cluster()
		l0, err := c.Leader(ctx)
		if err != nil || l0.Epoch != 0 || l0.ServerID != "" {
			t.Fatalf("initial lease %+v, %v; want free at epoch 0", l0, err)
		}
		a, ok, err := c.Acquire(ctx, "a", 0, time.Minute)
		if err != nil || !ok || a.Epoch != 1 || a.ServerID != "a" {
			t.Fatalf("Acquire(a) = %+v %v %v, want a at epoch 1", a, ok, err)
		}
		dbNow, err := c.Now(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := a.ExpiresAt.Sub(dbNow); d < 50*time.Second || d > time.Minute {
			t.Errorf("lease expires %s after the database's now, want about a minute", d)
		}
		r, ok, err := c.Acquire(ctx, "a", 1, time.Minute)
		if err != nil || !ok || r.Epoch != 1 || !r.AcquiredAt.Equal(a.AcquiredAt) || r.ExpiresAt.Before(a.ExpiresAt) {
			t.Fatalf("renewal = %+v %v %v, want epoch 1 acquired at %v", r, ok, err, a.AcquiredAt)
		}
		if l, ok, err := c.Acquire(ctx, "b", 0, time.Minute); err != nil || ok || l.ServerID != "a" {
			t.Fatalf("Acquire(b) on a live lease = %+v %v %v, want refused showing a", l, ok, err)
		}
		if _, ok, err := c.Acquire(ctx, "a", 7, time.Minute); err != nil || ok {
			t.Fatalf("renewal at a wrong epoch = %v %v, want refused", ok, err)
		}

		// a renews with a short ttl and stops: b takes it once it lapses.
		if _, ok, err := c.Acquire(ctx, "a", 1, 100*time.Millisecond); err != nil || !ok {
			t.Fatalf("short renewal: %v %v", ok, err)
		}
		bl := wait.Value(t, 10*time.Second, "b takes the expired lease", func() (Lease, bool) {
			l, ok, err := c.Acquire(ctx, "b", 0, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return l, ok
		})
		if bl.ServerID != "b" || bl.Epoch != 2 {
			t.Fatalf("b took %+v, want b at epoch 2", bl)
		}
		if l, ok, err := c.Acquire(ctx, "a", 1, time.Minute); err != nil || ok || l.ServerID != "b" || l.Epoch != 2 {
			t.Fatalf("a's renewal after b took over = %+v %v %v, want refused", l, ok, err)
		}
		// Release by a former holder does nothing; by the holder frees it.
		if err := c.Release(ctx, "a", 1); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := c.Acquire(ctx, "c", 0, time.Minute); ok {
			t.Fatal("a stale Release freed b's lease")
		}
		if err := c.Release(ctx, "b", 2); err != nil {
			t.Fatal(err)
		}
		if l, ok, err := c.Acquire(ctx, "c", 0, time.Minute); err != nil || !ok || l.Epoch != 3 {
			t.Fatalf("Acquire(c) after Release = %+v %v %v, want c at epoch 3", l, ok, err)
		}
	})
}

// TestClusterFencedTx: a Tx fenced by an epoch that a successor has moved
// past fails with ErrFenced and writes nothing; fenced by the current epoch
// it commits.
func TestClusterFencedTx(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		c := s.Cluster()
		old, ok, err := c.Acquire(ctx, "a", 0, time.Minute)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		write := func(epoch int64, id string) error {
			return s.Tx(WithFence(ctx, epoch), func(tx Store) error {
				return tx.Nodes().Upsert(ctx, &node.Node{ID: id, Name: id, State: node.StateReady})
			})
		}
		if err := write(old.Epoch, "n-before"); err != nil {
			t.Fatalf("fenced write by the leader: %v", err)
		}
		if err := c.Release(ctx, "a", old.Epoch); err != nil {
			t.Fatal(err)
		}
		cur, ok, err := c.Acquire(ctx, "b", 0, time.Minute)
		if err != nil || !ok || cur.Epoch != old.Epoch+1 {
			t.Fatalf("successor: %+v %v %v", cur, ok, err)
		}
		err = write(old.Epoch, "n-after")
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("fenced write after the successor took over = %v, want ErrFenced", err)
		}
		if _, err := s.Nodes().Get(ctx, "n-after"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the fenced-out write left a node behind (Get: %v)", err)
		}
		// Nested: a fenced Tx inside an unfenced one is checked too.
		err = s.Tx(ctx, func(tx Store) error {
			return tx.Tx(WithFence(ctx, old.Epoch), func(tx Store) error {
				return tx.Nodes().Upsert(ctx, &node.Node{ID: "n-nested", Name: "n-nested", State: node.StateReady})
			})
		})
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("nested fenced write = %v, want ErrFenced", err)
		}
		if err := write(cur.Epoch, "n-new"); err != nil {
			t.Fatalf("fenced write by the successor: %v", err)
		}
		if _, err := s.Nodes().Get(ctx, "n-new"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestClusterAcquireWaitsForFencedTx (PostgreSQL): a successor's Acquire
// waits for a fenced transaction in flight, which commits; every fenced
// transaction after it sees the new epoch.
func TestClusterAcquireWaitsForFencedTx(t *testing.T) {
	driver, dsn := freshPostgres(t)
	s1, s2 := openAt(t, driver, dsn), openAt(t, driver, dsn)
	old, ok, err := s1.Cluster().Acquire(ctx, "a", 0, 200*time.Millisecond)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	inTx, release := make(chan struct{}), make(chan struct{})
	txErr := make(chan error, 1)
	go func() {
		txErr <- s1.Tx(WithFence(ctx, old.Epoch), func(tx Store) error {
			close(inTx)
			<-release
			return tx.Nodes().Upsert(ctx, &node.Node{ID: "n-slow", Name: "n-slow", State: node.StateReady})
		})
	}()
	<-inTx
	type result struct {
		l   Lease
		ok  bool
		err error
	}
	acq := make(chan result, 1)
	go func() {
		// Retry until the lease has lapsed; each attempt must wait for
		// the fenced transaction's share lock.
		for {
			l, ok, err := s2.Cluster().Acquire(ctx, "b", 0, time.Minute)
			if err != nil || ok {
				acq <- result{l, ok, err}
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	wait.Stays(t, time.Second, "the successor's Acquire waits for the fenced transaction", func() bool { return len(acq) == 0 })
	close(release)
	if err := <-txErr; err != nil {
		t.Fatalf("the fenced transaction in flight failed: %v", err)
	}
	var r result
	select {
	case r = <-acq:
	case <-time.After(10 * time.Second):
		t.Fatal("the successor's Acquire did not return after the fenced transaction ended")
	}
	if r.err != nil || !r.ok || r.l.Epoch != old.Epoch+1 {
		t.Fatalf("successor's Acquire = %+v %v %v", r.l, r.ok, r.err)
	}
	if _, err := s1.Nodes().Get(ctx, "n-slow"); err != nil {
		t.Fatalf("the write of the fenced transaction that began first is missing: %v", err)
	}
	err = s1.Tx(WithFence(ctx, old.Epoch), func(tx Store) error { return nil })
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("a fenced transaction after the successor's Acquire = %v, want ErrFenced", err)
	}
}

// TestClusterServersAndSessions: registration, heartbeats, clean stop,
// pruning of silent servers (never the leader), and node claims where the
// newest claim wins and a release only drops its own session's claim.
func TestClusterServersAndSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		c := s.Cluster()
		if err := c.RegisterServer(ctx, &ServerRecord{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("RegisterServer without id = %v, want ErrInvalid", err)
		}
		recs := map[string]*ServerRecord{}
		for _, id := range []string{"s1", "s2", "s3"} {
			r := &ServerRecord{ID: id, Name: "name-" + id, APIAddr: "https://" + id + ":8443", RPCAddr: id + ":9443", Version: "v1"}
			if err := c.RegisterServer(ctx, r); err != nil {
				t.Fatal(err)
			}
			if r.StartedAt.IsZero() || !r.HeartbeatAt.Equal(r.StartedAt) || r.StoppedAt != nil {
				t.Fatalf("registered %+v: want started_at = heartbeat_at, not stopped", r)
			}
			recs[id] = r
		}
		before := recs["s2"].HeartbeatAt
		wait.Until(t, 5*time.Second, "s2's heartbeat moves forward", func() bool {
			if err := c.TouchServer(ctx, "s2"); err != nil {
				t.Fatal(err)
			}
			list, err := c.Servers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range list {
				if r.ID == "s2" {
					return r.HeartbeatAt.After(before)
				}
			}
			return false
		})
		if err := c.TouchServer(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Errorf("TouchServer(unknown) = %v, want ErrNotFound", err)
		}
		if err := c.StopServer(ctx, "s3"); err != nil {
			t.Fatal(err)
		}
		list, err := c.Servers(ctx)
		if err != nil || len(list) != 3 {
			t.Fatalf("Servers = %v, %v", list, err)
		}
		for _, r := range list {
			if (r.ID == "s3") != (r.StoppedAt != nil) {
				t.Errorf("server %s stopped_at = %v", r.ID, r.StoppedAt)
			}
			if r.Name != "name-"+r.ID || r.RPCAddr != r.ID+":9443" {
				t.Errorf("server read back as %+v", r)
			}
		}

		// Claims.
		if err := c.ClaimNode(ctx, NodeSession{NodeID: "n1", ServerID: "s1", SessionID: "x1"}); err != nil {
			t.Fatal(err)
		}
		if err := c.ClaimNode(ctx, NodeSession{NodeID: "n2", ServerID: "s3", SessionID: "x2"}); err != nil {
			t.Fatal(err)
		}
		if err := c.ClaimNode(ctx, NodeSession{NodeID: "n1", ServerID: "s2", SessionID: "x3"}); err != nil {
			t.Fatal(err)
		}
		h, err := c.NodeHolder(ctx, "n1")
		if err != nil || h.ServerID != "s2" || h.SessionID != "x3" {
			t.Fatalf("holder of n1 = %+v %v, want s2/x3 (the newest claim)", h, err)
		}
		if err := c.ReleaseNode(ctx, "n1", "x1"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.NodeHolder(ctx, "n1"); err != nil {
			t.Fatalf("releasing a superseded session dropped the newer claim: %v", err)
		}
		if err := c.TouchNodes(ctx, "s1", []string{"n1"}); err != nil {
			t.Fatal(err)
		}
		if h2, _ := c.NodeHolder(ctx, "n1"); !h2.HeartbeatAt.Equal(h.HeartbeatAt) {
			t.Errorf("another server's TouchNodes moved s2's claim")
		}
		wait.Until(t, 5*time.Second, "s2's TouchNodes moves its claim's heartbeat", func() bool {
			if err := c.TouchNodes(ctx, "s2", []string{"n1", "n9"}); err != nil {
				t.Fatal(err)
			}
			h2, err := c.NodeHolder(ctx, "n1")
			return err == nil && h2.HeartbeatAt.After(h.HeartbeatAt)
		})
		if err := c.ReleaseNode(ctx, "n1", "x3"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.NodeHolder(ctx, "n1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("NodeHolder after release = %v, want ErrNotFound", err)
		}

		// Pruning: s3 (silent) goes with its claim; s1 leads and stays.
		if _, ok, err := c.Acquire(ctx, "s1", 0, time.Minute); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if n, err := c.PruneServers(ctx, time.Hour); err != nil || n != 0 {
			t.Fatalf("PruneServers(1h) = %d %v, want 0", n, err)
		}
		wait.Until(t, 5*time.Second, "s3 is pruned", func() bool {
			if err := c.TouchServer(ctx, "s2"); err != nil {
				t.Fatal(err)
			}
			n, err := c.PruneServers(ctx, 500*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			return n == 1
		})
		list, _ = c.Servers(ctx)
		if len(list) != 2 || list[0].ID != "s1" || list[1].ID != "s2" {
			t.Errorf("servers after pruning = %+v, want s1 (the leader) and s2", list)
		}
		if sess, err := c.NodeSessions(ctx); err != nil || len(sess) != 0 {
			t.Errorf("node sessions after pruning = %+v %v, want none", sess, err)
		}
	})
}
