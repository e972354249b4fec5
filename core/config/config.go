// Package config loads the Quantix HCL configuration: the schema of every
// block, defaults, QUANTIX_* environment overrides, flags and validation.
// Errors from a file name the file, line and column and say what was
// expected.
package config

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Config is the whole daemon configuration.
type Config struct {
	// DataDir holds the embedded database, the log spool and plugin state.
	DataDir string
	// LogLevel is the daemon's log level: trace, debug, info, warn or error.
	LogLevel string
	// LogFormat is text or json.
	LogFormat string
	// PluginDir is where quantix-<type>-<name> plugin binaries are found.
	PluginDir string
	// Server configures the control plane.
	Server ServerConfig
	// Agent configures the node agent.
	Agent AgentConfig
	// Plugins holds one entry per `plugin "<name>"` block, in file order.
	Plugins []PluginConfig
	// LogSinks holds one entry per `log_sink "<name>"` block, in file order.
	LogSinks []LogSinkConfig

	// File is the path the configuration was read from, "" for defaults only.
	File string
	// ranges records where each attribute path was set, for later errors.
	ranges map[string]hcl.Range
}

// ServerConfig is the `server {}` block.
type ServerConfig struct {
	// Name is this server's name in the cluster; the hostname by default.
	Name string
	// HTTPAddr is where the REST API listens.
	HTTPAddr string
	// RPCAddr is where agents connect.
	RPCAddr string
	// AdvertiseAddr is the host:port other servers and agents reach this
	// server's agent port at; empty means RPCAddr with a wildcard or empty
	// host replaced by the hostname (see Config.Advertise).
	AdvertiseAddr string
	// Cluster tunes the leader lease of servers sharing a database.
	Cluster ClusterConfig
	// JoinToken is a static join token agents may enroll with, besides the
	// tokens of `quantix node token create`; it never expires nor runs out
	// (for automation). Empty: none.
	JoinToken string
	// AgentCertTTL is how long the client certificate issued to a node is
	// valid; agents renew theirs once two thirds of it have passed.
	AgentCertTTL time.Duration
	// ClusterSecret is the secret every server of a cluster shares: the
	// private keys of the cluster's CAs are kept in the database encrypted
	// with a key derived from it. Empty (and no ClusterSecretFile): the
	// server keeps its CAs under data_dir and runs alone. Never logged;
	// read it through (*Config).ClusterSecret.
	ClusterSecret string
	// ClusterSecretFile is a file holding the cluster secret, instead of
	// ClusterSecret (not both).
	ClusterSecretFile string
	// Database selects the inventory database.
	Database DatabaseConfig
	// Reconcile tunes the reconciler.
	Reconcile ReconcileConfig
	// Overcommit bounds what VMs may ask of their node.
	Overcommit OvercommitConfig
	// Logs tunes the log pipeline.
	Logs LogsConfig
	// TLS secures the REST API.
	TLS TLSConfig
	// UI configures the web console.
	UI UIConfig
	// Stats keeps the resource statistics of VMs and nodes.
	Stats StatsConfig
}

// TLS modes of the REST API (server.tls.mode).
const (
	// TLSAuto serves TLS unless server.http_addr is a loopback address,
	// where the API serves plain HTTP (the default).
	TLSAuto = "auto"
	// TLSOn serves TLS on every address, loopback ones included.
	TLSOn = "on"
	// TLSOff serves plain HTTP; it is refused unless server.http_addr is a
	// loopback address.
	TLSOff = "off"
)

// TLSConfig is the `server { tls {} }` block. With CertFile and KeyFile the
// API serves that certificate; without them, when it serves TLS, it uses a
// certificate issued by a CA the server generates under <data_dir>/pki/api
// and keeps across restarts.
type TLSConfig struct {
	// Mode is TLSAuto, TLSOn or TLSOff.
	Mode string
	// CertFile is a PEM certificate (its chain may follow it) and KeyFile
	// its PEM private key. Both or neither.
	CertFile string
	KeyFile  string
}

// UIConfig is the `server { ui {} }` block.
type UIConfig struct {
	// Enabled serves the web console at / on server.http_addr (every path
	// outside /api and /metrics). On by default; false serves the API
	// alone.
	Enabled bool
}

// LogsConfig is the `server { logs {} }` block: the bounds of the log
// pipeline's spool and built-in store, and the rate of UI log ingestion.
type LogsConfig struct {
	// SpoolMaxMiB bounds the spool under <data_dir>/logs/spool; past it the
	// oldest entries are discarded even if a sink has not got them (logged
	// and counted).
	SpoolMaxMiB int
	// SpoolMaxAge bounds how long undelivered entries stay in the spool.
	SpoolMaxAge time.Duration
	// RetentionMaxAge and RetentionMaxEntries bound the built-in store.
	RetentionMaxAge     time.Duration
	RetentionMaxEntries int
	// UIRate and UIBurst limit POST /api/logs/ui per session, in entries
	// per second and at once; each client address may send
	// api.DefaultUIAddressFactor times that across all its sessions.
	UIRate  int
	UIBurst int
	// UIAddressRate and UIAddressBurst limit it per client address, over
	// all its sessions; zero is 5 times UIRate and UIBurst.
	UIAddressRate  int
	UIAddressBurst int
}

// ClusterConfig is the `server { cluster {} }` block: the leader lease of
// the servers sharing one PostgreSQL database (docs/cluster.md).
type ClusterConfig struct {
	// LeaseTTL is how long the leader's lease lasts without renewal: a
	// leader that dies is replaced after at most about this long.
	LeaseTTL time.Duration
	// RenewInterval is how often the leader renews the lease and every
	// server beats its heartbeat; at most half of LeaseTTL.
	RenewInterval time.Duration
}

// DatabaseConfig is the `server { database {} }` block.
type DatabaseConfig struct {
	// Driver is sqlite (embedded, the default) or postgres.
	Driver string
	// DSN is the connection string; for sqlite a file path, by default
	// <data_dir>/quantix.db.
	DSN string
}

// ReconcileConfig is the `server { reconcile {} }` block.
type ReconcileConfig struct {
	// StuckTimeout is how long a VM may stay in a transitional state before
	// it is re-checked against its host.
	StuckTimeout time.Duration
}

// OvercommitConfig is the `server { overcommit {} }` block: how much more
// than a node reports its VMs may ask for. One VM may have at most the
// node's CPUs × CPU vCPUs and its memory × Memory (at create, edit and
// start); the VMs running on the node together may not pass those bounds
// either (at start).
type OvercommitConfig struct {
	CPU    float64
	Memory float64
}

// AgentConfig is the `agent {}` block.
type AgentConfig struct {
	// NodeName names this host; the hostname by default.
	NodeName string
	// Servers lists the control plane RPC addresses to dial.
	Servers []string
	// JoinToken enrolls the agent when it has no certificate yet: a token
	// of `quantix node token create` or the server's server.join_token.
	JoinToken string
	// CACert is a PEM file of the cluster's agent CA: the server the agent
	// enrolls with must have a certificate it issued. Needed with the
	// static server.join_token unless CAFingerprint is set.
	CACert string
	// CAFingerprint is the SHA-256 fingerprint of the cluster's agent CA,
	// as the server logs it; an alternative to CACert.
	CAFingerprint string
	// Backend names the backend plugin driving this host.
	Backend string
	// HeartbeatInterval is how often the agent sends a heartbeat.
	HeartbeatInterval time.Duration
	// ResyncInterval is how often the agent lists all VMs as a safety net.
	ResyncInterval time.Duration
	// SyncJitter bounds the random delay before a full sync after connecting,
	// counted from the start of the connection attempt.
	SyncJitter time.Duration
	// QEMULogs has the agent follow the QEMU log of every running VM and
	// send its lines to the control plane's log pipeline (source qemu).
	QEMULogs bool
	// QEMULogLinger is how long the QEMU log of a VM that stopped is still
	// followed once it has gone quiet, for the lines QEMU and libvirt write
	// after the VM stopped.
	QEMULogLinger time.Duration
	// Stats has the agent sample the resource counters of every VM (when
	// the backend offers them) and send them to the control plane.
	Stats bool
	// StatsInterval is how often the agent samples them.
	StatsInterval time.Duration
	// MetricsAddr, when set, is where `quantixd agent` serves its own
	// Prometheus metrics (the backend plugin's launches and call
	// durations, the process's) on GET /metrics, in plain HTTP without
	// authentication: bind it to loopback or a management network. Empty
	// (the default) serves none. `quantixd dev` ignores it: its agent's
	// metrics are on the server's /metrics.
	MetricsAddr string
}

// StatsConfig is the `server { stats {} }` block: how the control plane
// keeps the resource statistics of VMs and nodes (docs/stats.md).
type StatsConfig struct {
	// Window is how long every sample is kept in memory, for the live
	// graphs and rates at full resolution.
	Window time.Duration
	// HistoryStep is the resolution of the history kept in the store: one
	// averaged point per VM and node per step.
	HistoryStep time.Duration
	// Retention is how long the history is kept in the store.
	Retention time.Duration
	// MaxSeriesVMs caps the VMs whose series /metrics exports; past it the
	// busiest are kept and the rest counted as dropped.
	MaxSeriesVMs int
}

// PluginConfig is a `plugin "<name>" {}` block. It applies to the backend
// plugin of that name and to the log sink plugin of that name alike.
type PluginConfig struct {
	// Name is the block label, e.g. "libvirt".
	Name string
	// Path overrides where the binary is found; by default
	// <plugin_dir>/quantix-<type>-<name>.
	Path string
	// Checksum is an optional "sha256:<hex>" the binary must match.
	Checksum string
	// Config is the plugin's own `config {}` block, passed through to the
	// plugin, which validates it. A log sink's settings are in its
	// log_sink block instead.
	Config map[string]any
	// ConfigRanges says where each attribute of Config was written.
	ConfigRanges map[string]hcl.Range
	// DeclRange is where the block starts.
	DeclRange hcl.Range
}

// LogSinkConfig is a `log_sink "<name>" {}` block.
type LogSinkConfig struct {
	// Name is the block label and the sink plugin's name.
	Name string
	// Sources lists the log sources the sink receives: ui, audit, system, qemu.
	Sources []string
	// Config is the sink plugin's own `config {}` block.
	Config map[string]any
	// ConfigRanges says where each attribute of Config was written.
	ConfigRanges map[string]hcl.Range
	// DeclRange is where the block starts.
	DeclRange hcl.Range
}

// logSink returns the log_sink block named name, or nil.
func (c *Config) logSink(name string) *LogSinkConfig {
	for i := range c.LogSinks {
		if c.LogSinks[i].Name == name {
			return &c.LogSinks[i]
		}
	}
	return nil
}

// Plugin returns the plugin block named name, or nil: the backend
// agent.backend names and the log sink of a log_sink block of that name
// take their path and checksum from it.
func (c *Config) Plugin(name string) *PluginConfig {
	for i := range c.Plugins {
		if c.Plugins[i].Name == name {
			return &c.Plugins[i]
		}
	}
	return nil
}

// Where returns "file:line,col" for the attribute at path when it came from
// the file, or "" when it did not.
func (c *Config) Where(path string) string {
	if r, ok := c.ranges[path]; ok {
		return pos(r)
	}
	return ""
}

// pos formats where a range starts as "file:line,col".
func pos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d,%d", r.Filename, r.Start.Line, r.Start.Column)
}
