package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/core/logs"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// logsDrainTimeout bounds how long shutting down waits for the sinks to
// take what the spool holds; the rest is delivered after the next start.
const logsDrainTimeout = 10 * time.Second

// logPipeline is what startLogs starts, closed in reverse by close.
type logPipeline struct {
	pipe   *logs.Pipeline
	sinks  []*pluginhost.SupervisedLogSink
	system *logs.SystemSource
	// intercept is the daemon's logger the system source is registered on.
	intercept hclog.InterceptLogger
}

// startLogs launches a plugin per log_sink block (from plugin_dir, or from
// the path of the plugin block of the same name and checked against its
// checksum), opens the log pipeline on <data_dir>/logs/spool with the
// built-in store and those sinks, and feeds the daemon's own log at info and
// above into it (source system).
func (d *daemon) startLogs(ctx context.Context, cfg *config.Config, reg prometheus.Registerer) error {
	lp := &logPipeline{}
	d.logs = lp
	var sinks []logs.Sink
	for _, sc := range cfg.LogSinks {
		pc := pluginhost.Config{Name: sc.Name, Dir: cfg.PluginDir, Settings: sc.Config, Logger: d.log, Metrics: d.pluginMetrics}
		// The plugin block of the same name says where the binary is and
		// what it must hash to, as it does for the backend.
		if p := cfg.Plugin(sc.Name); p != nil {
			pc.Path, pc.Checksum = p.Path, p.Checksum
		}
		s, err := pluginhost.LaunchLogSink(ctx, pc)
		if err != nil {
			return fmt.Errorf("starting log sink %q: %w", sc.Name, err)
		}
		lp.sinks = append(lp.sinks, s)
		sources := make([]logsink.Source, len(sc.Sources))
		for i, src := range sc.Sources {
			sources[i] = logsink.Source(src)
		}
		sinks = append(sinks, logs.Sink{Name: sc.Name, Sources: sources, Writer: s})
	}
	lc := cfg.Server.Logs
	pipe, err := logs.Open(logs.Options{
		Dir:        filepath.Join(cfg.DataDir, "logs", "spool"),
		Spool:      logs.SpoolOptions{MaxBytes: int64(lc.SpoolMaxMiB) << 20, MaxAge: lc.SpoolMaxAge, SegmentBytes: spoolSegmentBytes(lc.SpoolMaxMiB)},
		Store:      d.store.Logs(),
		Retention:  logs.Retention{MaxAge: lc.RetentionMaxAge, MaxEntries: lc.RetentionMaxEntries, ByLeader: true},
		Sinks:      sinks,
		Registerer: reg,
		Logger:     d.log,
	})
	if err != nil {
		return err
	}
	lp.pipe = pipe
	if il, ok := d.log.(hclog.InterceptLogger); ok {
		lp.system = pipe.NewSystemSource(hclog.Info)
		lp.intercept = il
		il.RegisterSink(lp.system)
	}
	return nil
}

// spoolSegmentBytes sizes spool segments so that a bound of max MiB spans
// at least eight of them.
func spoolSegmentBytes(maxMiB int) int64 {
	return min(logs.DefaultSegmentBytes, int64(maxMiB)<<20/8)
}

// close stops feeding the daemon's log, lets the sinks take what the spool
// holds (bounded by logsDrainTimeout), closes the pipeline, then the sink
// plugins.
func (lp *logPipeline) close() error {
	if lp == nil {
		return nil
	}
	var errs []error
	if lp.system != nil {
		lp.intercept.DeregisterSink(lp.system)
		lp.system.Close()
	}
	if lp.pipe != nil {
		ctx, cancel := context.WithTimeout(context.Background(), logsDrainTimeout)
		errs = append(errs, lp.pipe.Close(ctx))
		cancel()
	}
	for _, s := range lp.sinks {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		if err := s.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("closing log sink %q: %w", s.Name(), err))
		}
		cancel()
	}
	return errors.Join(errs...)
}
