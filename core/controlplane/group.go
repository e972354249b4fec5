package controlplane

import (
	"context"
	"sync"
	"time"
)

// maxGroupRows bounds the records the transaction of one group of full
// syncs writes or inserts (commitGroup): some twenty nodes' first full
// syncs of 250 VMs.
const maxGroupRows = 5000

// groupTimeout bounds the transaction of a group of full syncs, whose
// reports each have a deadline of their own.
const groupTimeout = 30 * time.Second

// pendingReport is a full sync's report waiting for its group's commit.
type pendingReport struct {
	ctx context.Context
	rep *report
	// res receives the outcome; lead is closed when this report's caller
	// is to commit the next group (one that holds this report).
	res  chan error
	lead chan struct{}
}

// reportGroups commits the writes of full syncs in groups (group commit):
// while one group's transaction runs, the full syncs that arrive wait and
// then go together in the next, one transaction for all of them. A node's
// first full sync inserts every VM of the node with its event; committed
// one at a time, the cost of each transaction (the event order lock, the
// commit's flush) bounds how many nodes a server takes in a second, and
// servers take their turns at the event order lock. Grouped, a server
// pays it once for all the full syncs that queued meanwhile. A lone full
// sync is committed at once, as before.
//
// The caller whose report finds no group running commits; when its group
// is done it hands the role over to the oldest report still waiting, so
// that no caller commits for others longer than its own group.
type reportGroups struct {
	mu      sync.Mutex
	queue   []*pendingReport
	running bool
}

// commitGrouped commits rep (from a full sync) in a group of reports.
func (r *Reconciler) commitGrouped(ctx context.Context, rep *report) error {
	p := &pendingReport{ctx: ctx, rep: rep, res: make(chan error, 1), lead: make(chan struct{})}
	g := &r.groups
	g.mu.Lock()
	g.queue = append(g.queue, p)
	if !g.running {
		g.running = true
		close(p.lead)
	}
	g.mu.Unlock()
	select {
	case err := <-p.res:
		return err
	case <-p.lead:
	}
	g.mu.Lock()
	n, rows := 0, 0
	for n < len(g.queue) && (n == 0 || rows+g.queue[n].rep.rows() <= maxGroupRows) {
		rows += g.queue[n].rep.rows()
		n++
	}
	group := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	r.commitGroup(group)

	g.mu.Lock()
	if len(g.queue) > 0 {
		close(g.queue[0].lead)
	} else {
		g.running = false
		g.queue = nil
	}
	g.mu.Unlock()
	return <-p.res
}

// commitGroup commits the reports of group in one transaction and tells
// each the outcome. When that fails, each is committed on its own, so that
// one report's failure is its own.
func (r *Reconciler) commitGroup(group []*pendingReport) {
	var live []*pendingReport
	for _, p := range group {
		if err := p.ctx.Err(); err != nil {
			p.res <- err
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	if len(live) == 1 {
		live[0].res <- r.commitReports(live[0].ctx, []*report{live[0].rep})
		return
	}
	reps := make([]*report, len(live))
	for i, p := range live {
		reps[i] = p.rep
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(live[0].ctx), groupTimeout)
	err := r.commitReports(ctx, reps)
	cancel()
	if err == nil {
		for _, p := range live {
			p.res <- nil
		}
		return
	}
	r.log.Debug("committing a group of full syncs one by one: their transaction failed", "reports", len(live), "error", err)
	for _, p := range live {
		p.res <- r.commitReports(p.ctx, []*report{p.rep})
	}
}
