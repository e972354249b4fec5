package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// EnvPrefix starts every environment variable that overrides an attribute:
// QUANTIX_<UPPER_PATH>, e.g. QUANTIX_SERVER_HTTP_ADDR for server.http_addr.
const EnvPrefix = "QUANTIX_"

// bindings returns every attribute of c that the file, the environment and
// flags can set, keyed by dotted path.
func (c *Config) bindings() map[string]attr {
	list := []attr{
		{"data_dir", &c.DataDir},
		{"log_level", &c.LogLevel},
		{"log_format", &c.LogFormat},
		{"plugin_dir", &c.PluginDir},
		{"server.name", &c.Server.Name},
		{"server.http_addr", &c.Server.HTTPAddr},
		{"server.rpc_addr", &c.Server.RPCAddr},
		{"server.advertise_addr", &c.Server.AdvertiseAddr},
		{"server.cluster.lease_ttl", &c.Server.Cluster.LeaseTTL},
		{"server.cluster.renew_interval", &c.Server.Cluster.RenewInterval},
		{"server.join_token", &c.Server.JoinToken},
		{"server.agent_cert_ttl", &c.Server.AgentCertTTL},
		{"server.cluster_secret", &c.Server.ClusterSecret},
		{"server.cluster_secret_file", &c.Server.ClusterSecretFile},
		{"server.database.driver", &c.Server.Database.Driver},
		{"server.database.dsn", &c.Server.Database.DSN},
		{"server.reconcile.stuck_timeout", &c.Server.Reconcile.StuckTimeout},
		{"server.overcommit.cpu", &c.Server.Overcommit.CPU},
		{"server.overcommit.memory", &c.Server.Overcommit.Memory},
		{"server.logs.spool_max_mib", &c.Server.Logs.SpoolMaxMiB},
		{"server.logs.spool_max_age", &c.Server.Logs.SpoolMaxAge},
		{"server.logs.retention_max_age", &c.Server.Logs.RetentionMaxAge},
		{"server.logs.retention_max_entries", &c.Server.Logs.RetentionMaxEntries},
		{"server.logs.ui_rate", &c.Server.Logs.UIRate},
		{"server.logs.ui_burst", &c.Server.Logs.UIBurst},
		{"server.logs.ui_address_rate", &c.Server.Logs.UIAddressRate},
		{"server.logs.ui_address_burst", &c.Server.Logs.UIAddressBurst},
		{"server.tls.mode", &c.Server.TLS.Mode},
		{"server.tls.cert_file", &c.Server.TLS.CertFile},
		{"server.tls.key_file", &c.Server.TLS.KeyFile},
		{"server.ui.enabled", &c.Server.UI.Enabled},
		{"agent.node_name", &c.Agent.NodeName},
		{"agent.servers", &c.Agent.Servers},
		{"agent.join_token", &c.Agent.JoinToken},
		{"agent.ca_cert", &c.Agent.CACert},
		{"agent.ca_fingerprint", &c.Agent.CAFingerprint},
		{"agent.backend", &c.Agent.Backend},
		{"agent.heartbeat_interval", &c.Agent.HeartbeatInterval},
		{"agent.resync_interval", &c.Agent.ResyncInterval},
		{"agent.sync_jitter", &c.Agent.SyncJitter},
		{"agent.qemu_logs", &c.Agent.QEMULogs},
		{"agent.qemu_log_linger", &c.Agent.QEMULogLinger},
		{"agent.stats", &c.Agent.Stats},
		{"agent.stats_interval", &c.Agent.StatsInterval},
		{"server.stats.window", &c.Server.Stats.Window},
		{"server.stats.history_step", &c.Server.Stats.HistoryStep},
		{"server.stats.retention", &c.Server.Stats.Retention},
		{"server.stats.max_series_vms", &c.Server.Stats.MaxSeriesVMs},
		{"agent.metrics_addr", &c.Agent.MetricsAddr},
	}
	m := make(map[string]attr, len(list))
	for _, a := range list {
		m[a.name] = a
	}
	return m
}

// attrsUnder returns the bindings directly inside block path ("" = top).
func attrsUnder(b map[string]attr, block string) map[string]attr {
	out := map[string]attr{}
	for path, a := range b {
		parent, name := "", path
		if i := strings.LastIndex(path, "."); i >= 0 {
			parent, name = path[:i], path[i+1:]
		}
		if parent == block {
			out[name] = a
		}
	}
	return out
}

// Load reads the configuration file at path over the defaults, then applies
// QUANTIX_* variables from env (os.Environ() form). An empty path means
// defaults and environment only. Flags are applied afterwards with Set, then
// Validate checks the result.
func Load(path string, env []string) (*Config, error) {
	c := Default()
	if path != "" {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		if err := c.decode(path, src); err != nil {
			return nil, err
		}
		c.File = path
	}
	if err := c.applyEnv(env); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse decodes configuration text as if read from filename, over the
// defaults, without environment overrides.
func Parse(filename string, src []byte) (*Config, error) {
	c := Default()
	if err := c.decode(filename, src); err != nil {
		return nil, err
	}
	c.File = filename
	return c, nil
}

// Set sets the attribute at a dotted path (e.g. "server.http_addr") from
// text, as a flag does.
func (c *Config) Set(path, value string) error {
	a, ok := c.bindings()[path]
	if !ok {
		return fmt.Errorf("unknown setting %q", path)
	}
	if err := a.fromString(value); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	delete(c.ranges, path)
	return nil
}

// EnvName returns the environment variable that overrides path.
func EnvName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// EnvNames lists every overriding variable, sorted.
func EnvNames() []string {
	var out []string
	for path := range Default().bindings() {
		out = append(out, EnvName(path))
	}
	sort.Strings(out)
	return out
}

func (c *Config) applyEnv(env []string) error {
	byName := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			byName[k] = v
		}
	}
	var errs []error
	for path, a := range c.bindings() {
		v, ok := byName[EnvName(path)]
		if !ok {
			continue
		}
		if err := a.fromString(v); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s: %w", EnvName(path), err))
			continue
		}
		delete(c.ranges, path)
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// decode fills c from HCL source.
func (c *Config) decode(filename string, src []byte) error {
	file, diags := hclparse.NewParser().ParseHCL(src, filename)
	if diags.HasErrors() {
		return diagError(diags)
	}
	d := decoder{cfg: c, bind: c.bindings()}
	d.block(file.Body, "", []hcl.BlockHeaderSchema{
		{Type: "server"}, {Type: "agent"},
		{Type: "plugin", LabelNames: []string{"name"}},
		{Type: "log_sink", LabelNames: []string{"name"}},
	})
	if d.diags.HasErrors() {
		return diagError(d.diags)
	}
	return nil
}

type decoder struct {
	cfg   *Config
	bind  map[string]attr
	diags hcl.Diagnostics
}

func (d *decoder) errorf(rng *hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng,
	})
}

// block decodes the attributes bound under path and dispatches nested blocks.
func (d *decoder) block(body hcl.Body, path string, blocks []hcl.BlockHeaderSchema) {
	attrs := attrsUnder(d.bind, path)
	schema := &hcl.BodySchema{Blocks: blocks}
	for name := range attrs {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: name})
	}
	content, diags := body.Content(schema)
	d.diags = append(d.diags, diags...)
	if content == nil {
		return
	}
	for name, at := range content.Attributes {
		full := join(path, name)
		v, vd := at.Expr.Value(nil)
		if vd.HasErrors() {
			d.diags = append(d.diags, vd...)
			continue
		}
		if err := attrs[name].fromValue(v); err != nil {
			d.errorf(at.Expr.Range().Ptr(), "Invalid value for "+full, "%s %s.", full, err)
			continue
		}
		if d.cfg.ranges == nil {
			d.cfg.ranges = map[string]hcl.Range{}
		}
		d.cfg.ranges[full] = at.Expr.Range()
	}
	seen := map[string]*hcl.Block{}
	for _, blk := range content.Blocks {
		key := blk.Type + "/" + strings.Join(blk.Labels, "/")
		if prev, dup := seen[key]; dup {
			d.errorf(blk.DefRange.Ptr(), "Duplicate "+blk.Type+" block",
				"%s is already defined at %s; merge the two blocks.", describe(blk), pos(prev.DefRange))
			continue
		}
		seen[key] = blk
		d.nested(path, blk)
	}
}

func describe(b *hcl.Block) string {
	if len(b.Labels) > 0 {
		return fmt.Sprintf("%s %q", b.Type, b.Labels[0])
	}
	return b.Type
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (d *decoder) nested(path string, blk *hcl.Block) {
	switch full := join(path, blk.Type); full {
	case "server":
		d.block(blk.Body, full, []hcl.BlockHeaderSchema{{Type: "database"}, {Type: "reconcile"}, {Type: "overcommit"}, {Type: "logs"}, {Type: "tls"}, {Type: "ui"}, {Type: "cluster"}, {Type: "stats"}})
	case "agent", "server.database", "server.reconcile", "server.overcommit", "server.logs", "server.tls", "server.ui", "server.cluster", "server.stats":
		d.block(blk.Body, full, nil)
	case "plugin":
		p := PluginConfig{Name: blk.Labels[0], DeclRange: blk.DefRange}
		d.labeled(blk, []attr{{"path", &p.Path}, {"checksum", &p.Checksum}}, &p.Config, &p.ConfigRanges)
		d.cfg.Plugins = append(d.cfg.Plugins, p)
	case "log_sink":
		s := LogSinkConfig{Name: blk.Labels[0], DeclRange: blk.DefRange}
		d.labeled(blk, []attr{{"sources", &s.Sources}}, &s.Config, &s.ConfigRanges)
		d.cfg.LogSinks = append(d.cfg.LogSinks, s)
	}
}

// labeled decodes a plugin or log_sink block: its own attributes and an
// optional `config {}` block passed through as JSON-compatible values.
func (d *decoder) labeled(blk *hcl.Block, attrs []attr, cfg *map[string]any, ranges *map[string]hcl.Range) {
	label := describe(blk)
	if blk.Labels[0] == "" {
		d.errorf(blk.LabelRanges[0].Ptr(), "Empty "+blk.Type+" name", "%s needs a name, e.g. %s \"libvirt\" { ... }.", blk.Type, blk.Type)
	}
	schema := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "config"}}}
	for _, a := range attrs {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: a.name})
	}
	content, diags := blk.Body.Content(schema)
	d.diags = append(d.diags, diags...)
	if content == nil {
		return
	}
	for _, a := range attrs {
		at, ok := content.Attributes[a.name]
		if !ok {
			continue
		}
		v, vd := at.Expr.Value(nil)
		if vd.HasErrors() {
			d.diags = append(d.diags, vd...)
			continue
		}
		if err := a.fromValue(v); err != nil {
			d.errorf(at.Expr.Range().Ptr(), "Invalid value for "+a.name, "%s %s %s.", label, a.name, err)
		}
	}
	*cfg, *ranges = map[string]any{}, map[string]hcl.Range{}
	for i, cb := range content.Blocks {
		if i > 0 {
			d.errorf(cb.DefRange.Ptr(), "Duplicate config block", "%s has more than one config block; merge them.", label)
			continue
		}
		d.passThrough(label, cb.Body, *cfg, *ranges)
	}
}

func (d *decoder) passThrough(label string, body hcl.Body, cfg map[string]any, ranges map[string]hcl.Range) {
	attrs, diags := body.JustAttributes()
	if diags.HasErrors() {
		for _, dg := range diags {
			dg.Detail = fmt.Sprintf("in %s config: %s", label, dg.Detail)
		}
		d.diags = append(d.diags, diags...)
		return
	}
	for name, at := range attrs {
		v, vd := at.Expr.Value(nil)
		if vd.HasErrors() {
			d.diags = append(d.diags, vd...)
			continue
		}
		raw, err := ctyjson.Marshal(v, v.Type())
		var out any
		if err == nil {
			err = json.Unmarshal(raw, &out)
		}
		if err != nil {
			d.errorf(at.Expr.Range().Ptr(), "Invalid value for "+name, "%s config attribute %s: %v.", label, name, err)
			continue
		}
		cfg[name] = out
		ranges[name] = at.Expr.Range()
	}
}

// diagError turns HCL diagnostics into one error, a line per problem:
// "file:line,col: summary; detail".
func diagError(diags hcl.Diagnostics) error {
	var lines []string
	for _, dg := range diags {
		if dg.Severity != hcl.DiagError {
			continue
		}
		msg := dg.Summary
		if dg.Detail != "" {
			msg += "; " + dg.Detail
		}
		if dg.Subject != nil {
			msg = pos(*dg.Subject) + ": " + msg
		}
		lines = append(lines, msg)
	}
	return errors.New(strings.Join(lines, "\n"))
}
