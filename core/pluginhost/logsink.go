package pluginhost

import (
	"context"
	"errors"
	"fmt"

	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// SupervisedLogSink is a log sink plugin process kept running by the host,
// with the same supervision as a backend: it is a logsink.Sink that
// delegates to the current process; while the process is down every call
// returns at once with an error matching plugin.ErrUnavailable (a Write is
// then retryable as a whole), and the process is relaunched with backoff and
// configured again.
type SupervisedLogSink struct {
	*supervised
}

var (
	_ logsink.Sink    = (*SupervisedLogSink)(nil)
	_ logsink.Flusher = (*SupervisedLogSink)(nil)
)

// LaunchLogSink locates, verifies, starts and configures the log sink plugin
// cfg describes (quantix-logsink-<Name>, from a `log_sink "<name>" {}`
// block), then supervises it until Close. An error here (binary missing,
// checksum mismatch, bad config, incompatible plugin) means nothing is left
// running.
func LaunchLogSink(ctx context.Context, cfg Config) (*SupervisedLogSink, error) {
	if cfg.Name == "" {
		return nil, fmt.Errorf("log sink plugin: the sink has no name; give its block a name, e.g. log_sink %q {}", "file")
	}
	if _, err := ParseChecksum(cfg.Checksum); err != nil {
		return nil, fmt.Errorf("log_sink %q: %w", cfg.Name, err)
	}
	s, err := startSupervised(ctx, cfg, logSinkKind)
	if err != nil {
		return nil, err
	}
	return &SupervisedLogSink{supervised: s}, nil
}

// sinkCall runs one call on the running instance.
func sinkCall[T any](s *SupervisedLogSink, ctx context.Context, fn func(context.Context, *logsink.GRPCClient) (T, error)) (T, error) {
	inst, err := s.acquire()
	if err != nil {
		var zero T
		return zero, err
	}
	cctx, done := inst.bind(ctx)
	v, err := fn(cctx, inst.sink)
	done()
	if err != nil {
		return v, s.finish(ctx, inst, err)
	}
	return v, nil
}

// Info returns what the running plugin says about itself.
func (s *SupervisedLogSink) Info(ctx context.Context) (plugin.Info, error) {
	return sinkCall(s, ctx, func(ctx context.Context, c *logsink.GRPCClient) (plugin.Info, error) {
		return c.Info(ctx)
	})
}

// Configure reconfigures the running plugin. The host configures it at
// launch and after every relaunch on its own; config, once accepted, is what
// later relaunches are configured with.
func (s *SupervisedLogSink) Configure(ctx context.Context, config []byte, apiVersion int) error {
	_, err := sinkCall(s, ctx, func(ctx context.Context, c *logsink.GRPCClient) (struct{}, error) {
		if err := c.Configure(ctx, config, apiVersion); err != nil {
			return struct{}{}, configErrorOf(s.kind.block, s.name, err)
		}
		return struct{}{}, nil
	})
	if err == nil {
		s.setSettings(config)
	}
	return err
}

// Write delivers entries through the running plugin. While the plugin is
// down, or when it dies during the call, the call fails as unavailable:
// logsink.ResultOf makes every entry retryable.
func (s *SupervisedLogSink) Write(ctx context.Context, entries []logsink.Entry) ([]logsink.Result, error) {
	return sinkCall(s, ctx, func(ctx context.Context, c *logsink.GRPCClient) ([]logsink.Result, error) {
		return c.Write(ctx, entries)
	})
}

// Flush asks the running plugin to push what it holds to its destination.
func (s *SupervisedLogSink) Flush(ctx context.Context) error {
	_, err := sinkCall(s, ctx, func(ctx context.Context, c *logsink.GRPCClient) (struct{}, error) {
		return struct{}{}, c.Flush(ctx)
	})
	return err
}

// Close has the running plugin flush and release its destination, then
// stops supervising and stops the process. A plugin that is down at that
// moment is not waited for: its process already ended. Calls made
// afterwards fail as unavailable; closing again does nothing more.
func (s *SupervisedLogSink) Close(ctx context.Context) error {
	var errs []error
	if inst, err := s.acquire(); err == nil {
		cctx, done := inst.bind(ctx)
		if err := inst.sink.Close(cctx); err != nil {
			errs = append(errs, fmt.Errorf("closing log sink %q: %w", s.name, err))
		}
		done()
	}
	if err := s.stop(); err != nil {
		errs = append(errs, fmt.Errorf("stopping log sink plugin %q: %w", s.name, err))
	}
	return errors.Join(errs...)
}
