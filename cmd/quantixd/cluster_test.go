package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/internal/wait"
)

// TestClusterLeaderKill: of three servers on one PostgreSQL database one
// leads; kill -9 of it makes another lead, at a higher epoch, within 10 s,
// as the survivors' GET /api/cluster says; the dead one shows as not alive.
// Restarted, it joins as a follower.
func TestClusterLeaderKill(t *testing.T) {
	c := startCluster(t, 3, clusterOptions{})
	leader, epoch := c.Leader(30*time.Second, 0)
	st, err := leader.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Servers) != 3 {
		t.Fatalf("GET /api/cluster lists %d servers, want 3: %s", len(st.Servers), st.Raw)
	}
	for _, s := range st.Servers {
		if !s.Alive || s.APIAddr == "" || s.RPCAddr == "" || s.Version == "" || s.Leader != (s.Name == leader.Name) {
			t.Errorf("server %+v", s)
		}
	}
	killed := time.Now()
	leader.Kill(t)
	next, e2 := c.Leader(10*time.Second, epoch, leader)
	t.Logf("kill -9 of leader %s (epoch %d): %s leads at epoch %d after %s", leader.Name, epoch, next.Name, e2, time.Since(killed))
	wait.UntilNil(t, 15*time.Second, "the killed server shows as not alive", func() error {
		st, err := next.Status()
		if err != nil {
			return err
		}
		for _, s := range st.Servers {
			if s.Name == leader.Name && s.Alive {
				return fmt.Errorf("%s still alive: heartbeat %s, now %s", s.Name, s.HeartbeatAt, st.Now)
			}
		}
		return nil
	})
	c.Restart(leader)
	wait.UntilNil(t, 15*time.Second, "the restarted server is a live follower", func() error {
		st, err := leader.Status()
		if err != nil {
			return err
		}
		n := 0
		for _, s := range st.Servers {
			if s.Name == leader.Name && s.Alive {
				n++
				if s.Leader {
					return fmt.Errorf("the restarted server leads")
				}
			}
		}
		if n != 1 || st.Leader == nil || st.Leader.Epoch != e2 {
			return fmt.Errorf("status %s", st.Raw)
		}
		return nil
	})
}

// TestClusterGracefulHandover: a leader stopped with SIGTERM releases its
// lease: another server leads well before the lease would have lapsed.
func TestClusterGracefulHandover(t *testing.T) {
	const ttl = 20 * time.Second
	c := startCluster(t, 2, clusterOptions{LeaseTTL: ttl, RenewInterval: time.Second})
	leader, epoch := c.Leader(30*time.Second, 0)
	stopped := time.Now()
	leader.stop(t)
	// Within a quarter of the ttl: only a release explains it (renewals
	// are every second, the next attempt of the follower at most one
	// interval away).
	next, e2 := c.Leader(ttl/4, epoch, leader)
	t.Logf("SIGTERM of leader %s: %s leads at epoch %d after %s (lease ttl %s)", leader.Name, next.Name, e2, time.Since(stopped), ttl)
	st, err := next.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Servers {
		if s.Name == leader.Name && (s.StoppedAt == nil || s.Alive) {
			t.Errorf("the stopped server is not marked stopped: %+v", s)
		}
	}
	if !leader.logHas("handing over the leader lease") {
		t.Error("the stopped leader's log does not say it handed over the lease")
	}
}

// TestClusterLeaderCutOff: a leader cut off from PostgreSQL stops leading
// before its lease lapses, answers writes 503 saying it lost its database
// (reads still try), another server takes over; when the leader reaches the
// database again it rejoins as a follower and takes writes again.
func TestClusterLeaderCutOff(t *testing.T) {
	c := startCluster(t, 3, clusterOptions{LeaseTTL: 4 * time.Second, RenewInterval: 500 * time.Millisecond})
	leader, epoch := c.Leader(30*time.Second, 0)
	// A write that reaches the handler: invalid, so 4xx, never 503.
	write := func() resp {
		return leader.call(t, "POST", "/api/vms", `{"name":""}`)
	}
	if r := write(); r.status >= 500 {
		t.Fatalf("a write before the cut: %d %s", r.status, r.raw)
	}

	cut := time.Now()
	leader.relay.Cut()
	leader.waitLog(t, 10*time.Second, "stopped leading the cluster")
	t.Logf("the cut-off leader stopped leading after %s", time.Since(cut))
	wait.UntilNil(t, 10*time.Second, "writes on the cut-off server answer 503", func() error {
		r := write()
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.str("message"), "lost its database") || r.str("code") != "unavailable" {
			return fmt.Errorf("%d %s", r.status, r.raw)
		}
		return nil
	})
	next, e2 := c.Leader(15*time.Second, epoch, leader)
	t.Logf("%s leads at epoch %d after %s", next.Name, e2, time.Since(cut))

	leader.relay.Restore()
	wait.UntilNil(t, 20*time.Second, "the reconnected server takes writes again", func() error {
		if r := write(); r.status >= 500 {
			return fmt.Errorf("%d %s", r.status, r.raw)
		}
		return nil
	})
	wait.UntilNil(t, 10*time.Second, "the reconnected server is a live follower", func() error {
		st, err := leader.Status()
		if err != nil {
			return err
		}
		for _, s := range st.Servers {
			if s.Name == leader.Name && (!s.Alive || s.Leader) {
				return fmt.Errorf("%s: alive %v, leader %v", s.Name, s.Alive, s.Leader)
			}
		}
		if st.Leader == nil || st.Leader.Name != next.Name || st.Leader.Epoch != e2 {
			return fmt.Errorf("leader %+v, want %s at epoch %d", st.Leader, next.Name, e2)
		}
		return nil
	})
}

// TestClusterSQLiteSingleServer: a second server on the SQLite database of
// a running one refuses to start, naming the database and saying to use
// PostgreSQL; the first keeps running; once it stops, the second starts.
func TestClusterSQLiteSingleServer(t *testing.T) {
	requireDaemon(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startDaemon(t, "server", "-data-dir", dirA)
	db := filepath.Join(dirA, "quantix.db")
	b := spawn(t, "server", "-data-dir", dirB, "-db-dsn", db, "-http-addr", freeAddr(t), "-rpc-addr", freeAddr(t))
	select {
	case <-b.done:
	case <-time.After(60 * time.Second):
		t.Fatal("a second server on the same SQLite database kept running")
	}
	if b.err == nil {
		t.Error("the second server exited with status 0")
	}
	log, _ := os.ReadFile(b.log)
	for _, want := range []string{db, "in use by another quantixd server", "SQLite is single-server", "PostgreSQL"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, log)
		}
	}
	a.must(t, http.StatusOK, "GET", "/api/cluster", "")
	a.stop(t)
	c := startDaemon(t, "server", "-data-dir", dirA)
	st := c.must(t, http.StatusOK, "GET", "/api/cluster", "")
	if !strings.Contains(st.raw, `"leader":{`) {
		t.Errorf("the single server does not lead: %s", st.raw)
	}
	c.stop(t)
}

// BenchmarkClusterFailover times, with three `quantixd server` processes
// on one PostgreSQL database (default lease: 6s ttl, 1s renewals), how
// long after kill -9 of the leader another server leads, as the survivors'
// GET /api/cluster shows it. The killed server is started again before the
// next kill. QUANTIX_BENCH_FAILOVER_KILLS sets the number of kills
// (default 20). The baseline is the lease ttl, the time a dead leader's
// lease takes to lapse: the ratios say how much more than it failover
// takes (at most renew_interval more is expected: the survivors' next
// attempt).
func BenchmarkClusterFailover(b *testing.B) {
	kills := 20
	if v := os.Getenv("QUANTIX_BENCH_FAILOVER_KILLS"); v != "" {
		if _, err := fmt.Sscan(v, &kills); err != nil || kills < 1 {
			b.Fatalf("QUANTIX_BENCH_FAILOVER_KILLS=%q: want a positive number", v)
		}
	}
	c := startCluster(b, 3, clusterOptions{})
	leader, epoch := c.Leader(30*time.Second, 0)
	var took []time.Duration
	for range b.N {
		for range kills {
			killed := time.Now()
			leader.Kill(b)
			next, e := c.Leader(30*time.Second, epoch, leader)
			took = append(took, time.Since(killed))
			c.Restart(leader)
			leader, epoch = next, e
		}
	}
	b.StopTimer()
	slices.Sort(took)
	p := func(q float64) time.Duration { return took[min(len(took)-1, int(q*float64(len(took))))] }
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(p(0.5)), "failover-p50-ms")
	b.ReportMetric(ms(p(0.99)), "failover-p99-ms")
	b.ReportMetric(ms(took[len(took)-1]), "failover-max-ms")
	ttl := config.DefaultLeaseTTL
	b.ReportMetric(ms(p(0.5))/ms(ttl), "p50-per-lease-ttl")
	b.ReportMetric(ms(p(0.99))/ms(ttl), "p99-per-lease-ttl")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d leader kills: a new leader after p50 %s, p99 %s, max %s (min %s); lease ttl %s", len(took), p(0.5), p(0.99), took[len(took)-1], took[0], ttl)
}
