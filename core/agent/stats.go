package agent

import (
	"context"
	"errors"
	"time"

	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// sendStats samples every VM's counters each StatsInterval and sends each
// sample up the session as it is taken, until ctx ends (nil) or a send
// fails (its error). A backend that does not offer stats (plugin
// ErrUnsupported: an API version 1 plugin, or one without the "stats"
// capability) sends nothing; it is asked again every interval, which costs
// no call to the plugin, so a plugin relaunched at a newer version is
// sampled. A sample that fails otherwise is logged and skipped.
func (s *session) sendStats(ctx context.Context, sc backend.StatsCollector) error {
	a := s.a
	// The first sample comes soon after the session starts, at a random
	// point of the first interval, so that agents (re)connecting together
	// do not sample and send in step.
	timer := time.NewTimer(jitter(a.cfg.StatsInterval))
	defer timer.Stop()
	failing, unsupported := false, false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		timer.Reset(a.cfg.StatsInterval)
		cctx, cancel := context.WithTimeout(ctx, min(a.cfg.StatsInterval, backendCallTimeout))
		h, err := sc.CollectStats(cctx)
		cancel()
		switch {
		case errors.Is(err, plugin.ErrUnsupported):
			if !unsupported {
				a.log.Debug("the backend offers no VM statistics; none are sent", "reason", err)
			}
			unsupported = true
			continue
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			if !failing {
				a.log.Warn("sampling VM statistics failed; trying again every interval", "error", err, "interval", a.cfg.StatsInterval)
			}
			failing = true
			continue
		case h == nil:
			continue
		}
		unsupported = false
		if failing {
			a.log.Info("sampling VM statistics works again")
			failing = false
		}
		msg := &agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Stats{Stats: &agentv1.StatsBatch{Samples: []*backendv1.HostStats{backend.HostStatsToProto(h)}}}}
		s.sendMu.Lock()
		err = s.sendLocked(msg)
		s.sendMu.Unlock()
		if err != nil {
			return err
		}
	}
}
