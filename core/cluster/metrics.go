package cluster

import "github.com/prometheus/client_golang/prometheus"

var (
	isLeaderDesc = prometheus.NewDesc("quantix_cluster_is_leader",
		"1 while this server leads the cluster (runs the cluster-wide duties), else 0.", nil, nil)
	epochDesc = prometheus.NewDesc("quantix_cluster_leader_epoch",
		"Epoch of the leader lease this server holds, or held last; 0 when it never led.", nil, nil)
	changesDesc = prometheus.NewDesc("quantix_cluster_leadership_changes_total",
		"Changes of this server's leadership: change=\"acquired\" when it took the lease, \"lost\" when it stopped leading (lease taken, database unreachable, shutdown).",
		[]string{"change"}, nil)
	reachableDesc = prometheus.NewDesc("quantix_cluster_database_reachable",
		"1 while this server reaches the database recently enough to serve writes, else 0 (writes answer 503).", nil, nil)
)

// Collector returns this server's part in the leader election as metrics,
// read at scrape time.
func (c *Cluster) Collector() prometheus.Collector { return clusterCollector{c} }

type clusterCollector struct{ c *Cluster }

// Describe sends the descriptions of the cluster metrics.
func (cc clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- isLeaderDesc
	ch <- epochDesc
	ch <- changesDesc
	ch <- reachableDesc
}

// Collect sends the cluster metrics' values now.
func (cc clusterCollector) Collect(ch chan<- prometheus.Metric) {
	c := cc.c
	healthy := c.Healthy()
	c.mu.Lock()
	leading, epoch, acquired, lost := c.leading, c.epoch, c.term, c.stepDowns
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(isLeaderDesc, prometheus.GaugeValue, b2f(leading))
	ch <- prometheus.MustNewConstMetric(epochDesc, prometheus.GaugeValue, float64(epoch))
	ch <- prometheus.MustNewConstMetric(changesDesc, prometheus.CounterValue, float64(acquired), "acquired")
	ch <- prometheus.MustNewConstMetric(changesDesc, prometheus.CounterValue, float64(lost), "lost")
	ch <- prometheus.MustNewConstMetric(reachableDesc, prometheus.GaugeValue, b2f(healthy))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
