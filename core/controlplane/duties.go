package controlplane

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/reconcile"
	"github.com/quantixvm/quantix/core/restart"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
)

// Duty is one of the reconciler's cluster-wide duties. Run does its work
// until ctx ends; it is run only while this server leads the cluster, with
// a ctx that carries the leader's fence (store.WithFence), so that every
// write it makes fails with store.ErrFenced, changing nothing, once
// another server leads. Run may be called again for a later term.
type Duty struct {
	Name string
	Run  func(ctx context.Context)
}

// Duties returns the reconciler's cluster-wide duties (ReconcilerOptions.
// Elected): node liveness, the stuck-state scan and restarts by restart
// policy.
func (r *Reconciler) Duties() []Duty {
	return []Duty{
		{Name: "node-liveness", Run: r.livenessDuty},
		{Name: "stuck-scan", Run: r.stuckDuty},
		{Name: "restarts", Run: r.restartDuty},
	}
}

// every runs fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn(ctx)
		}
	}
}

// runElected is Run with Elected: it writes the heartbeats this server
// receives to the database every HeartbeatFlush, until ctx ends.
func (r *Reconciler) runElected(ctx context.Context) error {
	every(ctx, r.opts.HeartbeatFlush, r.nodes.flushBeats)
	// What arrived since the last write: the leader is not to wait for
	// the next server to hear from those nodes.
	fctx, cancel := detached(ctx)
	defer cancel()
	r.nodes.flushBeats(fctx)
	return nil
}

// flushBeats writes, in one statement, the heartbeat time (the database's)
// of every node that gave a sign of life on this server since the last
// call. A node the leader has marked UNREACHABLE meanwhile is marked so
// here too, so that its next heartbeat revives it (READY, and a full sync).
func (l *liveness) flushBeats(ctx context.Context) {
	l.mu.Lock()
	ids := slices.Sorted(maps.Keys(l.beaten))
	clear(l.beaten)
	l.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	states, err := l.r.store.Nodes().TouchHeartbeats(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			l.r.log.Warn("writing node heartbeats; trying again", "nodes", len(ids), "error", err)
		}
		l.mu.Lock()
		for _, id := range ids {
			l.beaten[id] = struct{}{}
		}
		l.mu.Unlock()
		return
	}
	for id, st := range states {
		if st != node.StateUnreachable {
			continue
		}
		l.mu.Lock()
		c := l.nodes[id]
		l.mu.Unlock()
		if c == nil {
			continue
		}
		c.mu.Lock()
		if c.state == node.StateReady {
			c.state = node.StateUnreachable
		}
		c.mu.Unlock()
	}
}

// livenessDuty judges, every LivenessScan while this server leads, every
// node stored READY by the freshest of its sign of life on this server (in
// memory) and its stored heartbeat (written by whichever server holds its
// session): one with neither within its missed heartbeats becomes
// UNREACHABLE and its VMs UNKNOWN. Clocks start at the takeover: no node is
// judged silent before one deadline after it.
func (r *Reconciler) livenessDuty(ctx context.Context) {
	l := r.nodes
	if err := l.load(ctx); err != nil {
		r.log.Error("loading the nodes for the liveness check", "error", err)
	}
	l.mu.Lock()
	l.since = r.now()
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.since = time.Time{}
		l.mu.Unlock()
	}()
	every(ctx, r.opts.LivenessScan, l.judge)
}

// judge is one liveness check of the leader.
func (l *liveness) judge(ctx context.Context) {
	r := l.r
	beats, dbNow, err := r.store.Nodes().Heartbeats(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("reading node heartbeats", "error", err)
		}
		return
	}
	now := r.now()
	l.mu.Lock()
	since := l.since
	l.mu.Unlock()
	for _, hb := range beats {
		if ctx.Err() != nil {
			return
		}
		c, err := l.clock(ctx, hb.ID)
		if err != nil {
			continue // removed meanwhile
		}
		if err := l.judgeOne(ctx, c, hb, since, now, dbNow); err != nil && ctx.Err() == nil {
			if errors.Is(err, store.ErrFenced) {
				return
			}
			r.log.Error("marking a silent node unreachable", "node", c.name, "id", c.id, "error", err)
		}
	}
}

// judgeOne marks node c UNREACHABLE, and its VMs UNKNOWN, in one fenced
// transaction, if it is stored READY and neither this server's clock
// (counted from the takeover at the earliest) nor its stored heartbeat
// (against the database's time, allowing for the HeartbeatFlush it may
// lag by) is within its missed heartbeats.
func (l *liveness) judgeOne(ctx context.Context, c *nodeClock, hb store.NodeHeartbeat, since, now, dbNow time.Time) error {
	r := l.r
	c.mu.Lock()
	defer c.mu.Unlock()
	if hb.State != node.StateReady {
		if hb.State == node.StateUnreachable || hb.State == node.StateMaintenance {
			c.state = hb.State
		}
		return nil
	}
	c.state = node.StateReady
	window := time.Duration(r.opts.MissedHeartbeats) * c.interval
	last := c.lastBeat
	if last.Before(since) {
		last = since
	}
	if now.Sub(last) <= window {
		return nil
	}
	stored := time.Time{}
	if hb.LastHeartbeat != nil {
		stored = *hb.LastHeartbeat
		// A stored heartbeat lags the sign of life it records by up to
		// one HeartbeatFlush of the server that wrote it.
		if dbNow.Sub(stored) <= window+r.opts.HeartbeatFlush {
			return nil
		}
	}
	vms, err := r.store.VMs().ListByNode(ctx, c.id)
	if err != nil {
		return err
	}
	seen := c.lastBeat
	if seen.Before(stored) {
		seen = stored
	}
	msg := fmt.Sprintf("node %s missed %d heartbeats (none since %s): state unknown",
		c.name, r.opts.MissedHeartbeats, seen.UTC().Format(time.RFC3339))
	rl := func(cur *vm.VM) reconcile.Verdict { return reconcile.Unreachable(cur, c.id, msg, now) }
	items := make([]item, 0, len(vms))
	for _, v := range vms {
		items = append(items, newItem(v, rl))
	}
	var out outbox
	var n *node.Node
	err = r.store.Tx(ctx, func(tx store.Store) error {
		out = outbox{}
		var err error
		if n, err = tx.Nodes().Get(ctx, c.id); err != nil {
			return err
		}
		// A heartbeat written since the check (or another state) wins.
		if n.State != node.StateReady || (n.LastHeartbeat != nil && n.LastHeartbeat.After(stored)) {
			return errUnchanged
		}
		st := store.NodeStatus{State: node.StateUnreachable, Backend: n.Backend, LastHeartbeat: n.LastHeartbeat}
		if err := tx.Nodes().UpdateStatus(ctx, c.id, st); err != nil {
			return err
		}
		return r.writeItems(ctx, tx, items, &out)
	})
	if errors.Is(err, errUnchanged) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	old := c.state
	c.state, c.backend = node.StateUnreachable, n.Backend
	r.flush(ctx, &out)
	r.publishNode(ctx, events.NodeEvent{NodeID: c.id, NodeName: c.name, Time: now, Action: "unreachable",
		OldState: old, NewState: c.state, Healthy: c.backend.Healthy, Message: fmt.Sprintf("%d heartbeats missed: %d vms are UNKNOWN", r.opts.MissedHeartbeats, len(out.events))})
	r.log.Warn("node unreachable", "node", c.name, "id", c.id, "last_heartbeat", seen, "vms_unknown", len(out.events))
	return nil
}

// stuckDuty runs the stuck-state scan every StuckScan while this server
// leads.
func (r *Reconciler) stuckDuty(ctx context.Context) {
	every(ctx, r.opts.StuckScan, r.scanStuck)
}

// restartBatch bounds how many VMs one scan for restarts looks at.
const restartBatch = 500

// restartDuty runs the restarts by restart policy while this server leads:
// it makes a scheduler for the term, looks at once for VMs down that their
// policy wants running (its predecessor may have left some), then learns
// of VMs going down from the events, wherever their hosts reported, and
// looks again every RestartScan (events of other servers may not reach
// this one, a slow subscriber loses some). Every attempt begins with a
// fenced write, so a server that no longer leads restarts nothing; at the
// end of the term the scheduler is stopped, attempts under way finishing.
func (r *Reconciler) restartDuty(ctx context.Context) {
	// Once an attempt is refused, this server no longer leads: it plans
	// nothing more until its term ends (and ctx with it).
	var deposed atomic.Bool
	ctx, depose := context.WithCancel(ctx)
	defer depose()
	s := r.newRestarts(ctx, func() {
		if !deposed.Swap(true) {
			r.log.Warn("another server leads the cluster: restarts stop here")
			depose()
		}
	})
	r.restartMu.Lock()
	r.restarts = s
	r.restartMu.Unlock()
	defer func() {
		r.restartMu.Lock()
		if r.restarts == s {
			r.restarts = nil
		}
		r.restartMu.Unlock()
		s.Stop()
	}()
	// Subscribe before the first scan: nothing going down in between is
	// missed.
	downs := make(chan string, 64)
	stream, err := r.broker.Subscribe(nil, nil)
	if err == nil {
		go func() {
			defer stream.Close()
			for {
				ev, err := stream.Next(ctx)
				if err != nil {
					return
				}
				id := ""
				switch {
				case ev.Kind == events.StreamGap:
					// Events were lost: the next scan finds what they said.
				case ev.Kind == events.StreamVM && wentDown(ev.VM):
					id = ev.VM.VMID
				}
				if id == "" {
					continue
				}
				select {
				case downs <- id:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	r.scanRestartable(ctx, s)
	t := time.NewTicker(r.opts.RestartScan)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-downs:
			r.considerRestart(ctx, s, id)
		case <-t.C:
			r.scanRestartable(ctx, s)
		}
	}
}

// wentDown reports whether ev records a VM going down that a restart
// policy may answer: not an outcome of the reconciler's own restarts,
// which the scheduler follows itself, and not the discovery of a VM found
// down on a host (its record is made with restart policy never, so there
// is nothing to read; a full sync discovering a host's VMs would cost the
// leader one read per VM found down).
func wentDown(ev *vm.Event) bool {
	if ev == nil || (ev.NewState != vm.StateStopped && ev.NewState != vm.StateCrashed) || ev.OldState == ev.NewState {
		return false
	}
	if ev.Action == discoverAction {
		return false
	}
	return !(ev.Cause == vm.CauseReconciler && strings.HasPrefix(ev.Action, "restart"))
}

// scanRestartable hands every VM down that its policy wants running to s.
func (r *Reconciler) scanRestartable(ctx context.Context, s *restart.Scheduler) {
	list, err := r.store.VMs().ListRestartable(ctx, restartBatch)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("listing vms to restart", "error", err)
		}
		return
	}
	for _, v := range list {
		r.triggerIfWanted(s, v)
	}
}

// considerRestart hands VM id to s if, as stored now, its policy wants it
// running.
func (r *Reconciler) considerRestart(ctx context.Context, s *restart.Scheduler, id string) {
	v, err := r.store.VMs().Get(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			r.log.Warn("reading a vm that went down", "id", id, "error", err)
		}
		return
	}
	r.triggerIfWanted(s, v)
}

// triggerIfWanted triggers a restart of v if it is owed one (owedRestart)
// and no action of this process runs on it.
func (r *Reconciler) triggerIfWanted(s *restart.Scheduler, v *vm.VM) {
	if !owedRestart(v) || r.isBusy(v.ID) {
		return
	}
	s.Trigger(v.ID)
}
