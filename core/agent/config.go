package agent

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agent/nodecert"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/sdk/backend"
)

// Defaults of the Config durations left zero.
const (
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultResyncInterval    = 30 * time.Second
	DefaultMaxBackoff        = 5 * time.Second
	// DefaultQEMULogLinger: QEMU and libvirt write their last lines (the
	// signal that ended QEMU, "shutting down") after the VM stopped.
	DefaultQEMULogLinger = 5 * time.Second
	// DefaultQEMULogScanInterval: a VM that starts has its log followed
	// within half a second.
	DefaultQEMULogScanInterval = 500 * time.Millisecond
	// DefaultQEMULogRetryBackoff: a server that failed to store log lines
	// is not asked again for a second.
	DefaultQEMULogRetryBackoff = time.Second
	// DefaultStatsInterval is how often VM statistics are sampled.
	DefaultStatsInterval = 10 * time.Second
)

// Config configures an Agent.
type Config struct {
	// NodeName names this host in the inventory (agent.node_name).
	NodeName string
	// Servers are the control plane RPC addresses, tried in turn
	// (agent.servers).
	Servers []string
	// JoinToken enrolls the node when CertDir holds no certificate yet
	// (agent.join_token): a token of `quantix node token create`, which
	// carries the fingerprint of the cluster's agent CA, or the server's
	// static server.join_token, which needs CAFile or CAFingerprint. Once
	// enrolled the agent connects with its certificate only.
	JoinToken string
	// CAFile is a PEM file of the cluster's agent CA (agent.ca_cert), the
	// server's <data_dir>/pki/agents/ca.crt: the server the agent enrolls
	// with must have a certificate it issued.
	CAFile string
	// CAFingerprint is the SHA-256 fingerprint of the cluster's agent CA
	// (agent.ca_fingerprint), as the server logs it: the server the agent
	// enrolls with must have a certificate that CA issued.
	CAFingerprint string
	// CertDir holds the node's key, client certificate and the cluster's
	// agent CA (node.key, node.crt, ca.crt, mode 0600); required.
	CertDir string
	// Backend drives the host. When it implements backend.HealthChecker its
	// health travels with registrations and heartbeats; when it implements
	// Relauncher the agent resyncs after each relaunch.
	Backend backend.Backend
	// HeartbeatInterval is how often a heartbeat is sent; zero means
	// DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// ResyncInterval is how often every VM is listed as a safety net; zero
	// means DefaultResyncInterval.
	ResyncInterval time.Duration
	// SyncJitter bounds the random delay, in [0, SyncJitter), before the full
	// sync that follows each (re)connect, counted from the start of the
	// connection attempt (enrollment and registration included); zero syncs
	// at once.
	SyncJitter time.Duration
	// MaxBackoff caps the delay between connection attempts; zero means
	// DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Version is the agent's build, sent with the registration.
	Version string
	// StateDir holds what the agent keeps across restarts: how far it has
	// sent each VM's log. Empty keeps it in memory only, so that a
	// restarted agent sends every VM's log again from its start.
	StateDir string
	// DisableQEMULogs stops the agent from following the hypervisor log of
	// its VMs (the QEMU log on libvirt) and sending its lines to the server
	// (agent.qemu_logs = false).
	DisableQEMULogs bool
	// QEMULogLinger is how long the log of a VM that stopped is still
	// followed once it has gone quiet, for the lines the hypervisor writes
	// after the VM stopped (agent.qemu_log_linger); zero means
	// DefaultQEMULogLinger.
	QEMULogLinger time.Duration
	// QEMULogScanInterval is how often the VMs whose log is followed are
	// matched with the states the agent sees: a VM that starts is followed,
	// and one stopped for its linger no longer, at most that long later;
	// zero means DefaultQEMULogScanInterval.
	QEMULogScanInterval time.Duration
	// QEMULogRetryBackoff is the pause before the log lines a server failed
	// to store are sent again; it doubles with each failure in a row, up to
	// 30s. Zero means DefaultQEMULogRetryBackoff.
	QEMULogRetryBackoff time.Duration
	// DisableStats stops the agent from sampling its VMs' resource counters
	// and sending them to the server (agent.stats = false). Without it the
	// agent samples them when the backend is a backend.StatsCollector that
	// offers them.
	DisableStats bool
	// StatsInterval is how often the counters are sampled while a session
	// is up (agent.stats_interval); zero means DefaultStatsInterval.
	StatsInterval time.Duration
	// Logger receives the agent's log; nil discards.
	Logger hclog.Logger
}

// Relauncher is implemented by backends that come back as a new process
// after a crash (pluginhost.SupervisedBackend): whatever events were emitted
// meanwhile are lost, so the agent resyncs when told.
type Relauncher interface {
	OnRelaunch(fn pluginhost.RelaunchFunc) (remove func())
}

// withDefaults checks c and fills in the zero durations.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	if c.NodeName == "" {
		errs = append(errs, errors.New("no node name: set agent.node_name"))
	} else if err := backend.ValidateName("agent.node_name", c.NodeName); err != nil {
		errs = append(errs, err)
	}
	if len(c.Servers) == 0 {
		errs = append(errs, errors.New("no server to dial: set agent.servers to the control plane's server.rpc_addr"))
	}
	for _, s := range c.Servers {
		if s == "" {
			errs = append(errs, errors.New("an empty server address: list host:port addresses in agent.servers"))
		}
	}
	if c.CertDir == "" {
		errs = append(errs, errors.New("no directory for the node's certificate"))
	}
	if c.CAFingerprint != "" {
		if _, err := nodecert.NormalizeFingerprint(c.CAFingerprint); err != nil {
			errs = append(errs, fmt.Errorf("agent.ca_fingerprint: %w", err))
		}
	}
	if c.Backend == nil {
		errs = append(errs, errors.New("no backend to drive the host"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"heartbeat interval", c.HeartbeatInterval}, {"resync interval", c.ResyncInterval}, {"sync jitter", c.SyncJitter}, {"max backoff", c.MaxBackoff}, {"qemu log linger", c.QEMULogLinger}, {"qemu log scan interval", c.QEMULogScanInterval}, {"qemu log retry backoff", c.QEMULogRetryBackoff}, {"stats interval", c.StatsInterval}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", d.name, d.v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("agent config: %w", err)
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.ResyncInterval == 0 {
		c.ResyncInterval = DefaultResyncInterval
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.QEMULogLinger == 0 {
		c.QEMULogLinger = DefaultQEMULogLinger
	}
	if c.QEMULogScanInterval == 0 {
		c.QEMULogScanInterval = DefaultQEMULogScanInterval
	}
	if c.QEMULogRetryBackoff == 0 {
		c.QEMULogRetryBackoff = DefaultQEMULogRetryBackoff
	}
	if c.StatsInterval == 0 {
		c.StatsInterval = DefaultStatsInterval
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return c, nil
}
