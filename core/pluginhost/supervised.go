package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// pluginKind is what launching and supervising a plugin depend on its type
// for.
type pluginKind struct {
	typ plugin.Type
	// block is the configuration block such plugins are configured by.
	block string
	// apiVersions are the API versions the host speaks for the type.
	apiVersions []int
	// sets are the host's go-plugin plugin sets for the type.
	sets map[int]goplugin.PluginSet
}

var (
	backendKind = pluginKind{typ: plugin.TypeBackend, block: "plugin", apiVersions: backend.APIVersions, sets: backend.PluginSets(nil)}
	logSinkKind = pluginKind{typ: plugin.TypeLogSink, block: "log_sink", apiVersions: logsink.APIVersions, sets: logsink.PluginSets(nil)}
)

// checkInfo checks what a plugin says about itself and returns the API
// version to speak: the highest one both sides know.
func (k pluginKind) checkInfo(info plugin.Info) (int, error) {
	if err := info.Validate(); err != nil {
		return 0, fmt.Errorf("%w; rebuild the plugin against the current sdk", err)
	}
	if info.Type != k.typ {
		return 0, fmt.Errorf("it is a %q plugin, not a %q one; point path at a %s binary", info.Type, k.typ, plugin.BinaryName(k.typ, "<name>"))
	}
	return plugin.Negotiate(k.apiVersions, info.APIVersions)
}

// supervised is a plugin process of any type kept running by the host: it
// launches the process, relaunches it when it dies, and hands the running
// instance to calls. SupervisedBackend and SupervisedLogSink embed it.
type supervised struct {
	kind     pluginKind
	name     string
	dir      string
	path     string
	checksum []byte
	sup      Supervision
	logger   hclog.Logger
	metrics  *Metrics

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

// startSupervised locates, verifies, starts and configures the plugin cfg
// describes, then supervises it until Close. An error here (binary
// missing, checksum mismatch, bad config, incompatible plugin) means nothing
// is left running.
func startSupervised(ctx context.Context, cfg Config, kind pluginKind) (*supervised, error) {
	sum, _ := ParseChecksum(cfg.Checksum) // checked by the caller
	settings, err := plugin.EncodeConfig(cfg.Settings)
	if err != nil {
		return nil, fmt.Errorf("%s %q config: %w; the config block may only hold strings, numbers, bools, lists and objects", kind.block, cfg.Name, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &supervised{
		kind:      kind,
		name:      cfg.Name,
		dir:       cfg.Dir,
		path:      cfg.Path,
		checksum:  sum,
		settings:  settings,
		sup:       cfg.Supervision.withDefaults(),
		logger:    pluginLogger(cfg.Logger, cfg.Name),
		metrics:   cfg.Metrics,
		ctx:       runCtx,
		cancel:    cancel,
		listeners: make(map[int]RelaunchFunc),
		kick:      make(chan struct{}, 1),
		closing:   make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	s.metrics.started(kind, cfg.Name)
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
func (s *supervised) launch(ctx context.Context) (*instance, error) {
	path, err := Locate(s.kind.typ, s.name, s.dir, s.path)
	if err != nil {
		s.metrics.launched(s.kind, s.name, err)
		return nil, err
	}
	s.mu.RLock()
	settings := s.settings
	s.mu.RUnlock()
	inst, err := launchInstance(ctx, processSpec{
		name:     s.name,
		kind:     s.kind,
		path:     path,
		checksum: s.checksum,
		logger:   s.logger,
		timeout:  s.sup.StartTimeout,
		metrics:  s.metrics,
	}, settings)
	s.metrics.launched(s.kind, s.name, err)
	return inst, err
}

// Name is the plugin's configured name.
func (s *supervised) Name() string { return s.name }

// stop stops supervising and kills the plugin process (asking it to shut
// down first). Calls made afterwards fail as unavailable.
func (s *supervised) stop() error {
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
func (s *supervised) acquire() (*instance, error) {
	s.mu.RLock()
	inst, closed, last := s.cur, s.closed, s.status.LastError
	s.mu.RUnlock()
	switch {
	case closed:
		return nil, unavailableOf(s.kind.typ, s.name, ErrClosed)
	case inst == nil:
		return nil, unavailableOf(s.kind.typ, s.name, last)
	}
	return inst, nil
}

// finish turns what a call on inst returned into what the caller gets: a
// call cut short because the plugin died or was closed is unavailable; an
// unavailable error has the supervisor look at the process at once.
func (s *supervised) finish(ctx context.Context, inst *instance, err error) error {
	if ctx.Err() != nil {
		return err
	}
	if inst.dead.Err() != nil {
		return unavailableOf(s.kind.typ, s.name, context.Cause(inst.dead))
	}
	if errors.Is(err, plugin.ErrUnavailable) {
		s.poke()
		return &plugin.Error{Kind: plugin.KindUnavailable, Message: fmt.Sprintf("%s plugin %q: %v", s.kind.typ, s.name, err), Err: err}
	}
	return err
}

// setSettings records config, once the running plugin accepted it, as what
// later relaunches are configured with.
func (s *supervised) setSettings(config []byte) {
	s.mu.Lock()
	s.settings = config
	s.mu.Unlock()
}
