package sim

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig(nil)
	if err != nil {
		t.Fatalf("ParseConfig(nil): %v", err)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "sim"
	}
	if cfg.Hostname != host || cfg.CPUs != DefaultCPUs || cfg.MemoryMiB != DefaultMemoryMiB ||
		cfg.Seed != DefaultSeed || cfg.VMs.Count != 0 || cfg.VMs.State != PopulateMixed || cfg.Latency != "0s" || cfg.LogDir != "" {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestParseConfigErrors(t *testing.T) {
	cases := []struct {
		name  string
		raw   string
		field string
		msg   string
	}{
		{"UnknownTop", `{"hostname":"h","bogus":1}`, "bogus", `unknown attribute "bogus"`},
		{"UnknownNested", `{"vms":{"count":1,"colour":"red"}}`, "vms.colour", `unknown attribute "vms.colour"`},
		{"WrongType", `{"vms":{"count":"many"}}`, "vms.count", `attribute "vms.count" must be int`},
		{"EmptyHostname", `{"hostname":" "}`, "hostname", `attribute "hostname"`},
		{"HostnameSlash", `{"hostname":"a/b"}`, "hostname", `attribute "hostname"`},
		{"ZeroCPUs", `{"cpus":0}`, "cpus", `attribute "cpus" is 0`},
		{"ZeroMemory", `{"memory_mib":0}`, "memory_mib", `attribute "memory_mib"`},
		{"BadLatency", `{"latency":"soon"}`, "latency", `attribute "latency" is "soon"`},
		{"NegativeLatency", `{"latency":"-1s"}`, "latency", `attribute "latency" is "-1s"`},
		{"RelativeLogDir", `{"log_dir":"logs"}`, "log_dir", `must be an absolute path`},
		{"NegativeCount", `{"vms":{"count":-1}}`, "vms.count", `attribute "vms.count" is -1`},
		{"BadState", `{"vms":{"count":1,"state":"dancing"}}`, "vms.state", `attribute "vms.state" is "dancing"`},
		{"TransitionalState", `{"vms":{"count":1,"state":"starting"}}`, "vms.state", `attribute "vms.state" is "starting"`},
		{"BadPrefix", `{"vms":{"count":1,"prefix":"a b"}}`, "vms.prefix", `attribute "vms.prefix" "a b"`},
		{"PrefixTooLong", `{"vms":{"count":100,"prefix":"` + strings.Repeat("p", 62) + `"}}`, "vms.prefix", `not valid`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.raw))
			if plugin.KindOf(err) != plugin.KindInvalidArgument || plugin.FieldOf(err) != tc.field || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("ParseConfig(%s) = %v (kind %v, field %q), want an invalid-argument error on %q saying %q",
					tc.raw, err, plugin.KindOf(err), plugin.FieldOf(err), tc.field, tc.msg)
			}
			if err := New(WithLogger(hclog.NewNullLogger())).Configure(context.Background(), []byte(tc.raw), backend.APIVersion); plugin.FieldOf(err) != tc.field {
				t.Errorf("Configure(%s) = %v, want the same error as ParseConfig", tc.raw, err)
			}
		})
	}
}

// TestSettingsRoundTrip checks that Config.Settings encodes what
// ParseConfig decodes back.
func TestSettingsRoundTrip(t *testing.T) {
	off := false
	in := Config{
		Hostname: "node-7", CPUs: 8, MemoryMiB: 4096, Seed: 42, LogDir: "/tmp/x", Latency: "3ms", LogEvents: &off,
		VMs: VMsConfig{Count: 3, Prefix: "web", State: "paused", Managed: true},
	}
	raw, err := json.Marshal(in.Settings())
	if err != nil {
		t.Fatal(err)
	}
	out, err := ParseConfig(raw)
	if err != nil {
		t.Fatalf("ParseConfig(%s): %v", raw, err)
	}
	if out.Hostname != in.Hostname || out.CPUs != in.CPUs || out.MemoryMiB != in.MemoryMiB || out.Seed != in.Seed ||
		out.LogDir != in.LogDir || out.Latency != in.Latency || out.LogEvents == nil || *out.LogEvents || out.VMs != in.VMs {
		t.Errorf("round trip of %+v gave %+v", in, out)
	}
	if s := (Config{}).Settings(); len(s) != 0 {
		t.Errorf("Settings of a zero Config = %v, want an empty map (all defaults)", s)
	}
}

func TestConfigureTwice(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := newSim(t, Config{Hostname: "twice", LogDir: dir, VMs: VMsConfig{Count: 3}})
	vm, err := b.CreateVM(ctx, minimalSpec("extra"))
	if err != nil {
		t.Fatal(err)
	}
	// Same population, other latency and log dir: accepted, VMs kept.
	other := t.TempDir()
	if err := configure(b, Config{Hostname: "twice", LogDir: other, Latency: "20ms", VMs: VMsConfig{Count: 3}}); err != nil {
		t.Fatalf("Configure again with the same population: %v", err)
	}
	start := time.Now()
	vms, err := b.ListVMs(ctx)
	if err != nil || len(vms) != 4 {
		t.Fatalf("ListVMs after reconfiguring = %d VMs, %v; want the 3 pre-populated and %s", len(vms), err, vm.ID)
	}
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Errorf("ListVMs took %s after latency was set to 20ms", took)
	}
	if got := b.LogPath("extra"); got != filepath.Join(other, "extra.log") {
		t.Errorf("LogPath after reconfiguring = %s, want it under %s", got, other)
	}
	// Another population is refused, and changes nothing.
	err = configure(b, Config{Hostname: "twice", LogDir: dir, VMs: VMsConfig{Count: 4}})
	if plugin.KindOf(err) != plugin.KindInvalidArgument || plugin.FieldOf(err) != "vms" {
		t.Errorf("Configure with another vms block = %v, want an invalid-argument error on vms", err)
	}
	if vms, _ := b.ListVMs(ctx); len(vms) != 4 {
		t.Errorf("%d VMs after a refused Configure, want 4", len(vms))
	}
	// An API version this SDK does not speak.
	if err := b.Configure(ctx, nil, backend.APIVersion+1); plugin.FieldOf(err) != "api_version" {
		t.Errorf("Configure(api version %d) = %v, want an error on api_version", backend.APIVersion+1, err)
	}
}

// TestUnconfiguredAndClosed checks that calls before Configure and after
// Close are unavailable, and that Close removes the temporary log
// directory Configure made.
func TestUnconfiguredAndClosed(t *testing.T) {
	ctx := context.Background()
	b := New(WithLogger(hclog.NewNullLogger()))
	if _, err := b.ListVMs(ctx); plugin.KindOf(err) != plugin.KindUnavailable || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("ListVMs before Configure = %v, want unavailable, not configured", err)
	}
	if _, err := b.Info(ctx); err != nil {
		t.Errorf("Info before Configure = %v, want the description", err)
	}
	if err := b.Configure(ctx, []byte(`{"hostname":"tmp"}`), backend.APIVersion); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(b.LogPath("x"))
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("log directory %s: %v", dir, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary log directory %s still there after Close: %v", dir, err)
	}
	if err := b.Health(ctx); plugin.KindOf(err) != plugin.KindUnavailable {
		t.Errorf("Health after Close = %v, want unavailable", err)
	}
	if _, err := b.GetVM(ctx, PopulatedID("tmp", 0)); plugin.KindOf(err) != plugin.KindUnavailable || !strings.Contains(err.Error(), "closed") {
		t.Errorf("GetVM after Close = %v, want unavailable, closed", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := b.Configure(ctx, nil, backend.APIVersion); plugin.KindOf(err) != plugin.KindUnavailable {
		t.Errorf("Configure after Close = %v, want unavailable", err)
	}
}

// TestHCLPluginBlock configures the sim from the plugin block of the
// package documentation, parsed as the daemon parses its configuration.
func TestHCLPluginBlock(t *testing.T) {
	stateFile := filepath.Join(t.TempDir(), "sim-01.json")
	src := `
plugin "sim" {
  config {
    hostname   = "sim-01"
    vms        = { count = 250, state = "mixed" }
    latency    = "1ms"
    state_file = "` + stateFile + `"
  }
}
`
	cfg, err := config.Parse("quantix.hcl", []byte(src))
	if err != nil {
		t.Fatalf("parsing the plugin block: %v", err)
	}
	p := cfg.Plugin("sim")
	if p == nil {
		t.Fatal("no plugin block named sim")
	}
	ctx := context.Background()
	in, err := pluginhost.InProcess(ctx, "sim", New(WithLogger(hclog.NewNullLogger())), p.Config)
	if err != nil {
		t.Fatalf("InProcess with the block's config %v: %v", p.Config, err)
	}
	defer in.Close()
	vms, err := in.ListVMs(ctx)
	if err != nil || len(vms) != 250 || vms[0].ID != PopulatedID("sim-01", 0) {
		t.Errorf("ListVMs = %d VMs, %v", len(vms), err)
	}
	if _, err := os.Stat(stateFile); err != nil {
		t.Errorf("state file: %v", err)
	}
}
