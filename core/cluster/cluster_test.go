package cluster_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/cluster"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
)

func TestMain(m *testing.M) {
	code := m.Run()
	teststore.Cleanup()
	os.Exit(code)
}

const (
	ttl   = 600 * time.Millisecond
	renew = 100 * time.Millisecond
)

// flakyStore is a real store whose cluster repository can be cut off from
// the database: every call fails while down is set, as when the server
// cannot reach PostgreSQL.
type flakyStore struct {
	store.Store
	down *atomic.Bool
}

func (s flakyStore) Cluster() store.ClusterRepo { return flakyRepo{s.Store.Cluster(), s.down} }

type flakyRepo struct {
	store.ClusterRepo
	down *atomic.Bool
}

var errDown = errors.New("connection refused")

func (r flakyRepo) TouchServer(ctx context.Context, id string) error {
	if r.down.Load() {
		return errDown
	}
	return r.ClusterRepo.TouchServer(ctx, id)
}

func (r flakyRepo) Acquire(ctx context.Context, id string, epoch int64, ttl time.Duration) (store.Lease, bool, error) {
	if r.down.Load() {
		return store.Lease{}, false, errDown
	}
	return r.ClusterRepo.Acquire(ctx, id, epoch, ttl)
}

// member is one running Cluster and what its duty saw.
type member struct {
	c      *cluster.Cluster
	down   atomic.Bool
	stop   context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	fences []int64 // the fence of each duty run, in order
	active atomic.Int32
}

func (m *member) runs() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int64(nil), m.fences...)
}

// start opens the database at driver/dsn and runs a Cluster on it until
// the test ends (or m.stop).
func start(t *testing.T, driver, dsn, name string) *member {
	t.Helper()
	s, err := store.Open(context.Background(), driver, dsn, testlog.New(t, hclog.Warn))
	if err != nil {
		t.Fatal(err)
	}
	m := &member{done: make(chan struct{})}
	c, err := cluster.New(cluster.Options{
		Store: flakyStore{s, &m.down}, Name: name, APIAddr: "https://" + name + ":8443", RPCAddr: name + ":9443",
		Version: "test", LeaseTTL: ttl, RenewInterval: renew, Exclusive: driver == "sqlite",
		Logger: testlog.New(t, hclog.Info).Named(name),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Lead("record", func(ctx context.Context) {
		e, _ := store.FenceOf(ctx)
		m.mu.Lock()
		m.fences = append(m.fences, e)
		m.mu.Unlock()
		m.active.Add(1)
		defer m.active.Add(-1)
		<-ctx.Done()
	})
	m.c = c
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = func() { cancel(); <-m.done }
	go func() {
		defer close(m.done)
		if err := c.Run(ctx); err != nil {
			t.Errorf("Run(%s): %v", name, err)
		}
	}()
	t.Cleanup(func() {
		m.stop()
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}

func leaders(ms []*member) []*member {
	var out []*member
	for _, m := range ms {
		if _, ok := m.c.Leading(); ok {
			out = append(out, m)
		}
	}
	return out
}

// TestSingleServerLeads: alone on a database a server leads at once, its
// duty runs fenced by its epoch, and a clean stop releases the lease and
// marks the server stopped.
func TestSingleServerLeads(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			dsn := teststore.DSN(t, driver)
			m := start(t, driver, dsn, "solo")
			wait.Until(t, 5*time.Second, "the only server leads", func() bool { return m.active.Load() == 1 })
			epoch, ok := m.c.Leading()
			if !ok || epoch != 1 || m.runs()[0] != 1 {
				t.Fatalf("Leading() = %d %v, duty fenced at %v; want epoch 1", epoch, ok, m.runs())
			}
			if !m.c.Healthy() {
				t.Error("a server that reaches its database is not Healthy")
			}
			st, err := m.c.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.Leader == nil || st.Leader.ServerID != m.c.ID() || st.Leader.Name != "solo" || len(st.Servers) != 1 ||
				!st.Servers[0].Alive || !st.Servers[0].Leader || st.Servers[0].RPCAddr != "solo:9443" {
				t.Fatalf("Status = %+v", st)
			}
			m.stop()
			if m.active.Load() != 0 {
				t.Error("the duty still runs after Run returned")
			}
			s := teststore.OpenAt(t, driver, dsn)
			l, err := s.Cluster().Leader(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			now, _ := s.Cluster().Now(context.Background())
			if l.ExpiresAt.After(now) {
				t.Errorf("the lease %+v is still live after a clean stop", l)
			}
			srv, _ := s.Cluster().Servers(context.Background())
			if len(srv) != 1 || srv[0].StoppedAt == nil {
				t.Errorf("servers after a clean stop = %+v, want marked stopped", srv)
			}
		})
	}
}

// TestFailover (PostgreSQL): of three servers one leads; when it stops
// cleanly another leads at once at the next epoch; when the leader loses
// the database it stops leading before its lease lapses, reports itself
// unhealthy, another takes over, and it comes back as a follower.
func TestFailover(t *testing.T) {
	dsn := teststore.DSN(t, "postgres")
	ms := []*member{start(t, "postgres", dsn, "a"), start(t, "postgres", dsn, "b"), start(t, "postgres", dsn, "c")}
	first := wait.Value(t, 5*time.Second, "one leader", func() (*member, bool) {
		l := leaders(ms)
		return firstOf(l), len(l) == 1 && l[0].active.Load() == 1
	})
	wait.Stays(t, 3*renew, "exactly one leader", func() bool { return len(leaders(ms)) == 1 })
	e1, _ := first.c.Leading()

	// Clean stop: handover without waiting for the lease to lapse.
	stopped := time.Now()
	first.stop()
	second := wait.Value(t, ttl, "a new leader before the old lease would have lapsed", func() (*member, bool) {
		l := leaders(ms)
		return firstOf(l), len(l) == 1 && l[0] != first
	})
	t.Logf("handover after a clean stop took %s", time.Since(stopped))
	e2, _ := second.c.Leading()
	runs := wait.Value(t, ttl, "the new leader's duty running", func() ([]int64, bool) {
		r := second.runs()
		return r, len(r) > 0
	})
	if e2 != e1+1 || runs[0] != e2 {
		t.Fatalf("new leader at epoch %d (duty fenced at %v), want %d", e2, runs, e1+1)
	}

	// The leader loses the database.
	cut := time.Now()
	second.down.Store(true)
	wait.Until(t, ttl, "the cut-off leader stops leading", func() bool {
		_, ok := second.c.Leading()
		return !ok && second.active.Load() == 0
	})
	if d := time.Since(cut); d > ttl {
		t.Errorf("the cut-off leader stopped after %s, past the lease ttl %s", d, ttl)
	}
	wait.Until(t, time.Second, "the cut-off server reports itself unhealthy", func() bool { return !second.c.Healthy() })
	var third *member
	for _, m := range ms {
		if m != first && m != second {
			third = m
		}
	}
	wait.Until(t, 3*ttl, "the survivor leads", func() bool {
		e, ok := third.c.Leading()
		return ok && e == e2+1
	})
	second.down.Store(false)
	wait.Until(t, 3*ttl, "the reconnected server is healthy again", second.c.Healthy)
	wait.Stays(t, 3*renew, "it stays a follower", func() bool {
		_, ok := second.c.Leading()
		return !ok
	})
	if got := second.runs(); len(got) != 1 {
		t.Errorf("the reconnected server's duty ran %d times (%v), want once", len(got), got)
	}
}

func firstOf(ms []*member) *member {
	if len(ms) == 0 {
		return nil
	}
	return ms[0]
}
