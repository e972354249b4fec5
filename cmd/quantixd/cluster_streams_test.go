package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

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

// idBefore returns the id: line of the event whose data line contains
// part ("" when there is none).
func (s *sseLines) idBefore(part string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := ""
	for _, l := range s.lines {
		if v, ok := strings.CutPrefix(l, "id: "); ok {
			id = v
		}
		if strings.HasPrefix(l, "data: ") && strings.Contains(l, part) {
			return id
		}
	}
	return ""
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

// startSimAgent starts `quantixd agent` for node on the simulated backend,
// dialling server (its agent CA is the cluster's), enrolled with a join
// token made through server, and waits until server lists the node READY.
func startSimAgent(t *testing.T, server *clusterServer, node string) *proc {
	t.Helper()
	_, token := joinToken(t, server.proc, `{"uses":1}`)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`log_level = "debug"
data_dir  = %q
agent {
  backend            = "sim"
  ca_cert            = %q
  heartbeat_interval = "500ms"
  sync_jitter        = "100ms"
}
plugin "sim" {
  path = %q
}
`, dir, filepath.Join(server.Dir, "pki", "agents", "ca.crt"), simPlugin(t))
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a := spawn(t, "agent", "-config", path, "-servers", server.rpc, "-node-name", node, "-join-token", token)
	wait.Until(t, 30*time.Second, "node "+node+" READY", func() bool {
		r := server.call(t, "GET", "/api/nodes", "")
		return r.status == http.StatusOK && strings.Contains(r.raw, `"name":"`+node+`"`) && strings.Contains(r.raw, `"READY"`)
	})
	return a
}

// TestClusterStreams: three servers on one PostgreSQL database and an agent
// on the simulated backend connected to server A: a VM created through A is
// on the event stream of C, at the same position as on A's, and a log line
// sent through B is on A's live log stream, once; a start through A is on
// C's event stream; and the same reads (VMs, a VM by id and by name,
// nodes, the latest events, the cluster's status, logs with a filter)
// answer the same through A, B and C, the fields of serverLocal aside.
func TestClusterStreams(t *testing.T) {
	c := startCluster(t, 3, clusterOptions{})
	a, b, cc := c.Servers[0], c.Servers[1], c.Servers[2]
	startSimAgent(t, a, "qx-cluster-streams-"+fmt.Sprint(time.Now().UnixNano()%1e6))

	eventsA := a.stream(t, "/api/events")
	eventsC := cc.stream(t, "/api/events")
	logsA := a.stream(t, "/api/logs/stream?source=ui")

	name := fmt.Sprintf("qx-cluster-%d", time.Now().UnixNano()%1e9)
	id := a.must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+name+`","vcpus":1,"memory_mib":64}`).str("id")
	created := `"vm_id":"` + id + `"`
	wait.Until(t, 10*time.Second, "the create through server A on server C's event stream", func() bool {
		return eventsC.has(created, `"action":"create"`)
	})
	wait.Until(t, 10*time.Second, "the create on server A's event stream", func() bool {
		return eventsA.has(created, `"action":"create"`)
	})
	if pa, pc := eventsA.idBefore(created), eventsC.idBefore(created); pa == "" || pa != pc {
		t.Errorf("the create is at position %q on server A and %q on server C", pa, pc)
	}

	msg := fmt.Sprintf("clicked through server B %d", time.Now().UnixNano())
	b.must(t, http.StatusOK, "POST", "/api/logs/ui", `{"logs":[{"message":"`+msg+`","action":"click"}]}`)
	wait.Until(t, 10*time.Second, "the log line sent through server B on server A's live log stream", func() bool {
		return logsA.has(msg)
	})
	wait.Stays(t, 500*time.Millisecond, "the log line once on server A's stream", func() bool {
		return logsA.count(msg) == 1
	})

	// A start through A is on C's stream too, with the state it led to.
	if r := a.must(t, http.StatusOK, "POST", "/api/vms/"+id+"/start", ""); r.str("vm.state") != "RUNNING" {
		t.Fatalf("start through server A: %s", r.raw)
	}
	wait.Until(t, 10*time.Second, "the start through server A on server C's event stream", func() bool {
		return eventsC.has(created, `"action":"start"`, `"new_state":"RUNNING"`)
	})

	// The audit entries are delivered to the store after the answer.
	wait.Until(t, 10*time.Second, "the audit entries of the create and the start through server C", func() bool {
		r := cc.must(t, http.StatusOK, "GET", "/api/logs?source=audit&vm_id="+id, "")
		return len(r.body["logs"].([]any)) == 2
	})

	// The same reads through every server give the same answers.
	sameAnswers(t, c.Servers, []string{
		"/api/vms",
		"/api/vms/" + id,
		"/api/vms/" + name,
		"/api/nodes",
		"/api/events?latest=20",
		"/api/events?latest=5&vm_id=" + id,
		"/api/cluster",
		"/api/logs?source=ui&search=" + url.QueryEscape(msg),
		"/api/logs?source=audit&vm_id=" + id + "&order=asc",
	})
	// The filtered log reads compared are not empty ones.
	if r := cc.must(t, http.StatusOK, "GET", "/api/logs?source=ui&search="+url.QueryEscape(msg), ""); len(r.body["logs"].([]any)) != 1 {
		t.Errorf("the UI log line through server C: %s", r.raw)
	}
}

// serverLocal are the fields of replies that legitimately differ between
// servers read one after the other: in GET /api/cluster, which server
// answered and the database's clock at the read ("server", "now"), and
// every server's last heartbeat ("heartbeat_at", renewed each second);
// in GET /api/nodes, a node's last heartbeat ("last_heartbeat", every
// 500ms here).
var serverLocal = map[string]bool{"server": true, "now": true, "heartbeat_at": true, "last_heartbeat": true}

// dropServerLocal removes the serverLocal fields at every depth of v.
func dropServerLocal(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if serverLocal[k] {
				delete(x, k)
				continue
			}
			x[k] = dropServerLocal(e)
		}
	case []any:
		for i, e := range x {
			x[i] = dropServerLocal(e)
		}
	}
	return v
}

// sameAnswers checks that GET of each path answers 200 with the same JSON
// through every server, serverLocal fields aside. The servers are read
// one after the other, so a read is repeated (within 10s) while a change
// made meanwhile (a heartbeat, a state synced) shows on some only.
func sameAnswers(t *testing.T, servers []*clusterServer, paths []string) {
	t.Helper()
	for _, path := range paths {
		tries := 0
		wait.UntilNil(t, 10*time.Second, "the same answer to GET "+path+" through every server", func() error {
			tries++
			var first any
			var firstRaw string
			for i, s := range servers {
				r := s.call(t, "GET", path, "")
				if r.status != http.StatusOK {
					return fmt.Errorf("GET %s through %s: %d %s", path, s.Name, r.status, r.raw)
				}
				var v any
				if err := json.Unmarshal([]byte(r.raw), &v); err != nil {
					return err
				}
				v = dropServerLocal(v)
				if i == 0 {
					first, firstRaw = v, r.raw
					continue
				}
				if !reflect.DeepEqual(first, v) {
					return fmt.Errorf("GET %s through %s:\n%s\nthrough %s:\n%s", path, servers[0].Name, firstRaw, s.Name, r.raw)
				}
			}
			return nil
		})
		t.Logf("GET %s: the same through %d servers (read %d times)", path, len(servers), tries)
	}
}
