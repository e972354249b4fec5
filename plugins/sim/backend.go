// Package sim is a simulated hypervisor backend for scale tests and
// benchmarks. It keeps its VMs in memory, honours the whole Backend contract
// (power transitions, conflicts, events, logs) and can be scripted to change
// VMs behind Quantix's back: crash them, shut them down from the guest, make
// them vanish, add foreign ones, move them between hosts, drop the
// hypervisor connection. It is never the default backend.
//
// In-process, one Backend is one host:
//
//	b := sim.New()
//	in, err := pluginhost.InProcess(ctx, "sim", b, sim.Config{Hostname: "node-1", VMs: sim.VMsConfig{Count: 250}}.Settings())
//	...
//	b.Crash(id) // the agent sees a state_changed CRASHED event
//
// As a plugin process (quantix-backend-sim) it is configured through its
// `config {}` block only (see Config); the scripting methods (SetState,
// Crash, GuestShutdown, Remove, AddForeign, Import, Move, Resync,
// Disconnect, Reconnect) exist in-process only, except for those its
// control socket offers when control_socket is set (see ControlRequest):
//
//	plugin "sim" {
//	  config {
//	    hostname   = "sim-01"
//	    vms        = { count = 250, state = "mixed" }
//	    latency    = "1ms"
//	    state_file = "/var/lib/quantix/sim-01.json"
//	  }
//	}
package sim

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/backend/eventhub"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Name is the plugin's short name.
const Name = "sim"

// Version is the plugin's release version, set at build time with
// -ldflags "-X github.com/quantixvm/quantix/plugins/sim.Version=...".
var Version = "dev"

var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.Closer        = (*Backend)(nil)
	_ backend.HealthChecker = (*Backend)(nil)
)

// Backend is one simulated host. Create it with New and configure it
// (Configure, or pluginhost.InProcess) before use; it is safe for
// concurrent use.
type Backend struct {
	log hclog.Logger
	hub *eventhub.Hub
	// down is true while the simulated hypervisor connection is (see
	// Disconnect).
	down atomic.Bool
	// life ends on Close; it ends StreamLog calls.
	life context.Context
	kill context.CancelFunc

	mu  sync.RWMutex
	set *settings
	// tempLogDir is the log directory Configure created, removed by Close.
	tempLogDir string
	closed     bool
	vms        map[string]*backend.VM
	// names maps VM names to ids.
	names map[string]string
	// control is the control socket's listener (see listenControl), nil
	// when none is configured.
	control     net.Listener
	controlPath string

	// consoles are the open consoles (console.go).
	consoles simConsoles
	// statsMu guards stats, the counters CollectStats makes up, by VM id;
	// taken after mu.
	statsMu sync.Mutex
	stats   map[string]*simCounters
	// statsCalls counts the calls of CollectStats, for StatsCalls.
	statsCalls atomic.Int64
}

// Option tunes New.
type Option func(*options)

type options struct {
	log         hclog.Logger
	eventBuffer int
}

// WithLogger sets the logger; by default the backend logs JSON to stderr,
// which go-plugin relays to the host.
func WithLogger(l hclog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithEventBuffer sets how many events each WatchEvents call may have
// waiting before they are replaced by an EventResync; DefaultEventBuffer
// when n < 1.
func WithEventBuffer(n int) Option {
	return func(o *options) { o.eventBuffer = n }
}

// New returns an unconfigured simulated host.
func New(opts ...Option) *Backend {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = hclog.New(&hclog.LoggerOptions{Name: Name, Level: hclog.Info, Output: os.Stderr, JSONFormat: true})
	}
	life, kill := context.WithCancel(context.Background())
	return &Backend{
		log:   o.log,
		hub:   eventhub.New(o.eventBuffer),
		life:  life,
		kill:  kill,
		vms:   make(map[string]*backend.VM),
		names: make(map[string]string),
	}
}

// Info describes the plugin.
func (b *Backend) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{
		Name:         Name,
		Type:         plugin.TypeBackend,
		Version:      Version,
		APIVersions:  backend.APIVersions,
		Capabilities: []string{backend.CapEvents, backend.CapLogs, backend.CapPause, backend.CapDisks, backend.CapKernelBoot, backend.CapConsole, backend.CapStats},
	}, nil
}

// Configure validates the config block (see Config) and applies it. The
// first call pre-populates the host (or loads its state file); later calls
// may change everything but the population (hostname, vms, seed,
// state_file) and control_socket, which is refused. The first call opens
// the control socket when one is configured.
func (b *Backend) Configure(_ context.Context, raw []byte, apiVersion int) error {
	if apiVersion != 0 && !slices.Contains(backend.APIVersions, apiVersion) {
		return plugin.InvalidArgument("api_version", "configure: api version %d is not supported, want one of %v", apiVersion, backend.APIVersions)
	}
	s, err := parseSettings(raw)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return plugin.Unavailable("configure: backend is closed")
	}
	if b.set != nil && !b.set.samePopulation(s) {
		return plugin.InvalidArgument("vms", "configure: host %s is already populated; hostname, seed, vms, state_file and control_socket cannot change", b.set.hostname)
	}
	if err := b.prepareLogDir(s); err != nil {
		return err
	}
	if b.set == nil {
		if err := b.fill(s); err != nil {
			clear(b.vms)
			clear(b.names)
			return err
		}
		if s.control != "" {
			if err := b.listenControl(s.control); err != nil {
				clear(b.vms)
				clear(b.names)
				return err
			}
		}
	}
	b.set = s
	// A duration crosses the plugin's JSON log as a number of nanoseconds:
	// log its text so that the host's log reads "2ms", not "2e+06".
	b.log.Info("configured", "hostname", s.hostname, "vms", len(b.vms), "log_dir", s.logDir, "latency", s.latency.String())
	return nil
}

// fill gives a new host its VMs: those of the state file when there is
// one, the configured population otherwise. b.mu is held.
func (b *Backend) fill(s *settings) error {
	if s.stateFile != "" {
		loaded, err := b.load(s)
		if err != nil || loaded {
			return err
		}
	}
	if err := b.populate(s); err != nil {
		return err
	}
	if s.stateFile != "" {
		if err := b.writeState(s); err != nil {
			return plugin.InvalidArgument("state_file", "config: attribute \"state_file\": %v", err)
		}
	}
	return nil
}

// prepareLogDir creates the configured log directory, or a temporary one
// when none is configured; b.mu is held.
func (b *Backend) prepareLogDir(s *settings) error {
	if s.logDir != "" {
		if err := os.MkdirAll(s.logDir, 0o755); err != nil {
			return plugin.InvalidArgument("log_dir", "config: attribute \"log_dir\": %v", err)
		}
		return nil
	}
	if b.tempLogDir == "" {
		dir, err := os.MkdirTemp("", "quantix-sim-logs-")
		if err != nil {
			return fmt.Errorf("configure: creating a log directory: %w", err)
		}
		b.tempLogDir = dir
	}
	s.logDir = b.tempLogDir
	return nil
}

// current returns the settings, or an unavailable error when the backend is
// closed or not configured.
func (b *Backend) current(verb string) (*settings, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	switch {
	case b.closed:
		return nil, plugin.Unavailable("%s: backend is closed", verb)
	case b.set == nil:
		return nil, plugin.Unavailable("%s: backend is not configured", verb)
	}
	return b.set, nil
}

// enter starts a Backend call: it fails while the simulated connection is
// down and waits for the configured latency.
func (b *Backend) enter(ctx context.Context, verb string) (*settings, error) {
	s, err := b.current(verb)
	if err != nil {
		return nil, err
	}
	if b.down.Load() {
		return nil, plugin.Unavailable("%s: hypervisor connection of host %s is down", verb, s.hostname)
	}
	if s.latency > 0 {
		t := time.NewTimer(s.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w", verb, ctx.Err())
		}
	}
	return s, nil
}

// Health fails while the backend is closed, not configured or its
// simulated hypervisor connection is down (see Disconnect).
func (b *Backend) Health(context.Context) error {
	s, err := b.current("health")
	if err != nil {
		return err
	}
	if b.down.Load() {
		return plugin.Unavailable("health: hypervisor connection of host %s is down", s.hostname)
	}
	return nil
}

// Close ends every WatchEvents and StreamLog call and removes the log
// directory Configure created; later calls fail as unavailable.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	dir := b.tempLogDir
	b.tempLogDir = ""
	control, controlPath := b.control, b.controlPath
	b.control = nil
	b.mu.Unlock()
	if control != nil {
		control.Close()
		if err := os.Remove(controlPath); err != nil && !os.IsNotExist(err) {
			b.log.Warn("closing: removing the control socket failed", "path", controlPath, "error", err)
		}
	}
	b.hub.Close()
	b.closeConsoles()
	b.kill()
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("closing: removing log directory %s: %w", dir, err)
		}
	}
	return nil
}
