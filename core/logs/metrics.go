package logs

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quantixvm/quantix/internal/promreg"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// Reasons an entry is dropped or rejected, the reason label of
// quantix_logs_dropped_total and quantix_logs_rejected_total.
const (
	// DropPermanent: the sink refused the entry for good.
	DropPermanent = "permanent"
	// DropUndecodable: the spool held bytes that are not an entry.
	DropUndecodable = "undecodable"
	// DropSpoolMaxBytes and DropSpoolMaxAge: a spool retention bound
	// discarded the entry before the sink got it.
	DropSpoolMaxBytes = "spool_" + ReasonMaxBytes
	DropSpoolMaxAge   = "spool_" + ReasonMaxAge
	// DropSpoolDamaged: the entry's spool record was found damaged on disk
	// and skipped; its source is not known, so it counts as "unknown".
	DropSpoolDamaged = "spool_damaged"

	// RejectInvalid: the entry failed validation.
	RejectInvalid = "invalid"
	// RejectRateLimited: the sender was over its rate.
	RejectRateLimited = "rate_limited"
	// RejectTooLarge: the request or the entry was over a size bound.
	RejectTooLarge = "too_large"
	// RejectOverflow: the system source's queue was full.
	RejectOverflow = "overflow"
	// RejectUnavailable: the spool refused the entry (closed or failed).
	RejectUnavailable = "unavailable"
)

// Metrics are the pipeline's Prometheus metrics: entries accepted per
// source, delivered, retried and dropped per source and sink, and the
// spool's state.
type Metrics struct {
	accepted  *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	delivered *prometheus.CounterVec
	retried   *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	evictions *prometheus.CounterVec
	// unregister takes the metrics off the registerer they were registered
	// with; nil when they were not.
	unregister func()
}

// newMetrics makes the metrics and registers them (and the spool gauges of
// stats) with reg; a nil reg keeps them unregistered.
func newMetrics(reg prometheus.Registerer, sinks []string, stats func() SpoolStats) (*Metrics, error) {
	m := &Metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantix_logs_accepted_total", Help: "Log entries accepted into the durable spool, per source.",
		}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantix_logs_rejected_total", Help: "Log entries refused before the spool, per source and reason.",
		}, []string{"source", "reason"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantix_logs_delivered_total", Help: "Log entries delivered, per source and sink (\"store\" is the built-in store).",
		}, []string{"source", "sink"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantix_logs_retried_total", Help: "Deliveries of a log entry that failed for a reason that may pass and were retried, per source and sink.",
		}, []string{"source", "sink"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantix_logs_dropped_total", Help: "Log entries a sink will never get, per source, sink and reason (permanent, spool_max_bytes, spool_max_age, spool_damaged, undecodable).",
		}, []string{"source", "sink", "reason"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantix_logs_spool_evictions_total", Help: "Spool segments discarded because a retention bound was crossed, per bound.",
		}, []string{"reason"}),
	}
	for _, src := range logsink.Sources {
		m.accepted.WithLabelValues(string(src))
		for _, sink := range sinks {
			m.delivered.WithLabelValues(string(src), sink)
			m.retried.WithLabelValues(string(src), sink)
			m.dropped.WithLabelValues(string(src), sink, DropPermanent)
		}
	}
	for _, r := range []string{ReasonMaxBytes, ReasonMaxAge} {
		m.evictions.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	collectors := []prometheus.Collector{m.accepted, m.rejected, m.delivered, m.retried, m.dropped, m.evictions}
	if stats != nil {
		collectors = append(collectors, spoolCollector{stats: stats})
	}
	if err := promreg.RegisterAll(reg, collectors...); err != nil {
		return nil, fmt.Errorf("registering log pipeline metrics: %w", err)
	}
	m.unregister = func() {
		for _, c := range collectors {
			reg.Unregister(c)
		}
	}
	return m, nil
}

// Accepted counts n entries of source taken into the spool.
func (m *Metrics) Accepted(source logsink.Source, n int) {
	m.accepted.WithLabelValues(string(source)).Add(float64(n))
}

// Rejected counts n entries of source refused before the spool.
func (m *Metrics) Rejected(source logsink.Source, reason string, n int) {
	m.rejected.WithLabelValues(string(source), reason).Add(float64(n))
}

func (m *Metrics) delivery(vec *prometheus.CounterVec, source logsink.Source, sink string, n int) {
	vec.WithLabelValues(string(source), sink).Add(float64(n))
}

func (m *Metrics) drop(source logsink.Source, sink, reason string, n int) {
	m.dropped.WithLabelValues(string(source), sink, reason).Add(float64(n))
}

// spoolCollector reports the spool's size and every consumer's lag at
// scrape time.
type spoolCollector struct{ stats func() SpoolStats }

var (
	spoolBytesDesc    = prometheus.NewDesc("quantix_logs_spool_bytes", "Size of the log spool's segment files.", nil, nil)
	spoolSegmentsDesc = prometheus.NewDesc("quantix_logs_spool_segments", "Number of log spool segment files.", nil, nil)
	spoolSyncsDesc    = prometheus.NewDesc("quantix_logs_spool_syncs_total", "Group commits of the log spool: one write and one fsync each.", nil, nil)
	spoolLagDesc      = prometheus.NewDesc("quantix_logs_spool_lag_entries", "Spooled log entries a consumer has not acknowledged yet.", []string{"sink"}, nil)
	spoolDamagedDesc  = prometheus.NewDesc("quantix_logs_spool_damaged_records_total", "Log spool records found damaged on disk when the spool was opened, and skipped.", nil, nil)
)

// Describe sends the descriptions of the spool metrics.
func (c spoolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- spoolBytesDesc
	ch <- spoolSegmentsDesc
	ch <- spoolSyncsDesc
	ch <- spoolLagDesc
	ch <- spoolDamagedDesc
}

// Collect sends the spool metrics' values now.
func (c spoolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(spoolBytesDesc, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(spoolSegmentsDesc, prometheus.GaugeValue, float64(st.Segments))
	ch <- prometheus.MustNewConstMetric(spoolSyncsDesc, prometheus.CounterValue, float64(st.Syncs))
	ch <- prometheus.MustNewConstMetric(spoolDamagedDesc, prometheus.CounterValue, float64(st.Damaged))
	for name, lag := range st.Lag {
		ch <- prometheus.MustNewConstMetric(spoolLagDesc, prometheus.GaugeValue, float64(lag), sinkOfConsumer(name))
	}
}
