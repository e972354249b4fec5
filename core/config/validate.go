package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
)

// LogSources are the values log_sink sources accepts.
var LogSources = []string{"ui", "audit", "system", "qemu"}

// Validate checks every setting and returns all problems at once, each
// naming where the value came from.
func (c *Config) Validate() error {
	v := validator{cfg: c}
	v.oneOf("log_level", c.LogLevel, "trace", "debug", "info", "warn", "error")
	v.oneOf("log_format", c.LogFormat, "text", "json")
	v.nonEmpty("data_dir", c.DataDir)
	v.addr("server.http_addr", c.Server.HTTPAddr)
	v.addr("server.rpc_addr", c.Server.RPCAddr)
	v.nonEmpty("server.name", c.Server.Name)
	v.nodeName("server.name", c.Server.Name)
	if c.Server.AdvertiseAddr != "" {
		v.advertise("server.advertise_addr", c.Server.AdvertiseAddr)
	}
	v.cluster(&c.Server.Cluster)
	v.oneOf("server.database.driver", c.Server.Database.Driver, "sqlite", "postgres")
	if c.Server.Database.Driver == "postgres" && c.Server.Database.DSN == "" {
		v.fail("server.database.dsn", "is required with driver \"postgres\", e.g. \"host=127.0.0.1 user=quantix dbname=quantix\"")
	}
	v.atLeast("server.agent_cert_ttl", c.Server.AgentCertTTL, time.Second)
	v.atLeast("server.reconcile.stuck_timeout", c.Server.Reconcile.StuckTimeout, time.Second)
	v.between("server.overcommit.cpu", c.Server.Overcommit.CPU, 0.1, 64)
	v.between("server.overcommit.memory", c.Server.Overcommit.Memory, 0.1, 16)
	v.atLeastInt("server.logs.spool_max_mib", c.Server.Logs.SpoolMaxMiB, 16)
	v.atLeast("server.logs.spool_max_age", c.Server.Logs.SpoolMaxAge, time.Minute)
	v.atLeast("server.logs.retention_max_age", c.Server.Logs.RetentionMaxAge, time.Minute)
	v.atLeastInt("server.logs.retention_max_entries", c.Server.Logs.RetentionMaxEntries, 1000)
	v.atLeastInt("server.logs.ui_rate", c.Server.Logs.UIRate, 1)
	v.atLeastInt("server.logs.ui_burst", c.Server.Logs.UIBurst, 1000)
	v.zeroOrAtLeast("server.logs.ui_address_rate", c.Server.Logs.UIAddressRate, c.Server.Logs.UIRate, "server.logs.ui_rate")
	v.zeroOrAtLeast("server.logs.ui_address_burst", c.Server.Logs.UIAddressBurst, c.Server.Logs.UIBurst, "server.logs.ui_burst")
	v.tls(&c.Server)
	v.clusterSecret(c)
	v.nonEmpty("agent.node_name", c.Agent.NodeName)
	v.nodeName("agent.node_name", c.Agent.NodeName)
	v.nonEmpty("agent.backend", c.Agent.Backend)
	if len(c.Agent.Servers) == 0 {
		v.fail("agent.servers", "needs at least one server address")
	}
	for _, s := range c.Agent.Servers {
		v.addr("agent.servers", s)
	}
	if fp := c.Agent.CAFingerprint; fp != "" {
		if b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(fp), ":", "")); err != nil || len(b) != 32 {
			v.fail("agent.ca_fingerprint", "is %q; must be the agent CA's SHA-256 fingerprint, 64 hex digits (colons allowed), as the server logs it", fp)
		}
	}
	v.atLeast("agent.heartbeat_interval", c.Agent.HeartbeatInterval, 100*time.Millisecond)
	v.atLeast("agent.resync_interval", c.Agent.ResyncInterval, time.Second)
	v.atLeast("agent.qemu_log_linger", c.Agent.QEMULogLinger, 100*time.Millisecond)
	v.atLeast("agent.stats_interval", c.Agent.StatsInterval, time.Second)
	v.atLeast("server.stats.window", c.Server.Stats.Window, time.Minute)
	v.atLeast("server.stats.history_step", c.Server.Stats.HistoryStep, 10*time.Second)
	if c.Server.Stats.HistoryStep > c.Server.Stats.Window {
		v.fail("server.stats.history_step", "is %s, longer than server.stats.window (%s); the history is made of the window's samples, so make it at most the window", c.Server.Stats.HistoryStep, c.Server.Stats.Window)
	}
	v.atLeast("server.stats.retention", c.Server.Stats.Retention, c.Server.Stats.HistoryStep)
	v.atLeastInt("server.stats.max_series_vms", c.Server.Stats.MaxSeriesVMs, 0)
	if c.Agent.MetricsAddr != "" {
		v.addr("agent.metrics_addr", c.Agent.MetricsAddr)
	}
	for _, p := range c.Plugins {
		if p.Checksum != "" {
			if err := CheckChecksum(p.Checksum); err != nil {
				v.errs = append(v.errs, fmt.Errorf("%s: plugin %q checksum: %w", pos(p.DeclRange), p.Name, err))
			}
		}
		// A log sink takes path and checksum from its plugin block but
		// its settings from its log_sink block: settings written in the
		// plugin block would be ignored.
		if len(p.Config) > 0 && p.Name != c.Agent.Backend && c.logSink(p.Name) != nil {
			v.errs = append(v.errs, fmt.Errorf("%s: plugin %q config: the log sink %q is configured by the config block of log_sink %q (at %s); move these attributes there",
				pos(p.DeclRange), p.Name, p.Name, p.Name, pos(c.logSink(p.Name).DeclRange)))
		}
	}
	for _, s := range c.LogSinks {
		if len(s.Sources) == 0 {
			v.errs = append(v.errs, fmt.Errorf("%s: log_sink %q sources: needs at least one of %s", pos(s.DeclRange), s.Name, strings.Join(LogSources, ", ")))
		}
		for _, src := range s.Sources {
			if !slices.Contains(LogSources, src) {
				v.errs = append(v.errs, fmt.Errorf("%s: log_sink %q sources: %q is not one of %s", pos(s.DeclRange), s.Name, src, strings.Join(LogSources, ", ")))
			}
		}
	}
	return errors.Join(v.errs...)
}

// tls checks the server.tls block against server.http_addr: plain HTTP
// only on a loopback address.
func (v *validator) tls(s *ServerConfig) {
	v.oneOf("server.tls.mode", s.TLS.Mode, TLSAuto, TLSOn, TLSOff)
	cert, key := strings.TrimSpace(s.TLS.CertFile) != "", strings.TrimSpace(s.TLS.KeyFile) != ""
	switch {
	case cert && !key:
		v.fail("server.tls.key_file", "must be set with server.tls.cert_file: the private key of that certificate")
	case key && !cert:
		v.fail("server.tls.cert_file", "must be set with server.tls.key_file: the certificate of that key")
	}
	if s.TLS.Mode != TLSOff {
		return
	}
	if cert || key {
		v.fail("server.tls.mode", "is \"off\" but server.tls.cert_file or key_file is set; remove them or set server.tls.mode to \"auto\"")
	}
	if _, _, err := net.SplitHostPort(s.HTTPAddr); err == nil && !IsLoopback(s.HTTPAddr) {
		v.fail("server.tls.mode", "is \"off\", but plain HTTP is allowed only on a loopback server.http_addr and it is %q; "+
			"remove server.tls.mode (TLS with a certificate the server generates, or server.tls.cert_file and key_file), or listen on 127.0.0.1", s.HTTPAddr)
	}
}

// IsLoopback reports whether the host of addr ("host:port") is a loopback
// address: an IP in 127.0.0.0/8, ::1, or "localhost". An empty host or a
// wildcard (every interface) is not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// APITLS reports whether the REST API serves TLS: always with
// server.tls.cert_file or mode "on", never with mode "off", and with mode
// "auto" unless server.http_addr is a loopback address.
func (c *Config) APITLS() bool {
	t := c.Server.TLS
	switch {
	case t.CertFile != "" || t.Mode == TLSOn:
		return true
	case t.Mode == TLSOff:
		return false
	}
	return !IsLoopback(c.Server.HTTPAddr)
}

// CheckChecksum checks the form "sha256:<64 hex digits>".
func CheckChecksum(s string) error {
	algo, digest, ok := strings.Cut(s, ":")
	if !ok || algo != "sha256" {
		return fmt.Errorf("%q must look like \"sha256:<64 hex digits>\"", s)
	}
	if b, err := hex.DecodeString(digest); err != nil || len(b) != 32 {
		return fmt.Errorf("%q must look like \"sha256:<64 hex digits>\"", s)
	}
	return nil
}

type validator struct {
	cfg  *Config
	errs []error
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, errors.New(v.at(path)+path+" "+fmt.Sprintf(format, args...)))
}

// at is "file:line,col: " when path was set in the file, "" otherwise.
func (v *validator) at(path string) string {
	if where := v.cfg.Where(path); where != "" {
		return where + ": "
	}
	return ""
}

func (v *validator) oneOf(path, val string, allowed ...string) {
	if !slices.Contains(allowed, val) {
		v.fail(path, "is %q; must be one of %s", val, strings.Join(allowed, ", "))
	}
}

func (v *validator) nonEmpty(path, val string) {
	if strings.TrimSpace(val) == "" {
		v.fail(path, "must not be empty")
	}
}

// nodeName checks a node name by the rules of VM names
// (backend.ValidateName); an empty one is nonEmpty's to report.
func (v *validator) nodeName(path, val string) {
	if strings.TrimSpace(val) == "" {
		return
	}
	if err := backend.ValidateName(path, val); err != nil {
		v.fail(path, "%s", strings.TrimPrefix(err.Error(), path+": "))
	}
}

func (v *validator) addr(path, val string) {
	if _, port, err := net.SplitHostPort(val); err != nil || port == "" {
		v.fail(path, "is %q; must be host:port, e.g. \"127.0.0.1:8080\"", val)
	}
}

// advertise checks an address others dial: host:port with a host that is
// not a wildcard and a port that is not 0.
func (v *validator) advertise(path, val string) {
	host, port, err := net.SplitHostPort(val)
	if err != nil || port == "" || port == "0" {
		v.fail(path, "is %q; must be host:port with a port, e.g. \"server1.example.com:8081\"", val)
		return
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		v.fail(path, "is %q; its host must be one other servers and agents can dial, not a wildcard", val)
	}
}

// cluster checks the leader lease timings.
func (v *validator) cluster(c *ClusterConfig) {
	v.atLeast("server.cluster.renew_interval", c.RenewInterval, 100*time.Millisecond)
	v.atLeast("server.cluster.lease_ttl", c.LeaseTTL, time.Second)
	if c.LeaseTTL > 5*time.Minute {
		v.fail("server.cluster.lease_ttl", "is %s; must be at most 5m (a dead leader is replaced only after it)", c.LeaseTTL)
	}
	if c.RenewInterval >= 100*time.Millisecond && c.LeaseTTL >= time.Second && c.RenewInterval*2 > c.LeaseTTL {
		v.fail("server.cluster.renew_interval", "is %s; must be at most half of server.cluster.lease_ttl (%s), so that the leader renews in time", c.RenewInterval, c.LeaseTTL)
	}
}

func (v *validator) atLeastInt(path string, n, min int) {
	if n < min {
		v.fail(path, "is %d; must be at least %d", n, min)
	}
}

// zeroOrAtLeast checks a bound that is zero (its default) or at least the
// bound at minPath, min.
func (v *validator) zeroOrAtLeast(path string, n, min int, minPath string) {
	if n != 0 && n < min {
		v.fail(path, "is %d; must be 0 (5 times %s) or at least %s (%d)", n, minPath, minPath, min)
	}
}

func (v *validator) atLeast(path string, d, min time.Duration) {
	if d < min {
		v.fail(path, "is %s; must be at least %s", d, min)
	}
}

func (v *validator) between(path string, x, lo, hi float64) {
	if !(x >= lo && x <= hi) {
		v.fail(path, "is %g; must be between %g and %g", x, lo, hi)
	}
}
