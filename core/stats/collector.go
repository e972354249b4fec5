package stats

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/sdk/backend"
)

// Defaults of the Options left zero.
const (
	DefaultWindow       = 15 * time.Minute
	DefaultHistoryStep  = time.Minute
	DefaultRetention    = 7 * 24 * time.Hour
	DefaultMaxSeriesVMs = 1000
	// flushEvery is how often complete history steps are written and
	// series gone quiet for the window are forgotten.
	flushEvery = 5 * time.Second
	// pruneEvery is how often the history past retention is removed.
	pruneEvery = 10 * time.Minute
	// bucketGrace is how long after a history step ends samples of it are
	// still awaited (agents' clocks and batches lag a little).
	bucketGrace = 15 * time.Second
)

// Options configure a Collector.
type Options struct {
	// Window is how long samples are kept in memory.
	Window time.Duration
	// HistoryStep is the resolution of the history written to History.
	HistoryStep time.Duration
	// Retention is how long History keeps points.
	Retention time.Duration
	// History keeps the averaged points; nil keeps none.
	History store.StatsRepo
	// MaxSeriesVMs caps the VMs whose series /metrics exports.
	MaxSeriesVMs int
	// Logger receives what goes wrong; nil discards.
	Logger hclog.Logger
}

// Collector keeps the statistics of the nodes whose agents this server
// holds. It is safe for concurrent use; Record never blocks on the store.
type Collector struct {
	opts Options
	log  hclog.Logger

	mu      sync.Mutex
	vms     map[string]*vmSeries
	nodes   map[string]*series
	pending []store.VMStatPoint
	// interval is the last gap seen between two samples of a node, the
	// agents' sampling interval.
	interval time.Duration

	metrics *metrics
}

// series is a window of points, oldest first.
type series struct {
	pts []point
}

func (s *series) push(p point, keepFrom int64) {
	if n := len(s.pts); n > 0 && s.pts[n-1].t >= p.t {
		return // a sample repeated or out of order
	}
	s.pts = append(s.pts, p)
	i := 0
	for i < len(s.pts) && s.pts[i].t < keepFrom {
		i++
	}
	if i > 0 {
		// Shift rather than reslice now and then, so that the array does
		// not grow for ever.
		if i > len(s.pts)/4 {
			s.pts = append(s.pts[:0], s.pts[i:]...)
		} else {
			s.pts = s.pts[i:]
		}
	}
}

func (s *series) since(from int64) []store.StatPoint {
	i, _ := slices.BinarySearchFunc(s.pts, from, func(p point, t int64) int { return int(p.t - t) })
	out := make([]store.StatPoint, 0, len(s.pts)-i)
	for _, p := range s.pts[i:] {
		out = append(out, p.expand())
	}
	return out
}

// vmSeries is one VM's window, its last counters and the history step
// being averaged.
type vmSeries struct {
	series
	node    string
	state   backend.PowerState
	seen    time.Time
	last    totals
	hasLast bool
	// acc sums the points of the history step starting at accT.
	acc  stepSum
	accT time.Time
}

// New returns a Collector; run its flushing with Run.
func New(opts Options) *Collector {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.HistoryStep <= 0 {
		opts.HistoryStep = DefaultHistoryStep
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.MaxSeriesVMs <= 0 {
		opts.MaxSeriesVMs = DefaultMaxSeriesVMs
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	c := &Collector{opts: opts, log: opts.Logger.Named("stats"), vms: map[string]*vmSeries{}, nodes: map[string]*series{}}
	c.metrics = newMetrics(c)
	return c
}

// HistoryStep is the resolution of the history in the store.
func (c *Collector) HistoryStep() time.Duration { return c.opts.HistoryStep }

// Window is how far back the memory goes.
func (c *Collector) Window() time.Duration { return c.opts.Window }

// Retention is how far back the history goes.
func (c *Collector) Retention() time.Duration { return c.opts.Retention }

// Record takes samples of node nodeID's VMs, oldest first.
func (c *Collector) Record(nodeID string, samples []*backend.HostStats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range samples {
		if h == nil {
			continue
		}
		c.record(nodeID, h)
	}
}

func (c *Collector) record(nodeID string, h *backend.HostStats) {
	keepFrom := h.Time.Add(-c.opts.Window).UnixMilli()
	node := c.nodes[nodeID]
	if node == nil {
		node = &series{}
		c.nodes[nodeID] = node
	}
	sum := point{t: h.Time.UnixMilli()}
	rated := 0
	for i := range h.VMs {
		v := &h.VMs[i]
		if v.ID == "" {
			continue
		}
		s := c.vms[v.ID]
		if s == nil {
			s = &vmSeries{}
			c.vms[v.ID] = s
		}
		s.node, s.state, s.seen = nodeID, v.State, h.Time
		cur := totalsOf(h.Time, v)
		if s.hasLast {
			if p, ok := rate(s.last, cur, v); ok {
				cp := compact(p)
				s.push(cp, keepFrom)
				sum.add(cp)
				rated++
				c.accumulate(v.ID, s, p)
			}
		}
		s.last, s.hasLast = cur, true
	}
	if n := len(node.pts); n > 0 {
		if gap := time.Duration(sum.t-node.pts[n-1].t) * time.Millisecond; gap > 0 {
			c.interval = gap
		}
	}
	if rated > 0 {
		node.push(sum, keepFrom)
	}
}

// accumulate adds p to the VM's history step, writing out the step before
// when p starts a new one.
func (c *Collector) accumulate(id string, s *vmSeries, p store.StatPoint) {
	b := p.T.Truncate(c.opts.HistoryStep)
	if s.acc.n > 0 && !b.Equal(s.accT) {
		c.closeStep(id, s)
	}
	s.accT = b
	s.acc.add(p)
}

// closeStep queues the VM's averaged step for the store.
func (c *Collector) closeStep(id string, s *vmSeries) {
	if s.acc.n == 0 {
		return
	}
	avg := s.acc.take(s.accT)
	if c.opts.History != nil {
		c.pending = append(c.pending, store.VMStatPoint{VMID: id, NodeID: s.node, StatPoint: avg})
	}
}

// Run writes complete history steps to the store every few seconds,
// forgets series quiet for the window and prunes the history past
// retention, until ctx ends; it writes what is complete once more then.
func (c *Collector) Run(ctx context.Context) {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			c.Flush(context.WithoutCancel(ctx), time.Now())
			return
		case now := <-t.C:
			c.Flush(ctx, now)
			if c.opts.History != nil && now.Sub(lastPrune) >= pruneEvery {
				lastPrune = now
				if n, err := c.opts.History.Prune(ctx, now.Add(-c.opts.Retention)); err != nil {
					c.log.Warn("pruning the stats history failed; trying again later", "error", err)
				} else if n > 0 {
					c.log.Debug("pruned the stats history", "points", n)
				}
			}
		}
	}
}

// Flush closes the history steps that ended before now (less a grace for
// late samples), writes every closed step to the store and forgets the
// series quiet for the window.
func (c *Collector) Flush(ctx context.Context, now time.Time) {
	c.mu.Lock()
	closeBefore := now.Add(-bucketGrace)
	forget := now.Add(-c.opts.Window)
	for id, s := range c.vms {
		if s.acc.n > 0 && !s.accT.Add(c.opts.HistoryStep).After(closeBefore) {
			c.closeStep(id, s)
		}
		if s.seen.Before(forget) {
			c.closeStep(id, s)
			delete(c.vms, id)
		}
	}
	for id, n := range c.nodes {
		if len(n.pts) == 0 || time.UnixMilli(n.pts[len(n.pts)-1].t).Before(forget) {
			delete(c.nodes, id)
		}
	}
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	if len(pending) == 0 || c.opts.History == nil {
		return
	}
	if err := c.opts.History.Insert(ctx, pending); err != nil {
		c.log.Warn("writing the stats history failed; these points are lost", "points", len(pending), "error", err)
	}
}

// VM returns the VM's points in memory from since, and whether this
// server holds the VM's samples at all.
func (c *Collector) VM(id string, since time.Time) ([]store.StatPoint, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.vms[id]
	if s == nil {
		return nil, false
	}
	return s.since(since.UnixMilli()), true
}

// Node returns the node's points in memory from since (the sums of its
// VMs'), and whether this server holds the node's samples.
func (c *Collector) Node(id string, since time.Time) ([]store.StatPoint, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.nodes[id]
	if s == nil {
		return nil, false
	}
	return s.since(since.UnixMilli()), true
}

// Interval is the agents' sampling interval as last seen; zero before two
// samples of one node came.
func (c *Collector) Interval() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.interval
}

// Latest is a VM's latest point.
type Latest struct {
	VMID   string
	NodeID string
	State  backend.PowerState
	store.StatPoint
}

// Top returns the n VMs that used the most CPU in their latest point, of
// those sampled since since, busiest first.
func (c *Collector) Top(n int, since time.Time) []Latest {
	c.mu.Lock()
	out := make([]Latest, 0, len(c.vms))
	from := since.UnixMilli()
	for id, s := range c.vms {
		if len(s.pts) == 0 || s.pts[len(s.pts)-1].t < from {
			continue
		}
		out = append(out, Latest{VMID: id, NodeID: s.node, State: s.state, StatPoint: s.pts[len(s.pts)-1].expand()})
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Latest) int {
		switch {
		case a.CPUCores > b.CPUCores:
			return -1
		case a.CPUCores < b.CPUCores:
			return 1
		}
		return cmp.Compare(a.VMID, b.VMID)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
