package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, 2, "", "usage: quantixd"},
		{[]string{"version"}, 0, "quantixd ", ""},
		{[]string{"--help"}, 0, "dev ", ""},
		{[]string{"agent", "-h"}, 0, "", "-servers"},
		{[]string{"agent", "-http-addr", "x"}, 2, "", "flag provided but not defined: -http-addr"},
		{[]string{"agent", "-servers", "nowhere"}, 2, "", `agent.servers is "nowhere"`},
		{[]string{"nope"}, 2, "", `unknown command "nope"`},
		{[]string{"dev", "-h"}, 0, "", "-data-dir"},
		{[]string{"server", "-h"}, 0, "", "-rpc-addr"},
		{[]string{"server", "-node-name", "x"}, 2, "", "flag provided but not defined: -node-name"},
		{[]string{"dev", "-http-addr", "nowhere"}, 2, "", `server.http_addr is "nowhere"`},
		{[]string{"dev", "-log-level", "loud"}, 2, "", "log_level"},
		{[]string{"dev", "-config", "/no/such/file.hcl"}, 2, "", "reading config"},
		{[]string{"dev", "extra"}, 2, "", `unexpected argument "extra"`},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(c.args, &stdout, &stderr)
		if code != c.code || !strings.Contains(stdout.String(), c.stdout) || !strings.Contains(stderr.String(), c.stderr) {
			t.Errorf("quantixd %v = %d\nstdout: %s\nstderr: %s\nwant %d, stdout containing %q, stderr containing %q",
				c.args, code, stdout.String(), stderr.String(), c.code, c.stdout, c.stderr)
		}
	}
}

// TestPrecedence: flags win over QUANTIX_* variables, which win over the
// file.
func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "q.hcl")
	if err := os.WriteFile(file, []byte("server {\n  http_addr = \"127.0.0.1:1001\"\n}\ndata_dir = \"/from/file\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(args ...string) (string, string) {
		t.Helper()
		var stderr bytes.Buffer
		cfg, err := loadConfig(modeDev, append([]string{"-config", file}, args...), &stderr)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return cfg.Server.HTTPAddr, cfg.DataDir
	}
	if addr, dir := load(); addr != "127.0.0.1:1001" || dir != "/from/file" {
		t.Errorf("file only: %s %s", addr, dir)
	}
	t.Setenv("QUANTIX_SERVER_HTTP_ADDR", "127.0.0.1:1002")
	if addr, _ := load(); addr != "127.0.0.1:1002" {
		t.Errorf("env over file: %s", addr)
	}
	if addr, dir := load("-http-addr", "127.0.0.1:1003", "-data-dir", "/from/flag"); addr != "127.0.0.1:1003" || dir != "/from/flag" {
		t.Errorf("flag over env: %s %s", addr, dir)
	}
}
