package syslog_test

import (
	"strings"
	"testing"

	"github.com/quantixvm/quantix/plugins/logsinks/syslog"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

func TestParseConfig(t *testing.T) {
	cfg, err := syslog.ParseConfig([]byte(`{"address":"logs.example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Network != "udp" || cfg.Address != "logs.example.com:514" || cfg.Facility != "local0" || cfg.AppName != "quantix" || cfg.Timeout != "10s" || cfg.Hostname == "" {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg, err := syslog.ParseConfig([]byte(`{"network":"unix"}`)); err != nil || cfg.Address != "/dev/log" {
		t.Errorf("unix default address: %+v, %v", cfg, err)
	}
	if cfg, err := syslog.ParseConfig([]byte(`{"network":"tcp","address":"[::1]"}`)); err != nil || cfg.Address != "[::1]:514" {
		t.Errorf("IPv6 without a port: %+v, %v", cfg, err)
	}

	bad := []struct {
		name, raw, field, msg string
	}{
		{"unknown attribute", `{"address":"h:514","tls":true}`, "tls", `unknown attribute "tls"`},
		{"bad network", `{"network":"sctp","address":"h:514"}`, "network", "want udp, tcp or unix"},
		{"no address", `{"network":"tcp"}`, "address", "is required"},
		{"bare IPv6", `{"address":"fe80::1:514"}`, "address", "[addr]:port"},
		{"relative socket", `{"network":"unix","address":"dev/log"}`, "address", "absolute path"},
		{"bad facility", `{"address":"h","facility":"local8"}`, "facility", "want one of kern, user"},
		{"hostname with a space", `{"address":"h","hostname":"my host"}`, "hostname", "printable ASCII"},
		{"hostname nil value", `{"address":"h","hostname":"-"}`, "hostname", "want 1 to 255"},
		{"long app name", `{"address":"h","app_name":"` + strings.Repeat("a", 49) + `"}`, "app_name", "want 1 to 48"},
		{"non-ASCII app name", `{"address":"h","app_name":"quantix✓"}`, "app_name", "printable ASCII"},
		{"bad timeout", `{"address":"h","timeout":"soon"}`, "timeout", "positive duration"},
		{"zero timeout", `{"address":"h","timeout":"0s"}`, "timeout", "positive duration"},
		{"number as network", `{"network":1}`, "network", `attribute "network" must be string`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := syslog.ParseConfig([]byte(tc.raw))
			if plugin.KindOf(err) != plugin.KindInvalidArgument || plugin.FieldOf(err) != tc.field {
				t.Fatalf("ParseConfig(%s) = %v (kind %s, field %q), want an invalid argument naming %q", tc.raw, err, plugin.KindOf(err), plugin.FieldOf(err), tc.field)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

func TestSeverity(t *testing.T) {
	for level, want := range map[string]int{"debug": 7, "info": 6, "warn": 4, "error": 3} {
		if got := syslog.Severity(logsink.Level(level)); got != want {
			t.Errorf("Severity(%s) = %d, want %d", level, got, want)
		}
	}
}
