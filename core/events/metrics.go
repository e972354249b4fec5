package events

import "github.com/prometheus/client_golang/prometheus"

var (
	subscribersDesc = prometheus.NewDesc("quantix_event_stream_subscribers",
		"Clients following the event stream now (GET /api/events and /api/vms/{id}/events).", nil, nil)
	droppedDesc = prometheus.NewDesc("quantix_event_stream_dropped_total",
		"Events not sent to a subscriber that read too slowly; it was sent a gap marker instead and resumes from the store.", nil, nil)
)

// Collector returns the broker's metrics, read at scrape time: its
// subscribers and the events dropped for slow ones.
func (b *Broker) Collector() prometheus.Collector { return brokerCollector{b} }

type brokerCollector struct{ b *Broker }

// Describe sends the descriptions of the broker's metrics.
func (c brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- subscribersDesc
	ch <- droppedDesc
}

// Collect sends the broker's metrics' values now.
func (c brokerCollector) Collect(ch chan<- prometheus.Metric) {
	c.b.mu.Lock()
	subs, drops := len(c.b.subs), c.b.drops
	c.b.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(subscribersDesc, prometheus.GaugeValue, float64(subs))
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(drops))
}
