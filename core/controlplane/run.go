package controlplane

import (
	"context"
	"sync"
	"time"
)

// Run runs the reconciler's periodic work until ctx ends: every
// LivenessScan it makes nodes that missed their heartbeats UNREACHABLE (the
// clocks of the nodes stored READY start when Run does), and every
// StuckScan it corrects VMs stuck in a transitional state. Every agent must
// report through the reconciler's ReportHandler methods, or its node goes
// UNREACHABLE.
func (r *Reconciler) Run(ctx context.Context) error {
	if err := r.nodes.load(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	every := func(d time.Duration, fn func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
		}()
	}
	every(r.opts.LivenessScan, r.nodes.check)
	every(r.opts.StuckScan, r.scanStuck)
	wg.Wait()
	return nil
}
