package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agent"
	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/core/version"
)

// serveAgent runs `quantixd agent`: the backend plugin named agent.backend
// and the agent, which dials agent.servers, until ctx ends (a signal); then
// the session ends and the plugin is stopped.
func serveAgent(ctx context.Context, stop context.CancelFunc, _ mode, cfg *config.Config, logger hclog.Logger) (err error) {
	d := &daemon{log: logger}
	defer func() { err = errors.Join(err, d.close()) }()
	logger.Info("starting", "version", version.String("quantixd"), "mode", modeAgent, "node", cfg.Agent.NodeName, "servers", cfg.Agent.Servers)
	// The agent's own metrics (agent.metrics_addr, off by default): the
	// backend plugin's launches and call durations, the process's.
	reg, err := d.newRegistry()
	if err != nil {
		return err
	}
	stopMetrics, err := serveAgentMetrics(cfg, reg, d)
	if err != nil {
		return err
	}
	if stopMetrics != nil {
		defer stopMetrics()
	}
	b, err := d.launchBackend(ctx, cfg)
	if err != nil {
		return err
	}
	a, err := agent.New(agentConfig(cfg, b, logger))
	if err != nil {
		return err
	}
	err = a.Run(ctx)
	stop()
	logger.Info("shutting down")
	return err
}

// launchBackend starts the backend plugin agent.backend names, from
// plugin_dir or its plugin block's path, and supervises it until close. Its
// errors say what to fix; what the backend drives and how to start it is
// the backend's to say (the libvirt backend asks whether libvirtd runs when
// it cannot connect).
func (d *daemon) launchBackend(ctx context.Context, cfg *config.Config) (*pluginhost.SupervisedBackend, error) {
	d.plugins = pluginhost.NewHost(cfg.PluginDir, d.log)
	pc := pluginhost.Config{Name: cfg.Agent.Backend, Metrics: d.pluginMetrics}
	if p := cfg.Plugin(cfg.Agent.Backend); p != nil {
		pc.Path, pc.Checksum, pc.Settings = p.Path, p.Checksum, p.Config
	}
	b, err := d.plugins.LaunchBackend(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("starting the %s backend: %w", cfg.Agent.Backend, err)
	}
	return b, nil
}

// agentConfig is the agent's configuration from the agent block; the agent
// keeps its state, key and certificate under <data_dir>/agent.
func agentConfig(cfg *config.Config, b *pluginhost.SupervisedBackend, logger hclog.Logger) agent.Config {
	return agent.Config{
		NodeName:          cfg.Agent.NodeName,
		Servers:           cfg.Agent.Servers,
		JoinToken:         cfg.Agent.JoinToken,
		CAFile:            cfg.Agent.CACert,
		CAFingerprint:     cfg.Agent.CAFingerprint,
		CertDir:           agentCertDir(cfg),
		Backend:           b,
		HeartbeatInterval: cfg.Agent.HeartbeatInterval,
		ResyncInterval:    cfg.Agent.ResyncInterval,
		SyncJitter:        cfg.Agent.SyncJitter,
		Version:           version.String("quantixd"),
		StateDir:          agentCertDir(cfg),
		DisableQEMULogs:   !cfg.Agent.QEMULogs,
		QEMULogLinger:     cfg.Agent.QEMULogLinger,
		DisableStats:      !cfg.Agent.Stats,
		StatsInterval:     cfg.Agent.StatsInterval,
		Logger:            logger,
	}
}
