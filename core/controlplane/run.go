package controlplane

import (
	"context"
	"sync"
)

// Run runs the reconciler's periodic work until ctx ends.
//
// Without ReconcilerOptions.Elected it is all of it: every LivenessScan it
// makes nodes that missed their heartbeats UNREACHABLE (the clocks of the
// nodes stored READY start when Run does), and every StuckScan it corrects
// VMs stuck in a transitional state. Every agent must report through the
// reconciler's ReportHandler methods, or its node goes UNREACHABLE.
//
// With Elected those are Duties, run on the cluster's leader; Run only
// writes the heartbeats of the nodes whose agents report to this server
// to the database every HeartbeatFlush, for the leader to judge.
func (r *Reconciler) Run(ctx context.Context) error {
	if r.opts.Elected {
		return r.runElected(ctx)
	}
	if err := r.nodes.load(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	loop := func(fn func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(ctx)
		}()
	}
	loop(func(ctx context.Context) { every(ctx, r.opts.LivenessScan, r.nodes.check) })
	loop(r.stuckDuty)
	wg.Wait()
	return nil
}
