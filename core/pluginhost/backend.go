package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// SupervisedBackend is a backend plugin process kept running by the host. It
// is a backend.Backend that delegates to the current process; while the
// process is down every call returns at once with an error matching
// plugin.ErrUnavailable, and streams open when it dies end with one, so
// callers retry or re-subscribe.
type SupervisedBackend struct {
	name     string
	dir      string
	path     string
	checksum []byte
	sup      Supervision
	logger   hclog.Logger

	// ctx ends on Close; launches run under it.
	ctx    context.Context
	cancel context.CancelFunc

	mu           sync.RWMutex
	settings     []byte    // the config block as JSON, sent at every launch
	cur          *instance // nil while down or closed
	closed       bool
	status       Status
	listeners    map[int]RelaunchFunc
	nextListener int

	kick      chan struct{}
	closing   chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
	closeErr  error // set by the supervisor before stopped is closed
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
	sum, _ := ParseChecksum(cfg.Checksum) // checked by validate
	settings, err := plugin.EncodeConfig(cfg.Settings)
	if err != nil {
		return nil, fmt.Errorf("plugin %q config: %w; the config block may only hold strings, numbers, bools, lists and objects", cfg.Name, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &SupervisedBackend{
		name:      cfg.Name,
		dir:       cfg.Dir,
		path:      cfg.Path,
		checksum:  sum,
		settings:  settings,
		sup:       cfg.Supervision.withDefaults(),
		logger:    pluginLogger(cfg.Logger, cfg.Name),
		ctx:       runCtx,
		cancel:    cancel,
		listeners: make(map[int]RelaunchFunc),
		kick:      make(chan struct{}, 1),
		closing:   make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	inst, err := s.launch(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	s.cur = inst
	s.status = Status{
		Name:       cfg.Name,
		Healthy:    true,
		PID:        inst.proc.pid,
		Since:      time.Now(),
		Info:       inst.info,
		APIVersion: inst.apiVersion,
	}
	s.logger.Info("plugin launched", "pid", inst.proc.pid, "version", inst.info.Version, "api_version", inst.apiVersion)
	go s.supervise(inst)
	return s, nil
}

// launch starts and configures one process.
func (s *SupervisedBackend) launch(ctx context.Context) (*instance, error) {
	path, err := Locate(plugin.TypeBackend, s.name, s.dir, s.path)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	settings := s.settings
	s.mu.RUnlock()
	return launchBackend(ctx, processSpec{
		name:     s.name,
		typ:      plugin.TypeBackend,
		path:     path,
		checksum: s.checksum,
		sets:     backend.PluginSets(nil),
		logger:   s.logger,
		timeout:  s.sup.StartTimeout,
	}, settings)
}

// Name is the plugin's configured name.
func (s *SupervisedBackend) Name() string { return s.name }

// Close stops supervising and kills the plugin process (asking it to shut
// down first). Calls made afterwards fail as unavailable.
func (s *SupervisedBackend) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.cur = nil
		s.status.Healthy = false
		s.status.PID = 0
		s.status.LastError = ErrClosed
		s.status.Since = time.Now()
		s.mu.Unlock()
		s.cancel()
		close(s.closing)
		<-s.stopped
	})
	return s.closeErr
}

// acquire returns the running instance, or the unavailable error a call
// gets while there is none.
func (s *SupervisedBackend) acquire() (*instance, error) {
	s.mu.RLock()
	inst, closed, last := s.cur, s.closed, s.status.LastError
	s.mu.RUnlock()
	switch {
	case closed:
		return nil, unavailable(s.name, ErrClosed)
	case inst == nil:
		return nil, unavailable(s.name, last)
	}
	return inst, nil
}

// finish turns what a call on inst returned into what the caller gets: a
// call cut short because the plugin died or was closed is unavailable; an
// unavailable error has the supervisor look at the process at once.
func (s *SupervisedBackend) finish(ctx context.Context, inst *instance, err error) error {
	if ctx.Err() != nil {
		return err
	}
	if inst.dead.Err() != nil {
		return unavailable(s.name, context.Cause(inst.dead))
	}
	if errors.Is(err, plugin.ErrUnavailable) {
		s.poke()
		return &plugin.Error{Kind: plugin.KindUnavailable, Message: fmt.Sprintf("backend plugin %q: %v", s.name, err), Err: err}
	}
	return err
}

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
		s.mu.Lock()
		s.settings = config
		s.mu.Unlock()
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

func (s *SupervisedBackend) CreateVM(ctx context.Context, spec backend.VMSpec) (*backend.VM, error) {
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

// WatchEvents streams lifecycle events; when the plugin dies the stream ends
// with an unavailable error and the caller re-subscribes and resyncs.
func (s *SupervisedBackend) WatchEvents(ctx context.Context, fn func(backend.Event) error) error {
	return s.stream(ctx, func(ctx context.Context, c *backend.GRPCClient) error {
		return c.WatchEvents(ctx, fn)
	})
}
