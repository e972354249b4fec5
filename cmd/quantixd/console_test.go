package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
)

// TestDaemonConsole: `quantixd server` serves the web console at / to
// anyone and logs its URL; with server { ui { enabled = false } } it
// serves the API alone.
func TestDaemonConsole(t *testing.T) {
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd is needed: %v", e2e.daemonErr)
	}
	dir := t.TempDir()
	s := startDaemon(t, "server", "-data-dir", dir)
	wantLine := "web console: " + s.url + "/"
	wait.Until(t, 10*time.Second, "the daemon to log "+wantLine, func() bool {
		b, _ := os.ReadFile(s.log)
		return strings.Contains(string(b), wantLine)
	})
	for _, path := range []string{"/", "/vms/some-id", "/login?next=%2Fvms"} {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "<html") {
			t.Errorf("GET %s without credentials: %s %s %.200s, want the console's page", path, resp.Status, resp.Header.Get("Content-Type"), body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
	if r := s.call(t, "GET", "/api/nope", ""); r.status != http.StatusNotFound {
		t.Errorf("GET /api/nope as admin: %d %s, want 404", r.status, r.raw)
	}
	s.stop(t)

	cfg := filepath.Join(dir, "noui.hcl")
	if err := os.WriteFile(cfg, []byte("server {\n  ui {\n    enabled = false\n  }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = startDaemon(t, "server", "-config", cfg, "-data-dir", dir)
	resp, err := http.Get(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET / with the console off: %s, want 401 (no such route)", resp.Status)
	}
	if b, _ := os.ReadFile(s.log); strings.Contains(string(b), "web console:") {
		t.Errorf("the console is off but the daemon logs its URL:\n%s", b)
	}
}

func TestConsoleURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080/",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/",
		"[::]:9000":      "http://[::1]:9000/",
		"[fe80::1]:80":   "http://[fe80::1]:80/",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := consoleURL(a); got != want {
			t.Errorf("consoleURL(%s) = %s, want %s", addr, got, want)
		}
	}
}
