package pluginhost

import (
	"context"
	"io"
	"sync"
	"sync/atomic"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

var (
	_ backend.ConsoleOpener = (*SupervisedBackend)(nil)
	_ backend.ConsoleOpener = (*InProcessBackend)(nil)
)

// consoleAPIVersion is the first backend API version with the console.
const consoleAPIVersion = 2

// openConsoles counts the consoles open through every backend host of this
// process, for tests that check none is left behind.
var openConsoles atomic.Int64

// OpenConsoles says how many consoles opened through a backend host of this
// process are not closed yet.
func OpenConsoles() int64 { return openConsoles.Load() }

// OpenConsole opens VM id's serial console on the running plugin. A plugin
// that negotiated API version 1, or does not announce backend.CapConsole,
// has none: that is plugin.ErrUnsupported, saying why, and the plugin is not
// called. The console ends (Read returns an unavailable error) when the
// plugin process dies; ctx bounds the opening only.
func (s *SupervisedBackend) OpenConsole(ctx context.Context, id string) (io.ReadWriteCloser, error) {
	inst, err := s.acquire()
	if err != nil {
		return nil, err
	}
	if err := consoleSupported(s.name, inst.apiVersion, inst.info); err != nil {
		return nil, err
	}
	cctx, done := inst.bind(ctx)
	c, err := inst.backend.OpenConsole(cctx, id)
	done()
	if err != nil {
		return nil, s.finish(ctx, inst, err)
	}
	pc := &pluginConsole{ReadWriteCloser: c, s: s, inst: inst}
	// The plugin dying ends the console at once.
	pc.stop = context.AfterFunc(inst.dead, func() { c.Close() })
	openConsoles.Add(1)
	return pc, nil
}

// consoleSupported says why a plugin has no console, if it has none.
func consoleSupported(name string, apiVersion int, info plugin.Info) error {
	if apiVersion < consoleAPIVersion {
		return plugin.Unsupported("backend plugin %q speaks backend API version %d, and the serial console needs version %d: upgrade the plugin", name, apiVersion, consoleAPIVersion)
	}
	if !info.Has(backend.CapConsole) {
		return plugin.Unsupported("backend plugin %q has no serial console (it does not announce the %q capability)", name, backend.CapConsole)
	}
	return nil
}

// pluginConsole is a console on a plugin process.
type pluginConsole struct {
	io.ReadWriteCloser
	s    *SupervisedBackend
	inst *instance
	stop func() bool
	once sync.Once
}

// Read returns what the guest wrote; an unavailable error when the plugin
// died.
func (c *pluginConsole) Read(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(p)
	if err != nil && c.inst.dead.Err() != nil {
		return n, unavailableOf(c.s.kind.typ, c.s.name, context.Cause(c.inst.dead))
	}
	return n, err
}

// Close releases the console on the plugin.
func (c *pluginConsole) Close() error {
	err := c.ReadWriteCloser.Close()
	c.once.Do(func() {
		c.stop()
		openConsoles.Add(-1)
	})
	return err
}

// OpenConsole opens VM id's console when the backend is a
// backend.ConsoleOpener, and is plugin.ErrUnsupported otherwise.
func (p *InProcessBackend) OpenConsole(ctx context.Context, id string) (io.ReadWriteCloser, error) {
	co, ok := p.Backend.(backend.ConsoleOpener)
	if !ok {
		return nil, plugin.Unsupported("backend %q has no serial console", p.name)
	}
	c, err := co.OpenConsole(ctx, id)
	if err != nil {
		return nil, err
	}
	openConsoles.Add(1)
	return &inProcessConsole{ReadWriteCloser: c}, nil
}

type inProcessConsole struct {
	io.ReadWriteCloser
	once sync.Once
}

func (c *inProcessConsole) Close() error {
	err := c.ReadWriteCloser.Close()
	c.once.Do(func() { openConsoles.Add(-1) })
	return err
}
