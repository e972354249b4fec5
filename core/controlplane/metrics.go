package controlplane

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/store"
)

// DefaultInventoryMaxAge is how long the inventory metrics are served from
// the last reading before the next scrape reads the database again. The
// grouped count reads an index (vms_node_id_state_idx): about 5 ms at
// 50,000 VMs on SQLite or PostgreSQL (BenchmarkCountByNodeState), so
// reading at most once a second costs the database under 1% of its time.
const DefaultInventoryMaxAge = time.Second

// inventoryReadTimeout bounds one reading of the inventory counts.
const inventoryReadTimeout = 30 * time.Second

// inventoryCostFactor bounds the database time the inventory metrics take:
// the next reading waits at least this many times as long as the last one
// took, so that reading the counts never takes more than 1/20 of the
// database's time, however often it is scraped. At 50,000 VMs the grouped
// count takes about 5 ms (BenchmarkCountByNodeState, SQLite and
// PostgreSQL alike), so DefaultInventoryMaxAge governs; the factor comes
// into play on a database slow enough that a reading takes over 50 ms (a
// loaded host, an inventory many times larger: before the index, the count
// scanned the VM table and took 2.2 s at 50,000 VMs on a loaded SQLite
// host, 0.15 to 0.37 s unloaded).
const inventoryCostFactor = 20

// nodeStates are the node states the nodes gauge always has a series for.
var nodeStates = []node.State{node.StateReady, node.StateUnreachable, node.StateMaintenance}

var (
	vmsDesc = prometheus.NewDesc("quantix_vms",
		"VM records in the inventory, by node name (empty for a VM on no node) and state; every server of a cluster reports the same counts.",
		[]string{"node", "state"}, nil)
	nodesDesc = prometheus.NewDesc("quantix_nodes",
		"Nodes in the inventory, by liveness state (READY, UNREACHABLE, MAINTENANCE).",
		[]string{"state"}, nil)
	inventoryDurationDesc = prometheus.NewDesc("quantix_inventory_read_duration_seconds",
		"How long the last reading of the inventory counts took; the counts are read again at most every second, or 20 times this when longer.",
		nil, nil)
	inventoryErrorsDesc = prometheus.NewDesc("quantix_inventory_read_errors_total",
		"Readings of the inventory counts for quantix_vms and quantix_nodes that failed; the last counts read are served meanwhile.",
		nil, nil)
	mismatchesDesc = prometheus.NewDesc("quantix_heartbeat_hash_mismatches_total",
		"Agent heartbeats whose VM state hash differed from what the database says the node runs; each one has the agent send a full sync.",
		nil, nil)
)

// Collector returns the reconciler's metrics: the heartbeat hash
// mismatches, read at scrape time.
func (r *Reconciler) Collector() prometheus.Collector { return reconcilerCollector{r} }

type reconcilerCollector struct{ r *Reconciler }

// Describe sends the descriptions of the reconciler's metrics.
func (c reconcilerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- mismatchesDesc }

// Collect sends the reconciler's metrics' values now.
func (c reconcilerCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(mismatchesDesc, prometheus.CounterValue, float64(c.r.hashMismatches.Load()))
}

// InventoryCollector returns the inventory's counts as metrics: VMs by
// node and state, nodes by state. A scrape reads them from the database
// with one grouped count of the VMs and one list of the nodes, unless the
// last reading is younger than maxAge (0: DefaultInventoryMaxAge) or than
// inventoryCostFactor times what it took, so that scrapes of many
// Prometheus servers, at any interval, cost the database at most one
// reading per maxAge and never more than 1/inventoryCostFactor of its
// time, whatever the number of VMs.
func (s *Service) InventoryCollector(maxAge time.Duration) prometheus.Collector {
	if maxAge <= 0 {
		maxAge = DefaultInventoryMaxAge
	}
	return &inventoryCollector{store: s.store, maxAge: maxAge, log: s.log, now: time.Now}
}

type inventoryCollector struct {
	store  store.Store
	maxAge time.Duration
	log    hclog.Logger
	now    func() time.Time

	mu     sync.Mutex
	readAt time.Time
	// took is how long the last reading took.
	took   time.Duration
	read   bool
	vms    []vmCount
	nodes  map[node.State]int
	errors int
}

// vmCount is one series of quantix_vms.
type vmCount struct {
	node, state string
	n           int
}

// Describe sends the descriptions of the inventory metrics.
func (c *inventoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- vmsDesc
	ch <- nodesDesc
	ch <- inventoryErrorsDesc
	ch <- inventoryDurationDesc
}

// Collect sends the inventory counts, read again when older than maxAge.
func (c *inventoryCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read || c.now().Sub(c.readAt) >= max(c.maxAge, inventoryCostFactor*c.took) {
		start := time.Now()
		err := c.refresh()
		c.took = time.Since(start)
		if err != nil {
			c.errors++
			c.log.Warn("reading the inventory counts for /metrics failed; serving the last ones read", "error", err)
		}
		// A failed reading is not retried sooner either: a database in
		// trouble is not asked again by every scrape.
		c.readAt = c.now()
	}
	for _, v := range c.vms {
		ch <- prometheus.MustNewConstMetric(vmsDesc, prometheus.GaugeValue, float64(v.n), v.node, v.state)
	}
	for _, st := range nodeStates {
		ch <- prometheus.MustNewConstMetric(nodesDesc, prometheus.GaugeValue, float64(c.nodes[st]), string(st))
	}
	for st, n := range c.nodes {
		if !isNodeState(st) {
			ch <- prometheus.MustNewConstMetric(nodesDesc, prometheus.GaugeValue, float64(n), string(st))
		}
	}
	ch <- prometheus.MustNewConstMetric(inventoryErrorsDesc, prometheus.CounterValue, float64(c.errors))
	ch <- prometheus.MustNewConstMetric(inventoryDurationDesc, prometheus.GaugeValue, c.took.Seconds())
}

func isNodeState(st node.State) bool {
	for _, s := range nodeStates {
		if s == st {
			return true
		}
	}
	return false
}

// refresh reads the counts; c.mu is held.
func (c *inventoryCollector) refresh() error {
	ctx, cancel := context.WithTimeout(context.Background(), inventoryReadTimeout)
	defer cancel()
	nodes, err := c.store.Nodes().List(ctx)
	if err != nil {
		return err
	}
	counts, err := c.store.VMs().CountByNodeState(ctx)
	if err != nil {
		return err
	}
	names := make(map[string]string, len(nodes))
	byState := make(map[node.State]int, len(nodeStates))
	for _, n := range nodes {
		names[n.ID] = n.Name
		byState[n.State]++
	}
	vms := make([]vmCount, 0, len(counts))
	// Series are merged by label values, which must be unique in a
	// scrape, however names and ids were to collide.
	at := make(map[[2]string]int, len(counts))
	for _, v := range counts {
		name, ok := names[v.NodeID]
		if !ok {
			// A node removed while records still name it: its id.
			name = v.NodeID
		}
		k := [2]string{name, string(v.State)}
		if i, ok := at[k]; ok {
			vms[i].n += v.N
			continue
		}
		at[k] = len(vms)
		vms = append(vms, vmCount{node: name, state: string(v.State), n: v.N})
	}
	c.vms, c.nodes, c.read = vms, byState, true
	return nil
}
