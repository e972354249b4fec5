package config

import (
	"net"
	"os"
	"path/filepath"
	"time"
)

// Defaults. `quantixd dev` runs on these with no file at all.
const (
	DefaultDataDir           = "./quantix-data"
	DefaultHTTPAddr          = "127.0.0.1:8080"
	DefaultRPCAddr           = "127.0.0.1:8081"
	DefaultBackend           = "libvirt"
	DefaultStuckTimeout      = 5 * time.Minute
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultResyncInterval    = 30 * time.Second
	DefaultSyncJitter        = 5 * time.Second
	DefaultQEMULogLinger     = 5 * time.Second
	DefaultStatsInterval     = 10 * time.Second
	DefaultStatsWindow       = 15 * time.Minute
	DefaultStatsHistoryStep  = time.Minute
	DefaultStatsRetention    = 7 * 24 * time.Hour
	DefaultStatsMaxSeriesVMs = 1000
	DefaultCPUOvercommit     = 4.0
	DefaultMemoryOvercommit  = 1.5

	DefaultSpoolMaxMiB         = 1024
	DefaultSpoolMaxAge         = 7 * 24 * time.Hour
	DefaultRetentionMaxAge     = 30 * 24 * time.Hour
	DefaultRetentionMaxEntries = 10_000_000
	DefaultUIRate              = 100
	DefaultUIBurst             = 2000
	// DefaultAgentCertTTL is how long a node's client certificate is valid.
	DefaultAgentCertTTL = 30 * 24 * time.Hour
	// DefaultLeaseTTL and DefaultRenewInterval are the leader lease's.
	DefaultLeaseTTL      = 6 * time.Second
	DefaultRenewInterval = time.Second
)

// Default returns the configuration used when nothing is set.
func Default() *Config {
	host, _ := os.Hostname()
	return &Config{
		DataDir:   DefaultDataDir,
		LogLevel:  "info",
		LogFormat: "text",
		PluginDir: DefaultPluginDir(),
		Server: ServerConfig{
			Name:         host,
			Cluster:      ClusterConfig{LeaseTTL: DefaultLeaseTTL, RenewInterval: DefaultRenewInterval},
			HTTPAddr:     DefaultHTTPAddr,
			RPCAddr:      DefaultRPCAddr,
			AgentCertTTL: DefaultAgentCertTTL,
			Database:     DatabaseConfig{Driver: "sqlite"},
			Reconcile:    ReconcileConfig{StuckTimeout: DefaultStuckTimeout},
			Overcommit:   OvercommitConfig{CPU: DefaultCPUOvercommit, Memory: DefaultMemoryOvercommit},
			Logs: LogsConfig{
				SpoolMaxMiB: DefaultSpoolMaxMiB, SpoolMaxAge: DefaultSpoolMaxAge,
				RetentionMaxAge: DefaultRetentionMaxAge, RetentionMaxEntries: DefaultRetentionMaxEntries,
				UIRate: DefaultUIRate, UIBurst: DefaultUIBurst,
			},
			TLS: TLSConfig{Mode: TLSAuto},
			UI:  UIConfig{Enabled: true},
			Stats: StatsConfig{
				Window: DefaultStatsWindow, HistoryStep: DefaultStatsHistoryStep,
				Retention: DefaultStatsRetention, MaxSeriesVMs: DefaultStatsMaxSeriesVMs,
			},
		},
		Agent: AgentConfig{
			NodeName:          host,
			Servers:           []string{DefaultRPCAddr},
			Backend:           DefaultBackend,
			HeartbeatInterval: DefaultHeartbeatInterval,
			ResyncInterval:    DefaultResyncInterval,
			SyncJitter:        DefaultSyncJitter,
			QEMULogs:          true,
			QEMULogLinger:     DefaultQEMULogLinger,
			Stats:             true,
			StatsInterval:     DefaultStatsInterval,
		},
	}
}

// DefaultPluginDir is the plugins directory next to the running binary
// (bin/plugins for bin/quantixd), or ./plugins when that cannot be found.
func DefaultPluginDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "plugins"
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Join(filepath.Dir(exe), "plugins")
}

// DatabaseDSN is the DSN in use: the configured one, or for sqlite the file
// quantix.db under data_dir.
func (c *Config) DatabaseDSN() string {
	if c.Server.Database.DSN != "" || c.Server.Database.Driver != "sqlite" {
		return c.Server.Database.DSN
	}
	return filepath.Join(c.DataDir, "quantix.db")
}

// Advertise is the host:port other servers and agents reach this server's
// agent port at: server.advertise_addr, or server.rpc_addr with a wildcard
// or empty host (0.0.0.0, ::) replaced by the hostname.
func (c *Config) Advertise() string {
	if c.Server.AdvertiseAddr != "" {
		return c.Server.AdvertiseAddr
	}
	host, port, err := net.SplitHostPort(c.Server.RPCAddr)
	if err != nil {
		return c.Server.RPCAddr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}
