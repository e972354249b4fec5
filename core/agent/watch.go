package agent

import (
	"context"
	"time"

	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// subscribeGrace is how long a (re)opened event stream must hold before the
// agent takes it as established and lists every VM: events from then on are
// seen, so the listing leaves nothing out.
const subscribeGrace = 250 * time.Millisecond

// watchEvents follows the backend's lifecycle events into the view, and
// re-subscribes with backoff whenever the stream breaks.
func (a *Agent) watchEvents(ctx context.Context) {
	b := newBackoff(100*time.Millisecond, 2*time.Second)
	var lastErr string
	for {
		started := time.Now()
		established := time.AfterFunc(subscribeGrace, a.requestResync)
		err := a.cfg.Backend.WatchEvents(ctx, func(ev backend.Event) error {
			a.handleEvent(ctx, ev)
			return nil
		})
		established.Stop()
		if ctx.Err() != nil {
			return
		}
		a.view.unsync()
		if time.Since(started) > 10*time.Second {
			b.reset()
		}
		msg := "ended"
		if err != nil {
			msg = err.Error()
		}
		if msg != lastErr {
			a.log.Warn("backend event stream broke; subscribing again and listing every vm once it holds", "error", msg)
			lastErr = msg
		}
		if !sleep(ctx, b.next()) {
			return
		}
	}
}

// handleEvent applies one lifecycle event to the view: the VM is looked up
// for its current state, a deleted one is gone, a resync lists everything.
func (a *Agent) handleEvent(ctx context.Context, ev backend.Event) {
	if ev.Type == backend.EventResync {
		a.log.Info("backend asked for a resync: listing every vm")
		a.view.unsync()
		a.requestResync()
		return
	}
	if vm.IgnoredUUID(ev.VMID) {
		a.log.Debug("ignoring an event of a vm without a usable uuid", "type", ev.Type, "uuid", ev.VMID, "name", ev.VMName)
		return
	}
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	if ev.Type == backend.EventDeleted {
		a.view.gone(ev.VMID, ev.Reason, at, time.Now())
		return
	}
	gctx, cancel := context.WithTimeout(ctx, backendCallTimeout)
	x, err := a.cfg.Backend.GetVM(gctx, ev.VMID)
	cancel()
	// When the backend answered: the server compares it with the
	// observation times of command replies (execute), to drop a change
	// older than what it holds.
	observed := time.Now()
	switch {
	case err == nil && x != nil && x.ID == ev.VMID:
		a.view.set(x, ev.Reason, at, observed)
	case plugin.KindOf(err) == plugin.KindNotFound:
		a.view.gone(ev.VMID, ev.Reason, at, observed)
	case ctx.Err() != nil:
	default:
		a.log.Warn("looking up a vm after its event failed; listing every vm", "vm", ev.VMID, "event", ev.Type, "error", err)
		a.view.unsync()
		a.requestResync()
	}
}

// lister lists every VM at start, every resync interval and on request, and
// tells the attached session when the listing calls for a full sync: it
// was asked for, or it found the view wrong.
func (a *Agent) lister(ctx context.Context) {
	t := time.NewTicker(a.cfg.ResyncInterval)
	defer t.Stop()
	forced := true
	for {
		if !a.list(ctx, forced) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			forced = false
		case <-a.resyncReq:
			forced = true
		}
	}
}

// list lists every VM into the view, retrying with backoff until it
// succeeds; false when ctx ended first. A request arriving while it retries
// is served by the listing that succeeds.
func (a *Agent) list(ctx context.Context, forced bool) bool {
	b := newBackoff(200*time.Millisecond, a.cfg.MaxBackoff)
	var lastErr string
	for {
		since := a.view.begin()
		lctx, cancel := context.WithTimeout(ctx, listTimeout)
		all, err := a.cfg.Backend.ListVMs(lctx)
		cancel()
		if err == nil {
			vms := make([]*backend.VM, 0, len(all))
			for _, x := range all {
				if x != nil && !vm.IgnoredUUID(x.ID) {
					vms = append(vms, x)
				} else if x != nil {
					a.log.Debug("ignoring a vm without a usable uuid", "uuid", x.ID, "name", x.Name)
				}
			}
			changed := a.view.replace(vms, since)
			if changed && !forced {
				a.log.Info("the periodic listing found vms the events did not report: sending a full sync")
			}
			if forced || changed {
				a.listed()
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if err.Error() != lastErr {
			a.log.Warn("listing the host's vms failed; retrying", "error", err)
			lastErr = err.Error()
		}
		if !sleep(ctx, b.next()) {
			return false
		}
		select {
		case <-a.resyncReq:
			forced = true
		default:
		}
	}
}

// listed tells the attached session that a fresh listing is in the view.
func (a *Agent) listed() {
	a.mu.Lock()
	s := a.sess
	a.mu.Unlock()
	if s != nil {
		s.notifyListed()
	}
}
