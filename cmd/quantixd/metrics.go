package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/api"
	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/pluginhost"
)

// newRegistry is the daemon's Prometheus registry, with the Go runtime's
// and the process's metrics and the plugin host's (d.pluginMetrics, for
// every plugin the daemon launches).
func (d *daemon) newRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := pluginhost.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	d.pluginMetrics = m
	return reg, nil
}

// registerControlPlaneMetrics registers the control plane's own metrics
// with reg (docs/metrics.md): the inventory counts, the reconciler's, the
// event stream's, the agent server's and the cluster's; the API's request
// metrics are returned for api.Options.
func (d *daemon) registerControlPlaneMetrics(reg *prometheus.Registry, svc *controlplane.Service, agents *agentserver.Server) (*api.RequestMetrics, error) {
	cs := []prometheus.Collector{svc.InventoryCollector(0), svc.Reconciler().Collector(), svc.Broker().Collector(), agents.Collector()}
	if d.cluster != nil {
		cs = append(cs, d.cluster.Collector())
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering the control plane's metrics: %w", err)
		}
	}
	return api.NewRequestMetrics(reg)
}

// metricsShutdown bounds how long the agent's metrics listener drains.
const metricsShutdown = 5 * time.Second

// serveAgentMetrics, when agent.metrics_addr is set, serves reg on GET
// /metrics there; it returns once listening, with what to
// call to stop (nil when off).
func serveAgentMetrics(cfg *config.Config, reg *prometheus.Registry, d *daemon) (stop func(), err error) {
	if cfg.Agent.MetricsAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.Agent.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listening for metrics on %s: %w; set agent.metrics_addr to a free host:port, or leave it empty to serve none", cfg.Agent.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: metricsErrorLog{d}}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("serving the agent's metrics stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	d.log.Info("agent metrics listening (plain HTTP, no authentication)", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), metricsShutdown)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}, nil
}

// metricsErrorLog passes promhttp's errors to the daemon's log.
type metricsErrorLog struct{ d *daemon }

// Println logs one promhttp error.
func (l metricsErrorLog) Println(v ...any) {
	l.d.log.Error("serving metrics", "error", fmt.Sprint(v...))
}
