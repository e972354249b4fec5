package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agent/nodecert"
	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/sdk/backend"
)

// backendCallTimeout bounds the backend calls the agent makes on its own
// (looking up a VM after an event, host info, health); listings get
// listTimeout.
const (
	backendCallTimeout = 15 * time.Second
	listTimeout        = time.Minute
)

// Agent is the node agent of one host. Run it with Run.
type Agent struct {
	cfg  Config
	log  hclog.Logger
	view *view
	// logs ships the VMs' log lines; nil when Config.DisableQEMULogs.
	logs *logShipper
	// logsRefused is set once a server that takes no log lines was logged.
	logsRefused bool

	// trust is how the server is known before enrollment.
	trust trust

	// requests remembers the requests run, so that each runs once.
	requests *requests

	// resyncReq asks the lister for a listing followed by a full sync.
	resyncReq chan struct{}

	mu      sync.Mutex
	id      *nodecert.Identity // the node's certificate, nil before enrollment
	renewAt time.Time          // when to renew it
	sess    *session           // the attached session, nil while disconnected
	status  Status
	host    *backend.HostInfo // last host info the backend gave
	info    node.Backend      // name and version of the backend, last health
	checked bool              // info holds the result of a health check
	running bool
}

// Status says where the agent stands.
type Status struct {
	// Connected is true while a session is attached.
	Connected bool
	// Server is the address of the server of the attached session, or of
	// the last one.
	Server string
	// NodeID is the node's id, once a server gave it.
	NodeID string
	// SessionID names the attached session, or the last one.
	SessionID string
	// Sessions counts the sessions attached since Run started.
	Sessions int
	// LastError is why the last connection attempt or session ended.
	LastError error
	// CertNotAfter is when the node's certificate expires, once it has one.
	CertNotAfter time.Time
	// Renewals counts the certificate renewals since Run started.
	Renewals int
}

// New checks cfg and returns an agent that does nothing until Run.
func New(cfg Config) (*Agent, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:       cfg,
		log:       cfg.Logger.Named("agent"),
		view:      newView(),
		resyncReq: make(chan struct{}, 1),
		requests:  newRequests(),
	}
	if err := a.loadIdentity(); err != nil {
		return nil, fmt.Errorf("agent of node %q: %w", cfg.NodeName, err)
	}
	if a.id != nil {
		a.status.CertNotAfter = a.id.NotAfter()
	}
	if !cfg.DisableQEMULogs {
		if a.logs, err = newLogShipper(cfg.Backend, cfg.StateDir, logTiming{linger: cfg.QEMULogLinger, scan: cfg.QEMULogScanInterval, retry: cfg.QEMULogRetryBackoff}, a.log); err != nil {
			return nil, fmt.Errorf("agent of node %q: %w", cfg.NodeName, err)
		}
	}
	return a, nil
}

// Status returns where the agent stands now.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

// Run watches the host, follows the logs of its VMs and keeps a session
// with a server open, reconnecting with backoff whenever it ends, until ctx
// ends; then it closes the session and returns nil. It may be called once.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return fmt.Errorf("agent of node %q: Run was already called", a.cfg.NodeName)
	}
	a.running = true
	a.mu.Unlock()

	var wg sync.WaitGroup
	if r, ok := a.cfg.Backend.(Relauncher); ok {
		remove := r.OnRelaunch(func(generation int) {
			a.view.unsync()
			a.log.Info("backend plugin relaunched: listing every vm again", "generation", generation)
			a.requestResync()
		})
		defer remove()
	}
	wg.Go(func() { a.watchEvents(ctx) })
	wg.Go(func() { a.lister(ctx) })
	wg.Go(func() { a.checkHealth(ctx) })
	if a.logs != nil {
		wg.Go(func() { a.logs.run(ctx, a.view) })
	}
	a.connectLoop(ctx)
	wg.Wait()
	if a.logs != nil {
		// Answers that came after the shipper's last save.
		if err := a.logs.save(); err != nil {
			a.log.Warn("the offsets of the vm logs sent are not saved: the lines sent since the last save will be sent again", "error", err)
		}
	}
	return nil
}

// requestResync asks the lister for a listing, after which the attached
// session sends a full sync. Requests made while one is pending coalesce.
func (a *Agent) requestResync() {
	select {
	case a.resyncReq <- struct{}{}:
	default:
	}
}

// checkHealth refreshes the backend's health every heartbeat interval, so
// that heartbeats never wait on a slow backend.
func (a *Agent) checkHealth(ctx context.Context) {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		a.refreshHealth(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshHealth asks the backend for its health (a backend that cannot
// tell is healthy) and logs when that changes.
func (a *Agent) refreshHealth(ctx context.Context) {
	hc, ok := a.cfg.Backend.(backend.HealthChecker)
	if !ok {
		a.mu.Lock()
		a.info.Healthy, a.info.Error, a.checked = true, "", true
		a.mu.Unlock()
		return
	}
	hctx, cancel := context.WithTimeout(ctx, min(a.cfg.HeartbeatInterval, backendCallTimeout))
	err := hc.Health(hctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	was, checked := a.info.Healthy, a.checked
	a.info.Healthy, a.info.Error, a.checked = err == nil, "", true
	if err != nil {
		a.info.Error = err.Error()
		if was || !checked {
			a.log.Warn("backend unhealthy", "error", err)
		}
	} else if !was && checked {
		a.log.Info("backend healthy again")
	}
}

// backendInfo returns the backend's name, version and last health.
func (a *Agent) backendInfo() node.Backend {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.info
}

// describe asks the backend who it is, what the host is and whether it is
// healthy, keeping the last answers when it cannot tell now. The health is
// checked here rather than left to checkHealth, which may not have run yet
// when the agent first registers.
func (a *Agent) describe(ctx context.Context) (*backend.HostInfo, node.Backend) {
	a.refreshHealth(ctx)
	cctx, cancel := context.WithTimeout(ctx, backendCallTimeout)
	defer cancel()
	info, ierr := a.cfg.Backend.Info(cctx)
	host, herr := a.cfg.Backend.HostInfo(cctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	if ierr == nil {
		a.info.Name, a.info.Version = info.Name, info.Version
	}
	if herr == nil && host != nil {
		a.host = host
	}
	if err := firstErr(ierr, herr); err != nil {
		a.log.Warn("the backend cannot describe the host now; registering with what it said last", "error", err)
	}
	return a.host, a.info
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
