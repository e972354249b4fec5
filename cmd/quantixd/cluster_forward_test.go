package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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

// fwdCluster is a test cluster (the cluster harness's) with a store on
// its database, through which the test reads node_sessions and
// cluster_servers, and the plugin directory of its agents.
type fwdCluster struct {
	*testCluster
	db        store.Store
	pluginDir string
}

// startFwdCluster starts n servers on one fresh PostgreSQL database. The
// harness gives every server a copy of the first one's <data_dir>/pki:
// until the cluster CA is kept in the database, that is how agents trust
// every server and every server the others' peer certificates.
func startFwdCluster(t testing.TB, n int) *fwdCluster {
	t.Helper()
	c := startCluster(t, n, clusterOptions{})
	return &fwdCluster{testCluster: c, db: teststore.OpenAt(t, "postgres", c.dsn), pluginDir: simPluginDir(t)}
}

// writeAgentConfig writes the config of an agent on the simulated
// backend whose data_dir is dir.
func writeAgentConfig(t testing.TB, dir, pluginDir string) string {
	t.Helper()
	return writeAgentConfigSim(t, dir, pluginDir, "")
}

// writeAgentConfigSim is writeAgentConfig with more attributes (HCL) in
// the simulated backend's config block.
func writeAgentConfigSim(t testing.TB, dir, pluginDir, simExtra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`log_level  = "debug"
data_dir   = %q
plugin_dir = %q
agent {
  backend            = "sim"
  heartbeat_interval = "500ms"
  sync_jitter        = "100ms"
}
plugin "sim" {
  config {
    log_dir = %q
%s
  }
}
`, dir, pluginDir, filepath.Join(dir, "vmlogs"), simExtra)
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startAgent starts `quantixd agent` for node, listing every server (the
// first first), enrolled with a join token made on the first server.
func (c *fwdCluster) startAgent(t testing.TB, node string) *proc {
	t.Helper()
	token := c.Servers[0].must(t, http.StatusCreated, "POST", "/api/join-tokens", `{"uses":1}`).str("token")
	var servers []string
	for _, s := range c.Servers {
		servers = append(servers, s.rpc)
	}
	dir := t.TempDir()
	return spawn(t, "agent", "-config", writeAgentConfig(t, dir, c.pluginDir), "-data-dir", dir,
		"-servers", strings.Join(servers, ","), "-node-name", node, "-join-token", token)
}

// holder returns the running server holding node's session (nil when none
// does) and the claim.
func (c *fwdCluster) holder(t testing.TB, nodeID string) (*clusterServer, store.NodeSession) {
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
		for _, s := range c.live() {
			if s.rpc == rec.RPCAddr {
				return s, h
			}
		}
	}
	return nil, h
}

// live lists the running servers.
func (c *fwdCluster) live() []*clusterServer {
	var out []*clusterServer
	for _, s := range c.Servers {
		if s.running() {
			out = append(out, s)
		}
	}
	return out
}

// nodeID waits until node is connected as every running server sees it
// and returns its id.
func (c *fwdCluster) nodeID(t testing.TB, node string, within time.Duration) string {
	t.Helper()
	var id string
	for _, s := range c.live() {
		wait.UntilNil(t, within, fmt.Sprintf("node %s connected as server %s sees it", node, s.Name), func() error {
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

// restartAt starts a server that was killed again, as a new process on
// the same addresses, which its agents list.
func (c *fwdCluster) restartAt(t testing.TB, s *clusterServer) {
	t.Helper()
	addr, rpc := strings.TrimPrefix(s.url, "http://"), s.rpc
	p := spawn(t, append(append([]string{}, s.args...), "-http-addr", addr, "-rpc-addr", rpc)...)
	p.url, p.rpc = "http://"+addr, rpc
	s.proc = p
	wait.UntilNil(t, 60*time.Second, fmt.Sprintf("server %s to answer again on %s", s.Name, p.url), func() error {
		if !s.running() {
			b, _ := os.ReadFile(p.log)
			t.Fatalf("server %s exited at start (%v):\n%s", s.Name, p.err, b)
		}
		res, err := http.Get(p.url + "/api/health")
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /api/health: %s", res.Status)
		}
		return nil
	})
	p.login(t, c.adminDir)
}

// startStopThroughEach starts and stops vm through every running server,
// checking the reply and the state every server shows.
func (c *fwdCluster) startStopThroughEach(t testing.TB, vm string) {
	t.Helper()
	for _, s := range c.live() {
		r := s.must(t, http.StatusOK, "POST", "/api/vms/"+vm+"/start", "")
		if r.str("vm.state") != "RUNNING" {
			t.Fatalf("start of %s through %s: %s", vm, s.Name, r.raw)
		}
		for _, o := range c.live() {
			if got := o.must(t, http.StatusOK, "GET", "/api/vms/"+vm, "").str("state"); got != "RUNNING" {
				t.Errorf("after a start through %s, server %s shows %s as %s", s.Name, o.Name, vm, got)
			}
		}
		r = s.must(t, http.StatusOK, "POST", "/api/vms/"+vm+"/stop?force=true", "")
		if r.str("vm.state") != "STOPPED" {
			t.Fatalf("stop of %s through %s: %s", vm, s.Name, r.raw)
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
	r := c.Servers[2].must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+vm+`","vcpus":1,"memory_mib":64}`)
	if r.str("state") != "STOPPED" {
		t.Fatalf("created: %s", r.raw)
	}
	c.startStopThroughEach(t, vm)

	for round := range 2 {
		old, _ := c.holder(t, nodeID)
		if old == nil {
			t.Fatalf("round %d: no live server holds the node's session", round)
		}
		synced := map[*clusterServer]int{}
		for _, s := range c.live() {
			synced[s] = s.count("full sync applied")
		}
		killed := time.Now()
		old.Kill(t)
		var now *clusterServer
		wait.Until(t, 5*time.Second, "the session claimed on another live server", func() bool {
			now, _ = c.holder(t, nodeID)
			return now != nil && now != old
		})
		wait.Until(t, 5*time.Second-time.Since(killed), "a full sync applied on the new holder", func() bool {
			return now.count("full sync applied") > synced[now]
		})
		t.Logf("round %d: session moved from %s to %s, full sync applied, %s after kill -9", round, old.Name, now.Name, time.Since(killed).Round(time.Millisecond))
		c.nodeID(t, "qx-fwd-1", 10*time.Second)
		c.startStopThroughEach(t, vm)
		if len(c.live()) == 1 {
			break
		}
	}
}

// TestClusterAgentLeavesCutOffServer: the server holding an agent's
// session loses PostgreSQL; it closes the session once it has not reached
// the database for the lease ttl, the agent moves to another server (its
// claim moves, a full sync is applied there), and actions on its VM work
// through the servers that reach the database. When the server reaches the
// database again, actions work through it too.
func TestClusterAgentLeavesCutOffServer(t *testing.T) {
	c := startFwdCluster(t, 3)
	c.startAgent(t, "qx-fwd-cut")
	nodeID := c.nodeID(t, "qx-fwd-cut", 30*time.Second)
	held, _ := c.holder(t, nodeID)
	if held == nil {
		t.Fatal("no server holds the node's session")
	}
	vm := "qx-fwd-cut-vm"
	c.Servers[0].must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+vm+`","vcpus":1,"memory_mib":64}`)
	synced := map[*clusterServer]int{}
	for _, s := range c.live() {
		synced[s] = s.count("full sync applied")
	}

	cut := time.Now()
	held.relay.Cut()
	var now *clusterServer
	wait.Until(t, 20*time.Second, "the session claimed on a server that reaches the database, with a full sync applied", func() bool {
		now, _ = c.holder(t, nodeID)
		return now != nil && now != held && now.count("full sync applied") > synced[now]
	})
	t.Logf("the agent left the cut-off server %s for %s %s after the cut", held.Name, now.Name, time.Since(cut).Round(time.Millisecond))
	if held.count("cannot reach the cluster's database") == 0 && held.count("its agents' sessions are closed") == 0 {
		t.Errorf("the cut-off server's log does not say it closed its sessions")
	}
	for _, s := range c.live() {
		if s == held {
			continue
		}
		// Each server counts the node connected once it has read the new
		// claim (every second).
		wait.UntilNil(t, 5*time.Second, fmt.Sprintf("server %s to count the node connected", s.Name), func() error {
			if r := s.call(t, "GET", "/api/nodes/qx-fwd-cut", ""); r.body["connected"] != true {
				return fmt.Errorf("%d %s", r.status, r.raw)
			}
			return nil
		})
		r := s.must(t, http.StatusOK, "POST", "/api/vms/"+vm+"/start", "")
		if r.str("vm.state") != "RUNNING" {
			t.Fatalf("start through %s: %s", s.Name, r.raw)
		}
		if r := s.must(t, http.StatusOK, "POST", "/api/vms/"+vm+"/stop?force=true", ""); r.str("vm.state") != "STOPPED" {
			t.Fatalf("stop through %s: %s", s.Name, r.raw)
		}
	}

	held.relay.Restore()
	wait.UntilNil(t, 30*time.Second, "an action through the reconnected server", func() error {
		r := held.call(t, "POST", "/api/vms/"+vm+"/start", "")
		if r.status != http.StatusOK {
			return fmt.Errorf("%d %s", r.status, r.raw)
		}
		return nil
	})
	held.must(t, http.StatusOK, "POST", "/api/vms/"+vm+"/stop?force=true", "")
}
