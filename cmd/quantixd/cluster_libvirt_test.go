package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/wait"
)

// clPrefix starts the names of the domains of the cluster tests on real
// libvirt; each test removes its own.
const clPrefix = "qx-cl-"

// startLibvirtAgent starts `quantixd agent` for node on the libvirt
// backend (qemu:///system, the run's image dir), listing every server,
// enrolled with a join token made on the first server.
func (c *fwdCluster) startLibvirtAgent(t *testing.T, node string) *proc {
	t.Helper()
	token := c.Servers[0].must(t, http.StatusCreated, "POST", "/api/join-tokens", `{"uses":1}`).str("token")
	var servers []string
	for _, s := range c.Servers {
		servers = append(servers, s.rpc)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`log_level = "debug"
data_dir  = %q
agent {
  backend            = "libvirt"
  heartbeat_interval = "500ms"
  sync_jitter        = "100ms"
}
plugin "libvirt" {
  config {
    uri       = %q
    image_dir = %q
  }
}
`, dir, testlibvirt.QEMUURI, e2e.imageDir)
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return spawn(t, "agent", "-config", path, "-data-dir", dir,
		"-servers", strings.Join(servers, ","), "-node-name", node, "-join-token", token)
}

// TestClusterLibvirtAgentFailover: three servers on PostgreSQL and an
// agent on real libvirt (qemu:///system) listing all three. A VM (no
// disk: it boots into the firmware) started through one server; the
// server holding the agent's session is killed with SIGKILL: the agent
// moves to another server, the VM stays RUNNING (never UNKNOWN or LOST)
// as every live server shows it, and a stop through a server other than
// the new holder stops the domain.
func TestClusterLibvirtAgentFailover(t *testing.T) {
	requireE2E(t)
	c := startFwdCluster(t, 3)
	node := clPrefix + "node-" + testid.Hex(3)
	c.startLibvirtAgent(t, node)
	nodeID := c.nodeID(t, node, 60*time.Second)

	name := clPrefix + testid.Hex(4)
	t.Cleanup(func() {
		if err := testlibvirt.RemoveDomain(name); err != nil {
			t.Errorf("removing domain %s: %v", name, err)
		}
	})
	held, _ := c.holder(t, nodeID)
	if held == nil {
		t.Fatal("no server holds the node's session")
	}
	var through *clusterServer
	for _, s := range c.Servers {
		if s != held {
			through = s
			break
		}
	}
	// Created and started through a server that does not hold the
	// session: the actions are forwarded.
	id := through.must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+name+`","vcpus":1,"memory_mib":64,"node_id":"`+nodeID+`"}`).str("id")
	if r := through.must(t, http.StatusOK, "POST", "/api/vms/"+name+"/start", ""); r.str("vm.state") != "RUNNING" {
		t.Fatalf("start through %s: %s", through.Name, r.raw)
	}
	if s := domState(t, name); s != "running" {
		t.Fatalf("virsh domstate after the start = %q, want running", s)
	}

	synced := map[*clusterServer]int{}
	for _, s := range c.live() {
		synced[s] = s.count("full sync applied")
	}
	killed := time.Now()
	held.Kill(t)
	var now *clusterServer
	wait.Until(t, 5*time.Second, "the session claimed on another live server", func() bool {
		now, _ = c.holder(t, nodeID)
		return now != nil && now != held
	})
	wait.Until(t, 10*time.Second, "a full sync applied on the new holder", func() bool {
		return now.count("full sync applied") > synced[now]
	})
	t.Logf("session moved from %s to %s, full sync applied, %s after kill -9", held.Name, now.Name, time.Since(killed).Round(time.Millisecond))
	c.nodeID(t, node, 10*time.Second)

	// The VM stays RUNNING through the move and after it: the new
	// leader (when the killed server led) judges the node for longer than
	// its deadline meanwhile.
	wait.Stays(t, 5*time.Second, "the vm RUNNING on every live server", func() bool {
		for _, s := range c.live() {
			if r := s.call(t, "GET", "/api/vms/"+id, ""); r.status != http.StatusOK || r.str("state") != "RUNNING" {
				return false
			}
		}
		return true
	})
	if s := domState(t, name); s != "running" {
		t.Errorf("virsh domstate after the move = %q, want running", s)
	}
	v, evs := c.vmHistory(t, name)
	neverUnknown(t, name, evs)
	if v.State != vm.StateRunning {
		t.Errorf("vm %s is %s in the database, want RUNNING", name, v.State)
	}

	var other *clusterServer
	for _, s := range c.live() {
		if s != now {
			other = s
		}
	}
	if other == nil {
		t.Fatal("no live server besides the new holder")
	}
	if r := other.must(t, http.StatusOK, "POST", "/api/vms/"+name+"/stop?force=true", ""); r.str("vm.state") != "STOPPED" {
		t.Fatalf("stop through %s (the session is on %s): %s", other.Name, now.Name, r.raw)
	}
	if s := domState(t, name); s != "shut off" {
		t.Errorf("virsh domstate after the stop through %s = %q, want shut off", other.Name, s)
	}
	if r := now.must(t, http.StatusOK, "DELETE", "/api/vms/"+name, ""); r.str("vm.state") != "TERMINATED" {
		t.Errorf("delete through %s: %s", now.Name, r.raw)
	}
	if s := domState(t, name); s != "" {
		t.Errorf("virsh still lists %s (%q) after the delete", name, s)
	}
}
