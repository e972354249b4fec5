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

	"github.com/quantixvm/quantix/core/api"
	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/version"
)

// Shutdown bounds: requests in flight get drainTimeout to finish (a
// graceful VM stop may be among them); closing the agent, plugins and
// database gets closeTimeout.
const (
	drainTimeout = 90 * time.Second
	closeTimeout = 30 * time.Second
)

// runDaemon runs quantixd dev or server until SIGINT or SIGTERM.
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
	if err := serve(ctx, stop, m, cfg, logger); err != nil {
		logger.Error("quantixd stopped with an error", "error", err)
		return 1
	}
	return 0
}

func newLogger(cfg *config.Config, out io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
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
	agent   *controlplane.LocalAgent
}

// serve starts the daemon and blocks until ctx ends (a signal) or the API
// server fails; then it drains requests and closes the agent, the plugins
// and the database. stop ends signal capture, so a second signal kills the
// process.
func serve(ctx context.Context, stop context.CancelFunc, m mode, cfg *config.Config, logger hclog.Logger) (err error) {
	d := &daemon{log: logger}
	defer func() { err = errors.Join(err, d.close()) }()

	logger.Info("starting", "version", version.String("quantixd"), "mode", m, "database", cfg.Server.Database.Driver)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	if d.store, err = store.Open(ctx, cfg.Server.Database.Driver, cfg.DatabaseDSN(), logger); err != nil {
		return err
	}
	dispatcher := controlplane.NewDispatcher()
	if m == modeDev {
		if err := d.startAgent(ctx, cfg, dispatcher); err != nil {
			return err
		}
	}
	svc, err := controlplane.New(controlplane.Options{Store: d.store, Executor: dispatcher, Logger: logger})
	if err != nil {
		return err
	}
	handler := api.New(api.Options{Service: svc, Logger: logger, Version: version.String("quantixd")})

	ln, err := net.Listen("tcp", cfg.Server.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listening for the API on %s: %w", cfg.Server.HTTPAddr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          logger.Named("http").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("API listening", "url", "http://"+ln.Addr().String()+"/api")

	select {
	case err := <-served:
		return fmt.Errorf("serving the API: %w", err)
	case <-ctx.Done():
	}
	stop()
	logger.Info("shutting down: waiting for requests in flight", "timeout", drainTimeout)
	dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		return fmt.Errorf("draining API requests: %w", err)
	}
	return nil
}

// startAgent launches the backend plugin and the local agent serving this
// host, and routes the node's commands to it.
func (d *daemon) startAgent(ctx context.Context, cfg *config.Config, dispatcher *controlplane.Dispatcher) error {
	d.plugins = pluginhost.NewHost(cfg.PluginDir, d.log)
	pc := pluginhost.Config{Name: cfg.Agent.Backend}
	if p := cfg.Plugin(cfg.Agent.Backend); p != nil {
		pc.Path, pc.Checksum, pc.Settings = p.Path, p.Checksum, p.Config
	}
	b, err := d.plugins.LaunchBackend(ctx, pc)
	if err != nil {
		return fmt.Errorf("starting the %s backend: %w", cfg.Agent.Backend, err)
	}
	d.agent, err = controlplane.StartLocalAgent(ctx, controlplane.LocalAgentConfig{
		Store:             d.store,
		Backend:           b,
		NodeName:          cfg.Agent.NodeName,
		HeartbeatInterval: cfg.Agent.HeartbeatInterval,
		Logger:            d.log,
	})
	if err != nil {
		return fmt.Errorf("%w (is the hypervisor running? `make deps` installs and starts libvirtd)", err)
	}
	dispatcher.Register(d.agent.NodeID(), d.agent)
	return nil
}

// close stops the agent (its node becomes UNREACHABLE), the plugins and the
// database, in that order.
func (d *daemon) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	var errs []error
	if d.agent != nil {
		errs = append(errs, d.agent.Close(ctx))
	}
	if d.plugins != nil {
		errs = append(errs, d.plugins.Close())
	}
	if d.store != nil {
		errs = append(errs, d.store.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d.log.Info("stopped")
	return nil
}
