package cluster_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
)

// clusterMetrics reads m's cluster metrics: the gauges by name, the
// leadership changes as name{change}.
func clusterMetrics(t *testing.T, m *member) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.c.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range s.GetLabel() {
				name += "{" + l.GetValue() + "}"
			}
			if s.GetGauge() != nil {
				out[name] = s.GetGauge().GetValue()
			} else {
				out[name] = s.GetCounter().GetValue()
			}
		}
	}
	return out
}

// TestLeadershipMetrics (PostgreSQL): the leader says so with its epoch,
// the follower does not; a clean stop hands the lease over and the new
// leader counts the term it acquired; a leader cut off from the database
// counts the term it lost and reports the database unreachable.
func TestLeadershipMetrics(t *testing.T) {
	dsn := teststore.DSN(t, "postgres")
	ms := []*member{start(t, "postgres", dsn, "ma"), start(t, "postgres", dsn, "mb")}
	first := wait.Value(t, 5*time.Second, "one leader", func() (*member, bool) {
		l := leaders(ms)
		return firstOf(l), len(l) == 1
	})
	second := ms[0]
	if second == first {
		second = ms[1]
	}
	e1, _ := first.c.Leading()
	got := clusterMetrics(t, first)
	if got["quantix_cluster_is_leader"] != 1 || got["quantix_cluster_leader_epoch"] != float64(e1) ||
		got["quantix_cluster_leadership_changes_total{acquired}"] != 1 || got["quantix_cluster_leadership_changes_total{lost}"] != 0 ||
		got["quantix_cluster_database_reachable"] != 1 {
		t.Errorf("the leader's metrics: %v (epoch %d)", got, e1)
	}
	if got := clusterMetrics(t, second); got["quantix_cluster_is_leader"] != 0 || got["quantix_cluster_leadership_changes_total{acquired}"] != 0 {
		t.Errorf("the follower's metrics: %v", got)
	}

	first.stop()
	if got := clusterMetrics(t, first); got["quantix_cluster_is_leader"] != 0 || got["quantix_cluster_leadership_changes_total{lost}"] != 1 {
		t.Errorf("the stopped leader's metrics: %v", got)
	}
	wait.Until(t, 10*time.Second, "the other server leads", func() bool { return clusterMetrics(t, second)["quantix_cluster_is_leader"] == 1 })
	if got := clusterMetrics(t, second); got["quantix_cluster_leader_epoch"] != float64(e1+1) || got["quantix_cluster_leadership_changes_total{acquired}"] != 1 {
		t.Errorf("the new leader's metrics: %v, want epoch %d", got, e1+1)
	}

	second.down.Store(true)
	wait.Until(t, 2*ttl, "the cut-off leader counts its lost term and the database unreachable", func() bool {
		got := clusterMetrics(t, second)
		return got["quantix_cluster_is_leader"] == 0 && got["quantix_cluster_leadership_changes_total{lost}"] == 1 &&
			got["quantix_cluster_database_reachable"] == 0
	})
	problems, err := testutil.CollectAndLint(second.c.Collector())
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}
