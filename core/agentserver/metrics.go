package agentserver

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Report kinds, the kind label of the report metrics.
const (
	ReportFullSync  = "full_sync"
	ReportChange    = "change"
	ReportHeartbeat = "heartbeat"
)

// Why sessions end, the reason label of quantix_agent_sessions_closed_total.
const (
	EndAgentClosed     = "agent_closed"
	EndSuperseded      = "superseded"
	EndTakenOver       = "taken_over"
	EndServerClosing   = "server_closing"
	EndLostDatabase    = "lost_database"
	EndEnded           = "ended_by_server"
	EndRevoked         = "revoked"
	EndMissedHeartbeat = "missed_heartbeats"
	EndError           = "error"
)

// metrics are the agent server's: sessions and reports applied.
type metrics struct {
	connected prometheus.Gauge
	opened    prometheus.Counter
	closed    *prometheus.CounterVec
	applied   *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	dropped   *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "quantix_agent_sessions",
			Help: "Agent sessions attached to this server now: one per node whose agent is connected here.",
		}),
		opened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quantix_agent_sessions_opened_total",
			Help: "Agent sessions attached to this server.",
		}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantix_agent_sessions_closed_total",
			Help: "Agent sessions that ended on this server, by reason (agent_closed, superseded, taken_over, server_closing, lost_database, ended_by_server, revoked, missed_heartbeats, error).",
		}, []string{"reason"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantix_agent_reports_applied_total",
			Help: "Agent reports applied to the inventory, by kind (full_sync, change, heartbeat) and result (ok, error; a failure has the next heartbeat ask for a full sync).",
		}, []string{"kind", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "quantix_agent_report_apply_duration_seconds",
			Help:    "Time to apply one agent report to the inventory, by kind (full_sync, change, heartbeat).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"kind"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantix_agent_reports_dropped_total",
			Help: "Agent reports not applied because they were stale, by reason (superseded: of a session no longer its node's; stale: not newer than the last applied).",
		}, []string{"reason"}),
	}
	for _, kind := range []string{ReportFullSync, ReportChange, ReportHeartbeat} {
		m.applied.WithLabelValues(kind, "ok")
		m.applied.WithLabelValues(kind, "error")
		m.duration.WithLabelValues(kind)
	}
	for _, r := range []string{EndAgentClosed, EndSuperseded, EndServerClosing, EndMissedHeartbeat} {
		m.closed.WithLabelValues(r)
	}
	m.dropped.WithLabelValues("superseded")
	m.dropped.WithLabelValues("stale")
	return m
}

// Collector returns the agent server's metrics: the sessions attached now,
// opened and closed, and the reports applied by kind with their latency.
// Register it with the daemon's registry.
func (s *Server) Collector() prometheus.Collector { return s.metrics }

// Describe sends the descriptions of the agent server's metrics.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.connected.Describe(ch)
	m.opened.Describe(ch)
	m.closed.Describe(ch)
	m.applied.Describe(ch)
	m.duration.Describe(ch)
	m.dropped.Describe(ch)
}

// Collect sends the agent server's metrics' values now.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.connected.Collect(ch)
	m.opened.Collect(ch)
	m.closed.Collect(ch)
	m.applied.Collect(ch)
	m.duration.Collect(ch)
	m.dropped.Collect(ch)
}

// sessionOpened counts a session attached.
func (m *metrics) sessionOpened() {
	m.opened.Inc()
	m.connected.Inc()
}

// sessionClosed counts an attached session ended for cause.
func (m *metrics) sessionClosed(cause error) {
	m.connected.Dec()
	m.closed.WithLabelValues(endReason(cause)).Inc()
}

// reportApplied counts one report of kind applied since start.
func (m *metrics) reportApplied(kind string, start time.Time, err error) {
	m.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.applied.WithLabelValues(kind, result).Inc()
}

// endReason is the reason label of a session's end.
func endReason(cause error) string {
	switch {
	case cause == nil || errors.Is(cause, context.Canceled):
		return EndAgentClosed
	case errors.Is(cause, errTakenOver):
		return EndTakenOver
	case errors.Is(cause, errSuperseded):
		return EndSuperseded
	case errors.Is(cause, errServerClosing):
		return EndServerClosing
	case errors.Is(cause, errLostDatabase):
		return EndLostDatabase
	case errors.Is(cause, errEnded):
		return EndEnded
	case errors.Is(cause, errRevoked):
		return EndRevoked
	case errors.Is(cause, errMissedBeats):
		return EndMissedHeartbeat
	}
	return EndError
}
