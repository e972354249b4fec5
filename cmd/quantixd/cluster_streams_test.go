package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/auth"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
)

// sseLines reads a server-sent event stream of p in the background.
type sseLines struct {
	mu    sync.Mutex
	lines []string
}

func (s *sseLines) has(parts ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}

func (s *sseLines) count(part string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.lines {
		if strings.Contains(l, part) {
			n++
		}
	}
	return n
}

// stream opens GET path on p as an event stream, read until the test ends.
func (p *proc) stream(t *testing.T, path string) *sseLines {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.send(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s on %s: %s", path, p.url, res.Status)
	}
	s := &sseLines{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = res.Body.Close()
		<-done
	})
	return s
}

// clusterConfig writes the config of one of several servers on the
// PostgreSQL database dsn, with the simulated backend for a dev server's
// local agent.
func clusterConfig(t *testing.T, dir, dsn, sim string) string {
	t.Helper()
	cfg := fmt.Sprintf(`log_level = "debug"
server {
  database {
    driver = "postgres"
    dsn    = %q
  }
}
agent {
  backend = "sim"
}
plugin "sim" {
  path = %q
}
`, dsn, sim)
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestClusterStreams: three servers on one PostgreSQL database (A a dev
// server with a local agent on the simulated backend, B and C servers): a
// VM created through A is on C's event stream, and a log line sent through
// B is on A's live log stream, once.
func TestClusterStreams(t *testing.T) {
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd is needed: %v", e2e.daemonErr)
	}
	dsn := teststore.PostgresDSN(t)
	sim := simPlugin(t)
	var password []byte
	start := func(mode string) *proc {
		dir := t.TempDir()
		// The first server made user admin; the test logs in to the
		// others with the password it wrote (users are in the database).
		if password != nil {
			if err := os.WriteFile(filepath.Join(dir, auth.PasswordFileName), password, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		p := startDaemon(t, mode, "-config", clusterConfig(t, dir, dsn, sim), "-data-dir", dir)
		if password == nil {
			var err error
			if password, err = os.ReadFile(filepath.Join(dir, auth.PasswordFileName)); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	a := start("dev")
	b := start("server")
	c := start("server")
	wait.Until(t, 30*time.Second, "the local node of server A ready", func() bool {
		r := a.call(t, "GET", "/api/nodes", "")
		return r.status == http.StatusOK && strings.Contains(r.raw, `"READY"`)
	})

	events := c.stream(t, "/api/events")
	logsA := a.stream(t, "/api/logs/stream?source=ui")

	name := fmt.Sprintf("qx-cluster-%d", time.Now().UnixNano()%1e9)
	r := a.must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+name+`","vcpus":1,"memory_mib":64}`)
	id := r.str("id")
	wait.Until(t, 10*time.Second, "the create through server A on server C's event stream", func() bool {
		return events.has(`"vm_id":"`+id+`"`, `"action":"create"`)
	})

	msg := fmt.Sprintf("clicked through server B %d", time.Now().UnixNano())
	b.must(t, http.StatusOK, "POST", "/api/logs/ui", `{"logs":[{"message":"`+msg+`","action":"click"}]}`)
	wait.Until(t, 10*time.Second, "the log line sent through server B on server A's live log stream", func() bool {
		return logsA.has(msg)
	})
	wait.Stays(t, 500*time.Millisecond, "the log line once on server A's stream", func() bool {
		return logsA.count(msg) == 1
	})
}
