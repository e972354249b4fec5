package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
)

// The tests of this file run separate `quantixd server` processes on one
// PostgreSQL database, and `quantixd agent` processes on the simulated
// backend listing every server in agent.servers: a node's session lives on
// one server, and actions on its VMs work through every server.

// fwdServer is one server of a test cluster and its data_dir.
type fwdServer struct {
	*proc
	dir, cfg string
}

// fwdCluster is a test cluster: its servers, the shared database (a store
// the test reads node_sessions and cluster_servers through) and the plugin
// directory of its agents.
type fwdCluster struct {
	servers   []*fwdServer
	dsn       string
	db        store.Store
	pluginDir string
}

// writeFwdConfig writes the config of a server or agent whose data_dir is
// dir, on the cluster's database, driving the simulated backend.
func writeFwdConfig(t testing.TB, dir, dsn, pluginDir, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`log_level  = "debug"
data_dir   = %q
plugin_dir = %q
server {
  database {
    driver = "postgres"
    dsn    = %q
  }
}
agent {
  backend            = "sim"
  heartbeat_interval = "500ms"
  sync_jitter        = "100ms"
}
plugin "sim" {
  config {
    log_dir = %q
  }
}
%s
`, dir, pluginDir, dsn, filepath.Join(dir, "vmlogs"), extra)
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// copyFiles copies the regular files under src to dst, keeping their modes.
func copyFiles(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying %s to %s: %v", src, dst, err)
	}
}

// startFwdCluster starts n servers on one fresh PostgreSQL schema.
func startFwdCluster(t testing.TB, n int) *fwdCluster {
	t.Helper()
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd is needed: %v", e2e.daemonErr)
	}
	c := &fwdCluster{dsn: teststore.PostgresDSN(t), pluginDir: simPluginDir(t)}
	for i := range n {
		dir := t.TempDir()
		if i > 0 {
			first := c.servers[0].dir
			// Until the cluster CA is kept in the database, each server
			// makes its own agent CA on disk: the others get the first
			// server's, so that agents trust every server and every server
			// the others' peer certificates.
			copyFiles(t, filepath.Join(first, "pki", "agents"), filepath.Join(dir, "pki", "agents"))
			// The users are the database's; the first start wrote the admin
			// password the test logs in with into the first data_dir.
			b, err := os.ReadFile(filepath.Join(first, "admin-password"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "admin-password"), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cfg := writeFwdConfig(t, dir, c.dsn, c.pluginDir, "")
		p := startDaemon(t, "server", "-config", cfg, "-data-dir", dir)
		c.servers = append(c.servers, &fwdServer{proc: p, dir: dir, cfg: cfg})
	}
	c.db = teststore.OpenAt(t, "postgres", c.dsn)
	return c
}

// startAgent starts `quantixd agent` for node, listing every server (the
// first first), enrolled with a join token made on the first server.
func (c *fwdCluster) startAgent(t testing.TB, node string) *proc {
	t.Helper()
	r := c.servers[0].must(t, http.StatusCreated, "POST", "/api/join-tokens", `{"uses":1}`)
	token := r.str("token")
	var servers string
	for i, s := range c.servers {
		if i > 0 {
			servers += ","
		}
		servers += s.rpc
	}
	dir := t.TempDir()
	return spawn(t, "agent", "-config", writeFwdConfig(t, dir, c.dsn, c.pluginDir, ""), "-data-dir", dir,
		"-servers", servers, "-node-name", node, "-join-token", token)
}

// holder returns the server holding node's session (nil when none, or
// when it is not one of the test's live servers) and the claim.
func (c *fwdCluster) holder(t testing.TB, nodeID string) (*fwdServer, store.NodeSession) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := c.db.Cluster().NodeHolder(ctx, nodeID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, h
	}
	if err != nil {
		t.Fatal(err)
	}
	servers, err := c.db.Cluster().Servers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range servers {
		if rec.ID != h.ServerID {
			continue
		}
		for _, s := range c.servers {
			if s.rpc == rec.RPCAddr && !exited(s.proc) {
				return s, h
			}
		}
	}
	return nil, h
}

func exited(p *proc) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// live lists the servers still running.
func (c *fwdCluster) live() []*fwdServer {
	var out []*fwdServer
	for _, s := range c.servers {
		if !exited(s.proc) {
			out = append(out, s)
		}
	}
	return out
}

// nodeID waits until node is connected as every live server sees it and
// returns its id.
func (c *fwdCluster) nodeID(t testing.TB, node string, within time.Duration) string {
	t.Helper()
	var id string
	for _, s := range c.live() {
		wait.UntilNil(t, within, fmt.Sprintf("node %s connected as server %s sees it", node, s.rpc), func() error {
			r := s.call(t, "GET", "/api/nodes/"+node, "")
			if r.status != http.StatusOK {
				return fmt.Errorf("GET /api/nodes/%s: %d %s", node, r.status, r.raw)
			}
			if r.body["connected"] != true || r.str("state") != "READY" {
				return fmt.Errorf("node %s: %s", node, r.raw)
			}
			id = r.str("id")
			return nil
		})
	}
	return id
}

// kill9 kills server s with SIGKILL and waits for it to be gone.
func (s *fwdServer) kill9(t testing.TB) {
	t.Helper()
	if err := syscall.Kill(s.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done
}

// startStopThroughEach starts and stops vm through every live server,
// checking the reply and the state every server shows.
func (c *fwdCluster) startStopThroughEach(t testing.TB, vm string) {
	t.Helper()
	for _, s := range c.live() {
		r := s.must(t, http.StatusOK, "POST", "/api/vms/"+vm+"/start", "")
		if r.str("vm.state") != "RUNNING" {
			t.Fatalf("start of %s through %s: %s", vm, s.rpc, r.raw)
		}
		for _, o := range c.live() {
			if got := o.must(t, http.StatusOK, "GET", "/api/vms/"+vm, "").str("state"); got != "RUNNING" {
				t.Errorf("after a start through %s, server %s shows %s as %s", s.rpc, o.rpc, vm, got)
			}
		}
		r = s.must(t, http.StatusOK, "POST", "/api/vms/"+vm+"/stop?force=true", "")
		if r.str("vm.state") != "STOPPED" {
			t.Fatalf("stop of %s through %s: %s", vm, s.rpc, r.raw)
		}
	}
}

// TestClusterAgentFailover: three servers on PostgreSQL and an agent on
// the simulated backend listing all three. Actions on its VM work through
// every server (those not holding the session forward them); kill -9 of
// the server holding the session moves the agent to another server within
// 5 s (its claim moved, a full sync applied there), and actions work again
// through every remaining server.
func TestClusterAgentFailover(t *testing.T) {
	c := startFwdCluster(t, 3)
	c.startAgent(t, "qx-fwd-1")
	nodeID := c.nodeID(t, "qx-fwd-1", 30*time.Second)
	held, _ := c.holder(t, nodeID)
	if held == nil {
		t.Fatal("no live server holds the node's session")
	}
	vm := "qx-fwd-vm"
	r := c.servers[2].must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+vm+`","vcpus":1,"memory_mib":64}`)
	if r.str("state") != "STOPPED" {
		t.Fatalf("created: %s", r.raw)
	}
	c.startStopThroughEach(t, vm)

	for round := range 2 {
		old, _ := c.holder(t, nodeID)
		if old == nil {
			t.Fatalf("round %d: no live server holds the node's session", round)
		}
		synced := map[*fwdServer]int{}
		for _, s := range c.live() {
			synced[s] = s.count("full sync applied")
		}
		killed := time.Now()
		old.kill9(t)
		var now *fwdServer
		wait.Until(t, 5*time.Second, "the session claimed on another live server", func() bool {
			now, _ = c.holder(t, nodeID)
			return now != nil && now != old
		})
		wait.Until(t, 5*time.Second-time.Since(killed), "a full sync applied on the new holder", func() bool {
			return now.count("full sync applied") > synced[now]
		})
		t.Logf("round %d: session moved from %s to %s, full sync applied, %s after kill -9", round, old.rpc, now.rpc, time.Since(killed).Round(time.Millisecond))
		c.nodeID(t, "qx-fwd-1", 10*time.Second)
		c.startStopThroughEach(t, vm)
		if len(c.live()) == 1 {
			break
		}
	}
}

// restart starts server s again, a new process on its data_dir and
// addresses, after it exited.
func (s *fwdServer) restart(t testing.TB) {
	t.Helper()
	addr := s.url[len("http://"):]
	s.proc = startDaemon(t, "server", "-config", s.cfg, "-data-dir", s.dir, "-http-addr", addr, "-rpc-addr", s.rpc)
}
