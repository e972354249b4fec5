package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/quantixvm/quantix/sdk/backend"
)

// Managed is a backend the Host runs, as a plugin process or in-process.
type Managed interface {
	backend.Backend
	backend.Closer
	backend.HealthChecker
	// Status reports the backend's health for the node.
	Status() Status
	// OnRelaunch registers a listener told after each relaunch.
	OnRelaunch(fn RelaunchFunc) (remove func())
}

var (
	_ Managed = (*SupervisedBackend)(nil)
	_ Managed = (*InProcessBackend)(nil)
)

// Host runs the plugins a daemon is configured with, by name, and stops them
// all on Close.
type Host struct {
	dir    string
	logger hclog.Logger

	mu       sync.Mutex
	backends map[string]Managed
	closed   bool
}

// NewHost returns a host that looks plugins up in pluginDir (plugin_dir)
// and logs through logger (nil discards).
func NewHost(pluginDir string, logger hclog.Logger) *Host {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Host{dir: pluginDir, logger: logger, backends: make(map[string]Managed)}
}

// LaunchBackend launches and supervises the backend plugin cfg describes;
// an empty cfg.Dir or cfg.Logger takes the host's.
func (h *Host) LaunchBackend(ctx context.Context, cfg Config) (*SupervisedBackend, error) {
	if cfg.Dir == "" {
		cfg.Dir = h.dir
	}
	if cfg.Logger == nil {
		cfg.Logger = h.logger
	}
	if err := h.reserve(cfg.Name); err != nil {
		return nil, err
	}
	b, err := LaunchBackend(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := h.add(cfg.Name, b); err != nil {
		return nil, errors.Join(err, b.Close())
	}
	return b, nil
}

// AddBackend links b in-process under name, configured with settings.
func (h *Host) AddBackend(ctx context.Context, name string, b backend.Backend, settings map[string]any) (*InProcessBackend, error) {
	if err := h.reserve(name); err != nil {
		return nil, err
	}
	p, err := InProcess(ctx, name, b, settings)
	if err != nil {
		return nil, err
	}
	if err := h.add(name, p); err != nil {
		return nil, errors.Join(err, p.Close())
	}
	return p, nil
}

// reserve fails early when name is taken or the host closed.
func (h *Host) reserve(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.check(name)
}

func (h *Host) check(name string) error {
	if h.closed {
		return fmt.Errorf("adding backend %q: %w", name, ErrClosed)
	}
	if _, ok := h.backends[name]; ok {
		return fmt.Errorf("adding backend %q: a backend of that name is already loaded; give each plugin block its own name", name)
	}
	return nil
}

func (h *Host) add(name string, b Managed) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.check(name); err != nil {
		return err
	}
	h.backends[name] = b
	return nil
}

// Backend returns the backend loaded under name.
func (h *Host) Backend(name string) (Managed, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.backends[name]
	return b, ok
}

// Status returns the status of every backend, by name.
func (h *Host) Status() []Status {
	h.mu.Lock()
	list := make([]Managed, 0, len(h.backends))
	for _, b := range h.backends {
		list = append(list, b)
	}
	h.mu.Unlock()
	out := make([]Status, 0, len(list))
	for _, b := range list {
		out = append(out, b.Status())
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Close stops every backend at once (plugin processes are asked to exit,
// then killed) and returns when none is left. Later launches fail.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	list := h.backends
	h.backends = make(map[string]Managed)
	h.mu.Unlock()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for name, b := range list {
		wg.Go(func() {
			if err := b.Close(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("closing backend %q: %w", name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
