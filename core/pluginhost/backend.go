package pluginhost

import (
	"context"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// SupervisedBackend is a backend plugin process kept running by the host. It
// is a backend.Backend that delegates to the current process; while the
// process is down every call returns at once with an error matching
// plugin.ErrUnavailable, and streams open when it dies end with one, so
// callers retry or re-subscribe.
type SupervisedBackend struct {
	*supervised
}

var (
	_ backend.Backend       = (*SupervisedBackend)(nil)
	_ backend.Closer        = (*SupervisedBackend)(nil)
	_ backend.HealthChecker = (*SupervisedBackend)(nil)
)

// LaunchBackend locates, verifies, starts and configures the backend plugin
// cfg describes, then supervises it until Close. An error here (binary
// missing, checksum mismatch, bad config, incompatible plugin) means nothing
// is left running.
func LaunchBackend(ctx context.Context, cfg Config) (*SupervisedBackend, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s, err := startSupervised(ctx, cfg, backendKind)
	if err != nil {
		return nil, err
	}
	return &SupervisedBackend{supervised: s}, nil
}

// Close stops supervising and kills the plugin process (asking it to shut
// down first). Calls made afterwards fail as unavailable.
func (s *SupervisedBackend) Close() error { return s.stop() }

// call runs one unary call on the running instance.
func call[T any](s *SupervisedBackend, ctx context.Context, fn func(context.Context, *backend.GRPCClient) (T, error)) (T, error) {
	inst, err := s.acquire()
	if err != nil {
		var zero T
		return zero, err
	}
	cctx, done := inst.bind(ctx)
	v, err := fn(cctx, inst.backend)
	done()
	if err != nil {
		return v, s.finish(ctx, inst, err)
	}
	return v, nil
}

// stream runs one streaming call; its end is always checked, since a stream
// cut short by the plugin's death otherwise ends without error.
func (s *SupervisedBackend) stream(ctx context.Context, fn func(context.Context, *backend.GRPCClient) error) error {
	inst, err := s.acquire()
	if err != nil {
		return err
	}
	cctx, done := inst.bind(ctx)
	defer done()
	return s.finish(ctx, inst, fn(cctx, inst.backend))
}

// Info returns what the running plugin says about itself.
func (s *SupervisedBackend) Info(ctx context.Context) (plugin.Info, error) {
	return call(s, ctx, func(ctx context.Context, c *backend.GRPCClient) (plugin.Info, error) {
		return c.Info(ctx)
	})
}

// Configure reconfigures the running plugin. The host configures it at
// launch and after every relaunch on its own; config, once accepted, is what
// later relaunches are configured with.
func (s *SupervisedBackend) Configure(ctx context.Context, config []byte, apiVersion int) error {
	_, err := call(s, ctx, func(ctx context.Context, c *backend.GRPCClient) (struct{}, error) {
		if err := c.Configure(ctx, config, apiVersion); err != nil {
			return struct{}{}, configError(s.name, err)
		}
		return struct{}{}, nil
	})
	if err == nil {
		s.setSettings(config)
	}
	return err
}

func (s *SupervisedBackend) HostInfo(ctx context.Context) (*backend.HostInfo, error) {
	return call(s, ctx, func(ctx context.Context, c *backend.GRPCClient) (*backend.HostInfo, error) {
		return c.HostInfo(ctx)
	})
}

func (s *SupervisedBackend) ListVMs(ctx context.Context) ([]*backend.VM, error) {
	return call(s, ctx, func(ctx context.Context, c *backend.GRPCClient) ([]*backend.VM, error) {
		return c.ListVMs(ctx)
	})
}

func (s *SupervisedBackend) GetVM(ctx context.Context, id string) (*backend.VM, error) {
	return call(s, ctx, func(ctx context.Context, c *backend.GRPCClient) (*backend.VM, error) {
		return c.GetVM(ctx, id)
	})
}

// CreateVM refuses a spec using what the running plugin does not offer
// (backend.CheckSpecSupported: direct kernel boot with an API version 1
// plugin) instead of letting it drop the field.
func (s *SupervisedBackend) CreateVM(ctx context.Context, spec backend.VMSpec) (*backend.VM, error) {
	inst, err := s.acquire()
	if err != nil {
		return nil, err
	}
	if err := backend.CheckSpecSupported(spec, inst.apiVersion, inst.info.Capabilities); err != nil {
		return nil, err
	}
	return call(s, ctx, func(ctx context.Context, c *backend.GRPCClient) (*backend.VM, error) {
		return c.CreateVM(ctx, spec)
	})
}

func (s *SupervisedBackend) DeleteVM(ctx context.Context, id string, opts backend.DeleteOptions) error {
	_, err := call(s, ctx, func(ctx context.Context, c *backend.GRPCClient) (struct{}, error) {
		return struct{}{}, c.DeleteVM(ctx, id, opts)
	})
	return err
}

func (s *SupervisedBackend) StartVM(ctx context.Context, id string) (*backend.VM, error) {
	return call(s, ctx, func(ctx context.Context, c *backend.GRPCClient) (*backend.VM, error) {
		return c.StartVM(ctx, id)
	})
}

func (s *SupervisedBackend) StopVM(ctx context.Context, id string, opts backend.StopOptions) (*backend.VM, error) {
	return call(s, ctx, func(ctx context.Context, c *backend.GRPCClient) (*backend.VM, error) {
		return c.StopVM(ctx, id, opts)
	})
}

func (s *SupervisedBackend) RebootVM(ctx context.Context, id string) (*backend.VM, error) {
	return call(s, ctx, func(ctx context.Context, c *backend.GRPCClient) (*backend.VM, error) {
		return c.RebootVM(ctx, id)
	})
}

func (s *SupervisedBackend) PauseVM(ctx context.Context, id string) (*backend.VM, error) {
	return call(s, ctx, func(ctx context.Context, c *backend.GRPCClient) (*backend.VM, error) {
		return c.PauseVM(ctx, id)
	})
}

func (s *SupervisedBackend) ResumeVM(ctx context.Context, id string) (*backend.VM, error) {
	return call(s, ctx, func(ctx context.Context, c *backend.GRPCClient) (*backend.VM, error) {
		return c.ResumeVM(ctx, id)
	})
}

func (s *SupervisedBackend) TailLog(ctx context.Context, id string, n int) (*backend.LogTail, error) {
	return call(s, ctx, func(ctx context.Context, c *backend.GRPCClient) (*backend.LogTail, error) {
		return c.TailLog(ctx, id, n)
	})
}

// StreamLog follows a VM's log; when the plugin dies the stream ends with an
// unavailable error and the caller resumes from the last offset it saw.
func (s *SupervisedBackend) StreamLog(ctx context.Context, id string, offset int64, fn func(backend.LogLine) error) error {
	return s.stream(ctx, func(ctx context.Context, c *backend.GRPCClient) error {
		return c.StreamLog(ctx, id, offset, fn)
	})
}

// StreamLogFrom is StreamLog resuming by file (backend.LogResumer).
func (s *SupervisedBackend) StreamLogFrom(ctx context.Context, id string, from backend.LogPosition, fn func(backend.LogLine) error) error {
	return s.stream(ctx, func(ctx context.Context, c *backend.GRPCClient) error {
		return c.StreamLogFrom(ctx, id, from, fn)
	})
}

// WatchEvents streams lifecycle events; when the plugin dies the stream ends
// with an unavailable error and the caller re-subscribes and resyncs.
func (s *SupervisedBackend) WatchEvents(ctx context.Context, fn func(backend.Event) error) error {
	return s.stream(ctx, func(ctx context.Context, c *backend.GRPCClient) error {
		return c.WatchEvents(ctx, fn)
	})
}
