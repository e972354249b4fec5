package pluginhost

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// InProcessBackend is a backend linked into the daemon: the same
// backend.Backend a plugin serves, called directly, with no process, no
// go-plugin and no supervision. Built-ins and scale tests (hundreds of
// simulated hosts in one process) use it. It costs no goroutine.
type InProcessBackend struct {
	backend.Backend
	name string

	mu     sync.Mutex
	status Status
}

var (
	_ backend.Backend       = (*InProcessBackend)(nil)
	_ backend.Closer        = (*InProcessBackend)(nil)
	_ backend.HealthChecker = (*InProcessBackend)(nil)
	_ backend.LogResumer    = (*InProcessBackend)(nil)
	_ backend.LogResumer    = (*SupervisedBackend)(nil)
)

// InProcess checks b the way a plugin is checked (complete Info, type
// backend, a common API version) and configures it with settings, the
// plugin's `config {}` block, encoded as for a plugin process.
func InProcess(ctx context.Context, name string, b backend.Backend, settings map[string]any) (*InProcessBackend, error) {
	if name == "" {
		return nil, fmt.Errorf("in-process backend: the backend has no name; register it under the name its plugin block uses")
	}
	info, err := b.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("in-process backend %q: asking for its info: %w", name, err)
	}
	version, err := checkInfo(info)
	if err != nil {
		return nil, fmt.Errorf("in-process backend %q: %w", name, err)
	}
	raw, err := plugin.EncodeConfig(settings)
	if err != nil {
		return nil, fmt.Errorf("plugin %q config: %w", name, err)
	}
	if err := b.Configure(ctx, raw, version); err != nil {
		return nil, configError(name, err)
	}
	return &InProcessBackend{
		Backend: b,
		name:    name,
		status: Status{
			Name:       name,
			Healthy:    true,
			Since:      time.Now(),
			Info:       info,
			APIVersion: version,
			InProcess:  true,
		},
	}, nil
}

// CreateVM refuses a spec using what the backend does not offer
// (backend.CheckSpecSupported), as for a plugin process.
func (p *InProcessBackend) CreateVM(ctx context.Context, spec backend.VMSpec) (*backend.VM, error) {
	st := p.Status()
	if err := backend.CheckSpecSupported(spec, st.APIVersion, st.Info.Capabilities); err != nil {
		return nil, err
	}
	return p.Backend.CreateVM(ctx, spec)
}

// StreamLogFrom resumes by file when the backend can (backend.LogResumer),
// by offset alone otherwise.
func (p *InProcessBackend) StreamLogFrom(ctx context.Context, id string, from backend.LogPosition, fn func(backend.LogLine) error) error {
	if r, ok := p.Backend.(backend.LogResumer); ok {
		return r.StreamLogFrom(ctx, id, from, fn)
	}
	return p.Backend.StreamLog(ctx, id, from.Offset, fn)
}

// Status reports the backend healthy until Close.
func (p *InProcessBackend) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// Health asks the backend when it implements backend.HealthChecker; after
// Close it is unavailable.
func (p *InProcessBackend) Health(ctx context.Context) error {
	if !p.Status().Healthy {
		return unavailable(p.name, ErrClosed)
	}
	if hc, ok := p.Backend.(backend.HealthChecker); ok {
		return hc.Health(ctx)
	}
	return nil
}

// OnRelaunch never calls fn: an in-process backend is never relaunched.
func (p *InProcessBackend) OnRelaunch(RelaunchFunc) (remove func()) { return func() {} }

// Close closes the backend when it implements backend.Closer.
func (p *InProcessBackend) Close() error {
	p.mu.Lock()
	wasHealthy := p.status.Healthy
	p.status.Healthy = false
	p.status.LastError = ErrClosed
	p.status.Since = time.Now()
	p.mu.Unlock()
	if c, ok := p.Backend.(backend.Closer); ok && wasHealthy {
		if err := c.Close(); err != nil {
			return fmt.Errorf("closing in-process backend %q: %w", p.name, err)
		}
	}
	return nil
}
