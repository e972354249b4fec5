package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quantixvm/quantix/core/admission"
	"github.com/quantixvm/quantix/core/agent"
	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/api"
	"github.com/quantixvm/quantix/core/auth"
	"github.com/quantixvm/quantix/core/cluster"
	"github.com/quantixvm/quantix/core/clusterbus"
	"github.com/quantixvm/quantix/core/clusterkey"
	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/enroll"
	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/core/stats"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/version"
	"github.com/quantixvm/quantix/core/webui"
)

// Shutdown bounds: requests in flight get drainTimeout to finish (a
// graceful VM stop may be among them); closing the agent, the agent
// server, plugins and database gets closeTimeout.
const (
	drainTimeout = 90 * time.Second
	closeTimeout = 30 * time.Second
)

// attachTimeout bounds how long `quantixd dev` waits for its agent's first
// session before it gives up starting.
const attachTimeout = 30 * time.Second

// runDaemon runs quantixd dev, server or agent until SIGINT or SIGTERM.
func runDaemon(m mode, args []string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(m, args, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "quantixd %s: %v\n", m, err)
		return 2
	}
	logger := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := serve
	if m == modeAgent {
		run = serveAgent
	}
	if err := run(ctx, stop, m, cfg, logger); err != nil {
		logger.Error("quantixd stopped with an error", "error", err)
		return 1
	}
	return 0
}

// newLogger is the daemon's logger; lines can be intercepted (the log
// pipeline takes them as system entries).
func newLogger(cfg *config.Config, out io.Writer) hclog.InterceptLogger {
	return hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name:       "quantixd",
		Level:      hclog.LevelFromString(cfg.LogLevel),
		JSONFormat: cfg.LogFormat == "json",
		Output:     out,
	})
}

// daemon holds what serve starts, to close it in reverse order.
type daemon struct {
	log     hclog.Logger
	store   store.Store
	plugins *pluginhost.Host
	// rec is the reconciler: its duties are the cluster leader's; its Run
	// (the heartbeats of this server's nodes) runs until recStop, recDone
	// closing after.
	rec     *controlplane.Reconciler
	recStop context.CancelFunc
	recDone chan struct{}
	// agents serves the agent protocol; agentsDone has Serve's error.
	agents     *agentserver.Server
	agentsDone chan error
	// clusterKey seals the cluster's CAs in the database; nil without
	// server.cluster_secret (the CAs are kept under data_dir).
	clusterKey *clusterkey.Key
	// agentCA is the agent cluster CA; enroll keeps join tokens and the
	// certificates issued to nodes.
	agentCA *pki.CA
	enroll  *enroll.Service
	// agentStop ends the local agent of `quantixd dev`; agentDone closes
	// when it has.
	agentStop context.CancelFunc
	agentDone chan struct{}
	// logs is the log pipeline and its sinks.
	logs *logPipeline
	// busStop ends the cluster bus (PostgreSQL), busDone closes after.
	busStop context.CancelFunc
	busDone chan struct{}
	// auth authenticates API callers; closed before the store.
	auth *auth.Service
	// stats keeps the VM statistics agents send; statsStop ends its
	// writing of the history, statsDone closes after.
	stats     *stats.Collector
	statsStop context.CancelFunc
	statsDone chan struct{}
	// dbLock keeps other servers off a SQLite database.
	dbLock *os.File
	// cluster is this server's membership; clusterStop ends its Run,
	// clusterDone closes after.
	cluster     *cluster.Cluster
	clusterStop context.CancelFunc
	clusterDone chan struct{}
	// pluginMetrics count the launches of the plugins the daemon starts
	// and time a backend's calls (metrics.go); nil keeps none.
	pluginMetrics *pluginhost.Metrics
}

// serve runs the control plane (and, for dev, an agent dialling it over
// loopback) and blocks until ctx ends (a signal) or a listener fails; then
// it drains requests and closes the agent, the agent server, the
// reconciler, the plugins and the database. stop ends signal capture, so a
// second signal kills the process.
func serve(ctx context.Context, stop context.CancelFunc, m mode, cfg *config.Config, logger hclog.Logger) (err error) {
	d := &daemon{log: logger}
	defer func() { err = errors.Join(err, d.close()) }()

	logger.Info("starting", "version", version.String("quantixd"), "mode", m, "database", cfg.Server.Database.Driver)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	if cfg.Server.Database.Driver == "sqlite" {
		if d.dbLock, err = lockSQLite(cfg.DatabaseDSN()); err != nil {
			return err
		}
	}
	if d.store, err = store.Open(ctx, cfg.Server.Database.Driver, cfg.DatabaseDSN(), logger); err != nil {
		return err
	}
	if d.clusterKey, err = openClusterKey(ctx, cfg, d.store, logger); err != nil {
		return err
	}
	if d.agentCA, d.enroll, err = openEnrollment(ctx, cfg, d.store, d.clusterKey, logger); err != nil {
		return err
	}
	if err := d.openAuth(ctx, cfg, logger); err != nil {
		return err
	}
	reg, err := d.newRegistry()
	if err != nil {
		return err
	}
	if err := d.startLogs(ctx, cfg, reg); err != nil {
		return err
	}
	broker := events.NewBroker(events.BrokerOptions{})
	publisher, err := d.startBus(ctx, broker)
	if err != nil {
		return err
	}
	d.startStats(cfg, reg, logger)
	dispatcher := agentserver.NewDispatcher()
	svc, err := controlplane.New(controlplane.Options{
		Store:    d.store,
		Executor: dispatcher,
		Reconcile: controlplane.ReconcilerOptions{
			StuckTimeout: cfg.Server.Reconcile.StuckTimeout, Broker: broker, Publisher: publisher, Elected: true,
		},
		Overcommit: admission.Overcommit{
			CPU: cfg.Server.Overcommit.CPU, Memory: cfg.Server.Overcommit.Memory,
		},
		NodeCerts: d.enroll,
		Logger:    logger,
	})
	if err != nil {
		return err
	}
	// The cluster's duties run only while this server leads; the
	// membership starts once the API's address is known.
	if d.cluster, err = newCluster(cfg, d); err != nil {
		return err
	}
	if err := d.enableForwarding(cfg, dispatcher); err != nil {
		return err
	}
	d.startReconciler(svc.Reconciler())

	rpcLn, err := net.Listen("tcp", cfg.Server.RPCAddr)
	if err != nil {
		return fmt.Errorf("listening for agents on %s: %w; set server.rpc_addr (-rpc-addr) to a free address", cfg.Server.RPCAddr, err)
	}
	if err := d.startAgentServer(rpcLn, cfg, svc.Reconciler(), dispatcher); err != nil {
		return err
	}
	if m == modeDev {
		if err := d.startLocalAgent(ctx, cfg, rpcLn.Addr(), dispatcher); err != nil {
			return err
		}
	}

	requestMetrics, err := d.registerControlPlaneMetrics(reg, svc, d.agents)
	if err != nil {
		return err
	}

	var console http.Handler
	if cfg.Server.UI.Enabled {
		h, err := webui.New(webui.Assets())
		if err != nil {
			return fmt.Errorf("loading the web console (server.ui.enabled): %w", err)
		}
		console = h
	}
	handler := api.New(api.Options{
		Console: console,
		Service: svc, Logger: logger, Version: version.String("quantixd"),
		Logs: d.logs.pipe, LogStore: d.store.Logs(), Metrics: reg, RequestMetrics: requestMetrics, Enroll: d.enroll, Auth: d.auth, Cluster: d.cluster,
		Stats: d.stats, StatsHistory: d.store.Stats(),
		UIRate: api.RateLimit{
			PerSecond: float64(cfg.Server.Logs.UIRate), Burst: cfg.Server.Logs.UIBurst,
			AddressPerSecond: float64(cfg.Server.Logs.UIAddressRate), AddressBurst: cfg.Server.Logs.UIAddressBurst,
		},
	})
	tlsCfg, err := apiTLS(ctx, cfg, d.store, d.clusterKey, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listening for the API on %s: %w", cfg.Server.HTTPAddr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          logger.Named("http").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	// Event streams never end on their own: shutting down ends them.
	srv.RegisterOnShutdown(svc.Broker().Close)
	srv.RegisterOnShutdown(d.logs.pipe.EndSubscriptions)
	// Consoles are hijacked connections, which Shutdown does not wait for
	// nor close: ending them says why to their clients.
	srv.RegisterOnShutdown(handler.CloseConsoles)
	served := make(chan error, 1)
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
		go func() { served <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { served <- srv.Serve(ln) }()
	}
	logger.Info("API listening", "url", scheme+"://"+ln.Addr().String()+"/api", "tls", tlsCfg != nil)
	d.cluster.SetAPIAddr(apiURL(scheme, ln.Addr(), cfg.Advertise()))
	d.startCluster()
	if console != nil {
		if webui.Built {
			logger.Info("web console: " + consoleURL(scheme, ln.Addr()))
		} else {
			logger.Info("web console: "+consoleURL(scheme, ln.Addr()), "note", "this quantixd is built without the console and serves a page saying so; `make build` builds it in")
		}
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving the API: %w", err)
	case err := <-d.agentsDone:
		return fmt.Errorf("serving agents stopped: %w", err)
	case <-ctx.Done():
	}
	stop()
	// Hand the agents and the lead over before draining: another server
	// takes the sessions and the duties at once, and the requests in
	// flight here reach the agents through it.
	if d.agents != nil {
		d.agents.HandOver()
	}
	d.stopCluster()
	logger.Info("shutting down: waiting for requests in flight", "timeout", drainTimeout)
	dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		return fmt.Errorf("draining API requests: %w", err)
	}
	return nil
}

// busReadyTimeout bounds how long starting waits for the cluster bus's
// first connection.
const busReadyTimeout = 30 * time.Second

// startBus, on PostgreSQL, starts the cluster bus that carries every
// server's changes to broker and to the live log subscribers, and returns it
// as the publisher of the control plane; on SQLite the broker publishes
// itself.
func (d *daemon) startBus(ctx context.Context, broker *events.Broker) (events.Publisher, error) {
	if !clusterbus.Enabled(d.store) {
		return broker, nil
	}
	bus, err := clusterbus.New(clusterbus.Options{Store: d.store, Broker: broker, Logs: d.logs.pipe, Logger: d.log})
	if err != nil {
		return nil, err
	}
	bctx, cancel := context.WithCancel(context.Background())
	d.busStop, d.busDone = cancel, make(chan struct{})
	go func() {
		defer close(d.busDone)
		if err := bus.Run(bctx); err != nil {
			d.log.Error("listening for the changes of other servers", "error", err)
		}
	}()
	select {
	case <-bus.Ready():
		return bus, nil
	case <-d.busDone:
		return nil, errors.New("listening for the changes of other servers: the listener stopped before it connected")
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(busReadyTimeout):
		return nil, fmt.Errorf("listening for the changes of other servers: no connection to the database after %s; check server.database.dsn", busReadyTimeout)
	}
}

// startReconciler registers the cluster-wide duties (node liveness, the
// stuck-state scan, restarts by restart policy, the retention of the
// built-in log store) with the cluster: they run while this server leads,
// every write fenced by its epoch. The reconciler's Run, which writes the
// heartbeats of the nodes whose agents report here for the leader to
// judge, runs on every server until close.
func (d *daemon) startReconciler(rec *controlplane.Reconciler) {
	for _, duty := range rec.Duties() {
		d.cluster.Lead(duty.Name, duty.Run)
	}
	d.cluster.Lead("log-retention", func(ctx context.Context) { d.logs.pipe.RunRetention(ctx, d.store) })
	ctx, cancel := context.WithCancel(context.Background())
	d.rec, d.recStop, d.recDone = rec, cancel, make(chan struct{})
	go func() {
		defer close(d.recDone)
		if err := rec.Run(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("the reconciler stopped", "error", err)
		}
	}()
}

// startAgentServer serves the agent protocol on ln: agents' reports go to
// the reconciler, the VM log lines they send to the log pipeline, and the
// nodes they serve are routed commands.
func (d *daemon) startAgentServer(ln net.Listener, cfg *config.Config, rec *controlplane.Reconciler, dispatcher *agentserver.Dispatcher) error {
	ca := d.agentCA
	cert, err := agentServerCert(cfg, ca)
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv, err := agentserver.New(agentserver.Options{
		Handler:       rec,
		Dispatcher:    dispatcher,
		CA:            ca,
		Certificate:   cert,
		Enrollment:    d.enroll,
		ClientCertTTL: cfg.Server.AgentCertTTL,
		Logs:          d.logs.pipe,
		Stats:         d.stats,
		Logger:        d.log,
		KnownNode: func(ctx context.Context, name string) (bool, error) {
			_, err := d.store.Nodes().GetByName(ctx, name)
			if errors.Is(err, store.ErrNotFound) {
				return false, nil
			}
			return err == nil, err
		},
	})
	if err != nil {
		_ = ln.Close()
		return err
	}
	d.agents, d.agentsDone = srv, make(chan error, 1)
	go func() { d.agentsDone <- srv.Serve(ln) }()
	d.log.Info("agent RPC listening (TLS, client certificates of the agent CA)", "addr", ln.Addr().String(),
		"agent_ca", ca.Dir(), "agent_ca_kept_in", caSource(d.clusterKey), "agent_ca_fingerprint", ca.Fingerprint(), "static_join_token", cfg.Server.JoinToken != "")
	return nil
}

// startLocalAgent runs the agent of `quantixd dev`: the backend plugin on
// this host and an agent dialling this process's agent server over
// loopback, like any other agent. It returns once the agent's session is
// attached, so that the API starts with its node connected.
func (d *daemon) startLocalAgent(ctx context.Context, cfg *config.Config, rpc net.Addr, dispatcher *agentserver.Dispatcher) error {
	b, err := d.launchBackend(ctx, cfg)
	if err != nil {
		return err
	}
	acfg := agentConfig(cfg, b, d.log)
	acfg.Servers = []string{dialAddr(rpc)}
	// The local agent enrolls over TLS like any other, with a token made
	// for it, pinning this server's CA.
	token, err := localJoinToken(ctx, cfg, d.agentCA, d.enroll)
	if err != nil {
		return fmt.Errorf("enrolling the local agent: %w", err)
	}
	acfg.JoinToken, acfg.CAFile, acfg.CAFingerprint = token, "", ""
	a, err := agent.New(acfg)
	if err != nil {
		return err
	}
	actx, cancel := context.WithCancel(context.Background())
	d.agentStop, d.agentDone = cancel, make(chan struct{})
	go func() {
		defer close(d.agentDone)
		_ = a.Run(actx)
	}()
	deadline := time.NewTimer(attachTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !a.Status().Connected {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("the local agent did not connect to the agent server within %s: %v", attachTimeout, a.Status().LastError)
		case <-tick.C:
		}
	}
	d.log.Info("local agent connected", "node", cfg.Agent.NodeName, "node_id", a.Status().NodeID)
	return nil
}

// dialAddr is the address to dial for a listener's address: a listener on
// every interface is reached over loopback.
func dialAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if tcp.IP.IsUnspecified() {
		if tcp.IP.To4() != nil {
			return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
		}
		return net.JoinHostPort("::1", fmt.Sprint(tcp.Port))
	}
	return tcp.String()
}

// close stops the local agent, the agent server (its sessions end), the
// reconciler, the log pipeline and its sinks, the plugins and the database,
// in that order.
func (d *daemon) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	var errs []error
	if d.agentStop != nil {
		d.agentStop()
		select {
		case <-d.agentDone:
		case <-ctx.Done():
			errs = append(errs, errors.New("the local agent did not stop in time"))
		}
	}
	if d.agents != nil {
		errs = append(errs, d.agents.Close(ctx))
	}
	d.stopCluster()
	if d.rec != nil {
		d.recStop()
		<-d.recDone
		d.rec.Close()
	}
	if d.auth != nil {
		d.auth.Close()
	}
	if d.statsStop != nil {
		d.statsStop()
		<-d.statsDone
	}
	if d.busStop != nil {
		d.busStop()
		<-d.busDone
	}
	errs = append(errs, d.logs.close())
	if d.plugins != nil {
		errs = append(errs, d.plugins.Close())
	}
	if d.store != nil {
		errs = append(errs, d.store.Close())
	}
	if d.dbLock != nil {
		errs = append(errs, d.dbLock.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d.log.Info("stopped")
	return nil
}

// consoleURL is where a browser on this host opens the web console served
// on addr with scheme (http or https): a wildcard listen address is reached
// through the loopback.
func consoleURL(scheme string, addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + "://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			host = "127.0.0.1"
		} else {
			host = "::1"
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}

// startStats keeps the VM statistics the agents send (server.stats): a
// window in memory, the history in the store, per-VM series on /metrics.
func (d *daemon) startStats(cfg *config.Config, reg *prometheus.Registry, logger hclog.Logger) {
	c := stats.New(stats.Options{
		Window: cfg.Server.Stats.Window, HistoryStep: cfg.Server.Stats.HistoryStep, Retention: cfg.Server.Stats.Retention,
		MaxSeriesVMs: cfg.Server.Stats.MaxSeriesVMs, History: d.store.Stats(), Logger: logger,
	})
	reg.MustRegister(c.Metrics())
	ctx, cancel := context.WithCancel(context.Background())
	d.stats, d.statsStop, d.statsDone = c, cancel, make(chan struct{})
	go func() {
		defer close(d.statsDone)
		c.Run(ctx)
	}()
}
