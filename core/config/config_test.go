package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsValidate(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.Server.HTTPAddr != "127.0.0.1:8080" || c.Server.Database.Driver != "sqlite" || c.DataDir != "./quantix-data" {
		t.Errorf("unexpected defaults: %+v", c.Server)
	}
	if c.Agent.QEMULogLinger != 5*time.Second {
		t.Errorf("agent.qemu_log_linger defaults to %s, want 5s", c.Agent.QEMULogLinger)
	}
	if got := c.DatabaseDSN(); got != filepath.Join("quantix-data", "quantix.db") {
		t.Errorf("DatabaseDSN = %q", got)
	}
}

func TestParseFull(t *testing.T) {
	src := `
data_dir  = "/var/lib/quantix"
log_level = "debug"
server {
  http_addr = "0.0.0.0:9000"
  database {
    driver = "postgres"
    dsn    = "host=127.0.0.1 dbname=q"
  }
  reconcile {
    stuck_timeout = "2m"
  }
}
agent {
  servers            = ["10.0.0.1:8081", "10.0.0.2:8081"]
  heartbeat_interval = "1s"
  qemu_log_linger    = "250ms"
}
plugin "libvirt" {
  checksum = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
  config {
    uri       = "test:///default"
    verbose   = true
    retries   = 3
    tags      = ["a", "b"]
  }
}
log_sink "file" {
  sources = ["ui", "audit"]
  config { path = "/tmp/x.log" }
}
`
	c, err := Parse("q.hcl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Server.Reconcile.StuckTimeout != 2*time.Minute || c.Agent.HeartbeatInterval != time.Second || c.Agent.QEMULogLinger != 250*time.Millisecond {
		t.Errorf("durations: %v %v %v", c.Server.Reconcile.StuckTimeout, c.Agent.HeartbeatInterval, c.Agent.QEMULogLinger)
	}
	if len(c.Agent.Servers) != 2 || c.Server.Database.DSN != "host=127.0.0.1 dbname=q" {
		t.Errorf("agent/db: %+v %+v", c.Agent.Servers, c.Server.Database)
	}
	p := c.Plugin("libvirt")
	if p == nil {
		t.Fatal("plugin libvirt missing")
	}
	if p.Config["uri"] != "test:///default" || p.Config["verbose"] != true || p.Config["retries"] != float64(3) {
		t.Errorf("plugin config: %#v", p.Config)
	}
	if r := p.ConfigRanges["uri"]; r.Start.Line != 22 {
		t.Errorf("uri range line %d, want 22", r.Start.Line)
	}
	if len(c.LogSinks) != 1 || c.LogSinks[0].Sources[1] != "audit" || c.LogSinks[0].Config["path"] != "/tmp/x.log" {
		t.Errorf("log sinks: %+v", c.LogSinks)
	}
	if w := c.Where("server.http_addr"); w != "q.hcl:5,15" {
		t.Errorf("Where(server.http_addr) = %q", w)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"unknown attribute", "bogus = 1\n", `q.hcl:1,1: Unsupported argument; An argument named "bogus" is not expected here`},
		{"unknown block", "nope {}\n", `q.hcl:1,1: Unsupported block type`},
		{"unknown nested", "server {\n  database {\n    flavor = \"x\"\n  }\n}\n", `q.hcl:3,5: Unsupported argument; An argument named "flavor"`},
		{"bad duration", "agent {\n  heartbeat_interval = \"fast\"\n}\n", `q.hcl:2,24: Invalid value for agent.heartbeat_interval; agent.heartbeat_interval "fast" is not a duration such as "5s"`},
		{"number for list", "agent {\n  servers = 5\n}\n", `q.hcl:2,13: Invalid value for agent.servers; agent.servers must be a list of strings`},
		{"syntax", "server {\n", `q.hcl:1,8: Unclosed configuration block`},
		{"duplicate block", "server {}\nserver {}\n", `q.hcl:2,1: Duplicate server block; server is already defined at q.hcl:1,1`},
		{"duplicate plugin", "plugin \"a\" {}\nplugin \"a\" {}\n", `Duplicate plugin block; plugin "a" is already defined`},
		{"plugin without label", "plugin {}\n", `Missing name for plugin`},
		{"plugin unknown attr", "plugin \"a\" {\n  paht = \"/x\"\n}\n", `q.hcl:2,3: Unsupported argument; An argument named "paht"`},
		{"block in config", "plugin \"a\" {\n  config {\n    inner {}\n  }\n}\n", `in plugin "a" config`},
		{"variable", "data_dir = foo\n", `q.hcl:1,12: Variables not allowed`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("q.hcl", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestValidateErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"level", `log_level = "loud"`, `q.hcl:1,13: log_level is "loud"; must be one of trace, debug, info, warn, error`},
		{"addr", "server {\n http_addr = \"8080\"\n}", `q.hcl:2,14: server.http_addr is "8080"; must be host:port`},
		{"driver", "server {\n database {\n driver = \"mysql\"\n }\n}", `server.database.driver is "mysql"; must be one of sqlite, postgres`},
		{"postgres dsn", "server {\n database {\n driver = \"postgres\"\n }\n}", `server.database.dsn is required with driver "postgres"`},
		{"stuck", "server {\n reconcile {\n stuck_timeout = \"10ms\"\n }\n}", `server.reconcile.stuck_timeout is 10ms; must be at least 1s`},
		{"checksum", "plugin \"x\" {\n checksum = \"md5:abc\"\n}", `q.hcl:1,1: plugin "x" checksum: "md5:abc" must look like "sha256:<64 hex digits>"`},
		{"sources", "log_sink \"f\" {\n sources = [\"ui\", \"kernel\"]\n}", `log_sink "f" sources: "kernel" is not one of ui, audit, system, qemu`},
		{"no sources", "log_sink \"f\" {}", `log_sink "f" sources: needs at least one`},
		{"spool bound", "server {\n logs {\n spool_max_mib = 4\n }\n}", `q.hcl:3,18: server.logs.spool_max_mib is 4; must be at least 16`},
		{"ui burst", "server {\n logs {\n ui_burst = 10\n }\n}", `server.logs.ui_burst is 10; must be at least 1000`},
		{"cpu overcommit", "server {\n overcommit {\n cpu = 0\n }\n}", `q.hcl:3,8: server.overcommit.cpu is 0; must be between 0.1 and 64`},
		{"memory overcommit", "server {\n overcommit {\n memory = 100\n }\n}", `server.overcommit.memory is 100; must be between 0.1 and 16`},
		{"log linger", "agent {\n qemu_log_linger = \"0s\"\n}", `q.hcl:2,20: agent.qemu_log_linger is 0s; must be at least 100ms`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("q.hcl", []byte(tc.src))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			err = c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLogsBlock(t *testing.T) {
	c, err := Parse("q.hcl", []byte("server {\n logs {\n spool_max_mib = 64\n spool_max_age = \"1h\"\n retention_max_entries = 5000\n ui_rate = 7\n }\n}"))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Server.Logs
	if l.SpoolMaxMiB != 64 || l.SpoolMaxAge != time.Hour || l.RetentionMaxEntries != 5000 || l.UIRate != 7 ||
		l.RetentionMaxAge != DefaultRetentionMaxAge || l.UIBurst != DefaultUIBurst {
		t.Fatalf("logs block: %+v", l)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("server.logs.ui_burst", "lots"); err == nil {
		t.Error("a ui_burst that is not a number was accepted")
	}
}

// TestOvercommitBlock: the ratios default to 4 and 1.5, take fractions
// from the file and the environment, and refuse what is not a number.
func TestOvercommitBlock(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Server.Overcommit; o.CPU != 4 || o.Memory != 1.5 {
		t.Errorf("defaults: %+v, want cpu 4, memory 1.5", o)
	}
	c, err = Parse("q.hcl", []byte("server {\n overcommit {\n cpu = 2.5\n memory = 1\n }\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Server.Overcommit; o.CPU != 2.5 || o.Memory != 1 {
		t.Errorf("from the file: %+v", o)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err = Load("", []string{"QUANTIX_SERVER_OVERCOMMIT_MEMORY=0.9"})
	if err != nil || c.Server.Overcommit.Memory != 0.9 {
		t.Errorf("from the environment: %v, %+v", err, c)
	}
	for _, bad := range []string{"lots", "NaN", "Inf"} {
		if err := c.Set("server.overcommit.cpu", bad); err == nil || !strings.Contains(err.Error(), "a number such as 1.5") {
			t.Errorf("cpu %q: %v, want it refused", bad, err)
		}
	}
	if _, err := Parse("q.hcl", []byte("server {\n overcommit {\n cpu = \"x\"\n }\n}")); err == nil {
		t.Error("a cpu ratio that is not a number was accepted")
	}
}

func TestEnvAndSetOverride(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.hcl")
	if err := os.WriteFile(path, []byte("server {\n  http_addr = \"127.0.0.1:1\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"QUANTIX_SERVER_HTTP_ADDR=127.0.0.1:2",
		"QUANTIX_AGENT_SERVERS=a:1, b:2",
		"QUANTIX_AGENT_SYNC_JITTER=0s",
		"QUANTIX_ADDR=http://elsewhere", // the CLI's variable: not an attribute, ignored
	}
	c, err := Load(path, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.HTTPAddr != "127.0.0.1:2" {
		t.Errorf("env did not override the file: %q", c.Server.HTTPAddr)
	}
	if c.Where("server.http_addr") != "" {
		t.Error("an overridden attribute still points at the file")
	}
	if len(c.Agent.Servers) != 2 || c.Agent.Servers[1] != "b:2" || c.Agent.SyncJitter != 0 {
		t.Errorf("env lists/durations: %+v", c.Agent)
	}
	if err := c.Set("server.http_addr", "127.0.0.1:3"); err != nil || c.Server.HTTPAddr != "127.0.0.1:3" {
		t.Errorf("Set: %v %q", err, c.Server.HTTPAddr)
	}
	if err := c.Set("server.nope", "x"); err == nil {
		t.Error("Set of an unknown path succeeded")
	}
	if err := c.Set("agent.resync_interval", "soon"); err == nil || !strings.Contains(err.Error(), "agent.resync_interval") {
		t.Errorf("Set bad duration: %v", err)
	}
	_, err = Load(path, []string{"QUANTIX_AGENT_HEARTBEAT_INTERVAL=often"})
	if err == nil || !strings.Contains(err.Error(), "environment variable QUANTIX_AGENT_HEARTBEAT_INTERVAL") {
		t.Errorf("bad env value: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.hcl"), nil); err == nil || !strings.Contains(err.Error(), "missing.hcl") {
		t.Errorf("missing file: %v", err)
	}
	if names := EnvNames(); len(names) == 0 || names[0] != "QUANTIX_AGENT_BACKEND" {
		t.Errorf("EnvNames = %v", names)
	}
}

func TestExampleFileIsTrue(t *testing.T) {
	path := filepath.Join("..", "..", "config.example.hcl")
	c, err := Load(path, nil)
	if err != nil {
		t.Fatalf("config.example.hcl does not load: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("config.example.hcl does not validate: %v", err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every attribute the daemon knows is documented in the example.
	for p := range c.bindings() {
		name := p[strings.LastIndex(p, ".")+1:]
		if !strings.Contains(string(src), name+" ") {
			t.Errorf("config.example.hcl does not mention %s", p)
		}
	}
}

// TestUIAddressRate: the per-address bounds of POST /api/logs/ui are read
// from server.logs, zero by default (5 times the session bounds), and a
// bound below the session's is refused naming both keys.
func TestUIAddressRate(t *testing.T) {
	c, err := Parse("q.hcl", []byte("server {\n logs {\n ui_rate = 10\n ui_address_rate = 30\n ui_address_burst = 9000\n }\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Server.Logs; l.UIAddressRate != 30 || l.UIAddressBurst != 9000 {
		t.Fatalf("logs block: %+v", l)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if d := Default().Server.Logs; d.UIAddressRate != 0 || d.UIAddressBurst != 0 {
		t.Errorf("default per-address bounds %d and %d, want 0 (5 times the session bounds)", d.UIAddressRate, d.UIAddressBurst)
	}
	if err := c.Set("server.logs.ui_address_rate", "5"); err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "server.logs.ui_address_rate") || !strings.Contains(err.Error(), "server.logs.ui_rate (10)") {
		t.Errorf("ui_address_rate below ui_rate: error %v, want one naming both keys", err)
	}
	c = Default()
	if err := c.Set("server.logs.ui_address_burst", "-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "server.logs.ui_address_burst") {
		t.Errorf("a negative ui_address_burst: error %v, want one naming it", err)
	}
}

// TestValidateNodeName: agent.node_name follows the rules of VM names, so
// a bad one stops the agent at start with the key and the rule.
func TestValidateNodeName(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"../../etc/x y", `agent.node_name "../../etc/x y" may only contain letters, digits, '.', '_' and '-'`},
		{strings.Repeat("n", 5000), "agent.node_name 5000 characters, at most 64 allowed"},
		{"..", `agent.node_name ".." is not a valid name`},
	} {
		c, err := Parse("q.hcl", []byte(fmt.Sprintf("agent {\n node_name = %q\n}", tc.name)))
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("node_name %.20q: error = %v\nwant it to contain %q", tc.name, err, tc.want)
		}
	}
	c, err := Parse("q.hcl", []byte("agent {\n node_name = \"rack1-node.07_b\"\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("a valid node name refused: %v", err)
	}
}

// TestTLSBlock: server.tls is read from the file and the environment, its
// files go in pairs, plain HTTP is refused on a non-loopback address naming
// server.tls.mode, and APITLS says when the API serves TLS.
func TestTLSBlock(t *testing.T) {
	c, err := Parse("q.hcl", []byte("server {\n tls {\n cert_file = \"/etc/q/api.crt\"\n key_file = \"/etc/q/api.key\"\n }\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if tl := c.Server.TLS; tl.CertFile != "/etc/q/api.crt" || tl.KeyFile != "/etc/q/api.key" || tl.Mode != TLSAuto {
		t.Fatalf("tls block: %+v", tl)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.APITLS() {
		t.Error("APITLS is false with cert_file set on loopback")
	}
	c, err = Load("", []string{"QUANTIX_SERVER_TLS_MODE=on", "QUANTIX_SERVER_TLS_CERT_FILE=/a.crt", "QUANTIX_SERVER_TLS_KEY_FILE=/a.key"})
	if err != nil || c.Server.TLS != (TLSConfig{Mode: TLSOn, CertFile: "/a.crt", KeyFile: "/a.key"}) {
		t.Fatalf("from the environment: %v, %+v", err, c.Server.TLS)
	}

	for _, tc := range []struct{ name, src, want string }{
		{"mode", "server {\n tls {\n mode = \"maybe\"\n }\n}", `q.hcl:3,9: server.tls.mode is "maybe"; must be one of auto, on, off`},
		{"cert without key", "server {\n tls {\n cert_file = \"/a\"\n }\n}", `server.tls.key_file must be set with server.tls.cert_file`},
		{"key without cert", "server {\n tls {\n key_file = \"/a\"\n }\n}", `server.tls.cert_file must be set with server.tls.key_file`},
		{"off with files", "server {\n tls {\n mode = \"off\"\n cert_file = \"/a\"\n key_file = \"/b\"\n }\n}", `server.tls.mode is "off" but server.tls.cert_file or key_file is set`},
		{"off on all interfaces", "server {\n http_addr = \"0.0.0.0:8080\"\n tls {\n mode = \"off\"\n }\n}", `q.hcl:4,9: server.tls.mode is "off", but plain HTTP is allowed only on a loopback server.http_addr and it is "0.0.0.0:8080"`},
		{"off on a host name", "server {\n http_addr = \"api.example.org:8080\"\n tls {\n mode = \"off\"\n }\n}", `plain HTTP is allowed only on a loopback server.http_addr`},
		{"off on no host", "server {\n http_addr = \":8080\"\n tls {\n mode = \"off\"\n }\n}", `plain HTTP is allowed only on a loopback server.http_addr`},
		{"unknown attribute", "server {\n tls {\n disable = true\n }\n}", `An argument named "disable" is not expected here`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("q.hcl", []byte(tc.src))
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		addr, mode, cert string
		tls              bool
	}{
		{"127.0.0.1:8080", TLSAuto, "", false},
		{"[::1]:8080", TLSAuto, "", false},
		{"localhost:8080", TLSAuto, "", false},
		{"127.0.0.2:8080", TLSOff, "", false},
		{"127.0.0.1:8080", TLSOn, "", true},
		{"127.0.0.1:8080", TLSAuto, "/a.crt", true},
		{"0.0.0.0:8080", TLSAuto, "", true},
		{":8080", TLSAuto, "", true},
		{"[::]:8080", TLSAuto, "", true},
		{"10.1.2.3:8080", TLSAuto, "", true},
		{"api.example.org:8080", TLSAuto, "", true},
	} {
		c := Default()
		c.Server.HTTPAddr, c.Server.TLS.Mode, c.Server.TLS.CertFile = tc.addr, tc.mode, tc.cert
		if tc.cert != "" {
			c.Server.TLS.KeyFile = "/a.key"
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s mode %s: %v", tc.addr, tc.mode, err)
		}
		if got := c.APITLS(); got != tc.tls {
			t.Errorf("%s mode %s cert %q: APITLS = %v, want %v", tc.addr, tc.mode, tc.cert, got, tc.tls)
		}
	}
}

// TestAgentTLSKeys: agent.ca_fingerprint must be a SHA-256 fingerprint
// (colons allowed), named when it is not; server.agent_cert_ttl has a
// floor.
func TestAgentTLSKeys(t *testing.T) {
	c := Default()
	for _, ok := range []string{strings.Repeat("ab", 32), strings.ToUpper(strings.Repeat("ab:", 31) + "ab")} {
		if err := c.Set("agent.ca_fingerprint", ok); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("fingerprint %s: %v", ok, err)
		}
	}
	if err := c.Set("agent.ca_fingerprint", "abc"); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "agent.ca_fingerprint") || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("a bad fingerprint: %v; want an error naming agent.ca_fingerprint", err)
	}
	c = Default()
	if c.Server.AgentCertTTL != DefaultAgentCertTTL {
		t.Errorf("default agent_cert_ttl %s", c.Server.AgentCertTTL)
	}
	if err := c.Set("server.agent_cert_ttl", "100ms"); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "server.agent_cert_ttl") {
		t.Errorf("a 100ms agent_cert_ttl: %v; want an error naming server.agent_cert_ttl", err)
	}
}

// The web console is on by default; the file, the environment and a flag
// turn it off; anything but a bool is refused naming the attribute.
func TestUIEnabled(t *testing.T) {
	if !Default().Server.UI.Enabled {
		t.Fatal("server.ui.enabled is off by default")
	}
	c, err := Parse("q.hcl", []byte("server {\n  ui {\n    enabled = false\n  }\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.UI.Enabled {
		t.Error("server { ui { enabled = false } } left the console on")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if w := c.Where("server.ui.enabled"); w != "q.hcl:3,15" {
		t.Errorf("Where(server.ui.enabled) = %q", w)
	}
	c, err = Load("", []string{"QUANTIX_SERVER_UI_ENABLED=false"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.UI.Enabled {
		t.Error("QUANTIX_SERVER_UI_ENABLED=false left the console on")
	}
	if err := c.Set("server.ui.enabled", "true"); err != nil || !c.Server.UI.Enabled {
		t.Errorf("Set(server.ui.enabled, true): %v, enabled %v", err, c.Server.UI.Enabled)
	}
	for src, want := range map[string]string{
		"server {\n  ui {\n    enabled = \"maybe\"\n  }\n}\n": "server.ui.enabled",
		"server {\n  ui {\n    enabeld = true\n  }\n}\n":      `An argument named "enabeld"`,
	} {
		if _, err := Parse("q.hcl", []byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error containing %q", src, err, want)
		}
	}
	if _, err := Load("", []string{"QUANTIX_SERVER_UI_ENABLED=maybe"}); err == nil || !strings.Contains(err.Error(), "QUANTIX_SERVER_UI_ENABLED") {
		t.Errorf("QUANTIX_SERVER_UI_ENABLED=maybe: %v, want an error naming the variable", err)
	}
}

// TestClusterKeys: server.name, server.advertise_addr and the lease timings
// load from the file, have their defaults, and bad values are refused
// naming the key.
func TestClusterKeys(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if c.Server.Name != host || c.Server.Cluster.LeaseTTL != 6*time.Second || c.Server.Cluster.RenewInterval != time.Second {
		t.Errorf("defaults: name %q, cluster %+v", c.Server.Name, c.Server.Cluster)
	}
	if got := c.Advertise(); got != "127.0.0.1:8081" {
		t.Errorf("Advertise() of a loopback rpc_addr = %q", got)
	}
	c.Server.RPCAddr = "0.0.0.0:9000"
	if got := c.Advertise(); got != net.JoinHostPort(host, "9000") {
		t.Errorf("Advertise() of a wildcard rpc_addr = %q, want the hostname", got)
	}
	c, err = Parse("q.hcl", []byte("server {\n name = \"s2\"\n advertise_addr = \"s2.example.com:9443\"\n cluster {\n lease_ttl = \"10s\"\n renew_interval = \"2s\"\n }\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Server.Name != "s2" || c.Advertise() != "s2.example.com:9443" || c.Server.Cluster.LeaseTTL != 10*time.Second || c.Server.Cluster.RenewInterval != 2*time.Second {
		t.Errorf("from the file: %+v", c.Server)
	}
	for _, tc := range []struct{ src, want string }{
		{"server {\n name = \"a b\"\n}", "q.hcl:2,9: server.name \"a b\" may only contain"},
		{"server {\n name = \"\"\n}", "server.name must not be empty"},
		{"server {\n advertise_addr = \"nohost\"\n}", "q.hcl:2,19: server.advertise_addr is \"nohost\"; must be host:port"},
		{"server {\n advertise_addr = \"0.0.0.0:8081\"\n}", "server.advertise_addr is \"0.0.0.0:8081\"; its host must be one other servers and agents can dial"},
		{"server {\n cluster {\n lease_ttl = \"500ms\"\n }\n}", "q.hcl:3,14: server.cluster.lease_ttl is 500ms; must be at least 1s"},
		{"server {\n cluster {\n lease_ttl = \"10m\"\n }\n}", "server.cluster.lease_ttl is 10m0s; must be at most 5m"},
		{"server {\n cluster {\n renew_interval = \"10ms\"\n }\n}", "server.cluster.renew_interval is 10ms; must be at least 100ms"},
		{"server {\n cluster {\n renew_interval = \"4s\"\n }\n}", "server.cluster.renew_interval is 4s; must be at most half of server.cluster.lease_ttl (6s)"},
	} {
		c, err := Parse("q.hcl", []byte(tc.src))
		if err != nil {
			t.Fatalf("%q: %v", tc.src, err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: Validate() = %v, want %q", tc.src, err, tc.want)
		}
	}
	if _, err := Parse("q.hcl", []byte("server {\n cluster {\n lease_ttl = \"soon\"\n }\n}")); err == nil || !strings.Contains(err.Error(), "lease_ttl") {
		t.Errorf("a lease_ttl that is no duration: %v", err)
	}
}
