package stats

import (
	"cmp"
	"slices"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics exports per-VM series on /metrics: the counters as the agents
// last sent them and memory gauges, labelled vm_id and node_id, for at
// most MaxSeriesVMs VMs (the busiest by their latest CPU); the others are
// counted, not exported.
type metrics struct {
	c                                             *Collector
	cpu, rdB, wrB, rdOp, wrOp, rxB, txB, rxP, txP *prometheus.Desc
	mem, rss, vcpus                               *prometheus.Desc
	exported, dropped, droppedTotal               *prometheus.Desc
	droppedSum                                    atomic.Uint64
}

func newMetrics(c *Collector) *metrics {
	l := []string{"vm_id", "node_id"}
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, l, nil) }
	return &metrics{
		c:            c,
		cpu:          d("quantix_vm_cpu_seconds_total", "CPU time the VM used, its vCPUs and emulator threads, as its host last reported."),
		rdB:          d("quantix_vm_disk_read_bytes_total", "Bytes the VM read from its disks."),
		wrB:          d("quantix_vm_disk_written_bytes_total", "Bytes the VM wrote to its disks."),
		rdOp:         d("quantix_vm_disk_reads_total", "Read operations of the VM's disks."),
		wrOp:         d("quantix_vm_disk_writes_total", "Write operations of the VM's disks."),
		rxB:          d("quantix_vm_network_receive_bytes_total", "Bytes the VM's network interfaces received."),
		txB:          d("quantix_vm_network_transmit_bytes_total", "Bytes the VM's network interfaces sent."),
		rxP:          d("quantix_vm_network_receive_packets_total", "Packets the VM's network interfaces received."),
		txP:          d("quantix_vm_network_transmit_packets_total", "Packets the VM's network interfaces sent."),
		mem:          d("quantix_vm_memory_bytes", "Memory the VM may use now (its balloon's size when it has one)."),
		rss:          d("quantix_vm_memory_rss_bytes", "Resident memory of the VM's process on its host."),
		vcpus:        d("quantix_vm_vcpus", "The VM's virtual CPUs."),
		exported:     prometheus.NewDesc("quantix_vm_stats_series_vms", "VMs whose series this server exports (at most server.stats.max_series_vms).", nil, nil),
		dropped:      prometheus.NewDesc("quantix_vm_stats_series_dropped", "VMs with statistics on this server whose series were left out at the last scrape, past server.stats.max_series_vms.", nil, nil),
		droppedTotal: prometheus.NewDesc("quantix_vm_stats_series_dropped_total", "VM series left out of scrapes past server.stats.max_series_vms, summed over scrapes.", nil, nil),
	}
}

// Metrics is the Collector's Prometheus collector; register it once.
func (c *Collector) Metrics() prometheus.Collector { return c.metrics }

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.cpu, m.rdB, m.wrB, m.rdOp, m.wrOp, m.rxB, m.txB, m.rxP, m.txP, m.mem, m.rss, m.vcpus, m.exported, m.dropped, m.droppedTotal} {
		ch <- d
	}
}

type vmRow struct {
	id, node string
	busy     float32
	t        totals
	mem, rss uint64
	vcpus    int32
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	c := m.c
	c.mu.Lock()
	rows := make([]vmRow, 0, len(c.vms))
	for id, s := range c.vms {
		if !s.hasLast {
			continue
		}
		r := vmRow{id: id, node: s.node, t: s.last}
		if n := len(s.pts); n > 0 {
			p := s.pts[n-1]
			r.busy, r.mem, r.rss, r.vcpus = p.cpu, p.mem, p.rss, p.vcpus
		}
		rows = append(rows, r)
	}
	c.mu.Unlock()
	limit := c.opts.MaxSeriesVMs
	dropped := 0
	if len(rows) > limit {
		slices.SortFunc(rows, func(a, b vmRow) int {
			if a.busy != b.busy {
				return cmp.Compare(b.busy, a.busy)
			}
			return cmp.Compare(a.id, b.id)
		})
		dropped = len(rows) - limit
		rows = rows[:limit]
		m.droppedSum.Add(uint64(dropped))
	}
	counter := func(d *prometheus.Desc, v float64, r *vmRow) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, r.id, r.node)
	}
	gauge := func(d *prometheus.Desc, v float64, r *vmRow) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, r.id, r.node)
	}
	for i := range rows {
		r := &rows[i]
		counter(m.cpu, r.t.cpu.Seconds(), r)
		counter(m.rdB, float64(r.t.rdB), r)
		counter(m.wrB, float64(r.t.wrB), r)
		counter(m.rdOp, float64(r.t.rdOp), r)
		counter(m.wrOp, float64(r.t.wrOp), r)
		counter(m.rxB, float64(r.t.rxB), r)
		counter(m.txB, float64(r.t.txB), r)
		counter(m.rxP, float64(r.t.rxPk), r)
		counter(m.txP, float64(r.t.txPk), r)
		gauge(m.mem, float64(r.mem), r)
		gauge(m.rss, float64(r.rss), r)
		gauge(m.vcpus, float64(r.vcpus), r)
	}
	ch <- prometheus.MustNewConstMetric(m.exported, prometheus.GaugeValue, float64(len(rows)))
	ch <- prometheus.MustNewConstMetric(m.dropped, prometheus.GaugeValue, float64(dropped))
	ch <- prometheus.MustNewConstMetric(m.droppedTotal, prometheus.CounterValue, float64(m.droppedSum.Load()))
}
