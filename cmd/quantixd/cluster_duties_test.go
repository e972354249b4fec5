package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/plugins/sim"
)

// startSimAgent starts `quantixd agent` for node on the simulated backend
// with a control socket, listing the servers in the order given, and
// returns the socket's path.
func (c *fwdCluster) startSimAgent(t testing.TB, node string, servers []*clusterServer) (*proc, string) {
	t.Helper()
	r := c.Servers[0].must(t, http.StatusCreated, "POST", "/api/join-tokens", `{"uses":1}`)
	list := ""
	for i, s := range servers {
		if i > 0 {
			list += ","
		}
		list += s.rpc
	}
	// A short directory keeps the socket's path within sun_path.
	dir, err := os.MkdirTemp("", "qx-duty-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "sim.sock")
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
    log_dir        = %q
    control_socket = %q
  }
}
`, dir, c.pluginDir, filepath.Join(dir, "vmlogs"), sock)
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := spawn(t, "agent", "-config", path, "-data-dir", dir, "-servers", list, "-node-name", node, "-join-token", r.str("token"))
	return p, sock
}

// simControl sends one request to a simulated host's control socket.
func simControl(t testing.TB, sock string, req sim.ControlRequest) {
	t.Helper()
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatalf("dialling the simulated host's control socket: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	b, _ := json.Marshal(req)
	if _, err := conn.Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		t.Fatalf("reading the control socket's reply: %v", err)
	}
	var rep sim.ControlReply
	if err := json.Unmarshal(line, &rep); err != nil || !rep.OK {
		t.Fatalf("control %+v: %s (%v)", req, line, err)
	}
}

// vmHistory reads the events of the VM called name from the database.
func (c *fwdCluster) vmHistory(t testing.TB, name string) (*vm.VM, []*vm.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := c.db.VMs().GetByName(ctx, name)
	if err != nil {
		t.Fatalf("reading vm %s: %v", name, err)
	}
	evs, err := c.db.Events().List(ctx, v.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return v, evs
}

// restartsOf counts the restarts by restart policy begun on a VM.
func restartsOf(evs []*vm.Event) int {
	n := 0
	for _, e := range evs {
		if e.Action == "restart" && e.NewState == vm.StateStarting {
			n++
		}
	}
	return n
}

// neverUnknown fails for every event of evs that made the VM UNKNOWN or
// LOST.
func neverUnknown(t testing.TB, name string, evs []*vm.Event) {
	t.Helper()
	for _, e := range evs {
		if e.NewState == vm.StateUnknown || e.NewState == vm.StateLost {
			t.Errorf("vm %s went %s during the failover: %s %q", name, e.NewState, e.Action, e.Message)
		}
	}
}

// TestClusterRestartAtLeaderKill: three servers on PostgreSQL, agents of
// the simulated backend, one connected to a server that is not the
// leader, one to the leader. A VM with restart_policy always crashes on
// its host at the moment the leader is killed with SIGKILL: a new leader
// takes over within 10 s and restarts it, once; no VM goes UNKNOWN or
// LOST, though one agent has to move to another server.
func TestClusterRestartAtLeaderKill(t *testing.T) {
	c := startFwdCluster(t, 3)
	lead, epoch := c.Leader(15*time.Second, 0)
	var others []*clusterServer
	for _, s := range c.Servers {
		if s != lead {
			others = append(others, s)
		}
	}
	_, sock := c.startSimAgent(t, "qx-duty-1", others)
	c.startSimAgent(t, "qx-duty-2", []*clusterServer{lead, others[0], others[1]})
	n1 := c.nodeID(t, "qx-duty-1", 30*time.Second)
	n2 := c.nodeID(t, "qx-duty-2", 30*time.Second)
	if h, _ := c.holder(t, n1); h == lead {
		t.Fatal("the first agent is on the leader")
	}
	if h, _ := c.holder(t, n2); h != lead {
		t.Fatal("the second agent is not on the leader")
	}

	crash, steady := "qx-duty-crash", "qx-duty-steady"
	for _, vmc := range []struct{ name, node string }{{crash, "qx-duty-1"}, {steady, "qx-duty-2"}} {
		others[0].must(t, http.StatusCreated, "POST", "/api/vms",
			fmt.Sprintf(`{"name":%q,"vcpus":1,"memory_mib":64,"restart_policy":"always","node_id":%q}`, vmc.name, vmc.node))
		if r := others[1].must(t, http.StatusOK, "POST", "/api/vms/"+vmc.name+"/start", ""); r.str("vm.state") != "RUNNING" {
			t.Fatalf("start of %s: %s", vmc.name, r.raw)
		}
	}

	simControl(t, sock, sim.ControlRequest{Op: "crash", VM: crash})
	killed := time.Now()
	lead.Kill(t)

	next, _ := c.Leader(10*time.Second, epoch, lead)
	t.Logf("new leader %s %s after kill -9", next.Name, time.Since(killed).Round(time.Millisecond))
	wait.Until(t, 30*time.Second, "the crashed vm restarted", func() bool {
		v, evs := c.vmHistory(t, crash)
		return v.State == vm.StateRunning && restartsOf(evs) > 0
	})
	t.Logf("vm restarted %s after kill -9", time.Since(killed).Round(time.Millisecond))
	// The agent of the leader has moved; the new leader has judged every
	// node for longer than a deadline (3 × 500ms) by now.
	wait.Until(t, 10*time.Second, "the second agent on another server", func() bool {
		h, _ := c.holder(t, n2)
		return h != nil && h != lead
	})
	wait.Stays(t, 5*time.Second, "one restart, nothing UNKNOWN", func() bool {
		_, evs := c.vmHistory(t, crash)
		_, sevs := c.vmHistory(t, steady)
		return restartsOf(evs) == 1 && restartsOf(sevs) == 0
	})
	for _, name := range []string{crash, steady} {
		v, evs := c.vmHistory(t, name)
		neverUnknown(t, name, evs)
		if v.State != vm.StateRunning {
			t.Errorf("vm %s is %s, want RUNNING", name, v.State)
		}
		if name == crash {
			if n := restartsOf(evs); n != 1 {
				t.Errorf("vm %s was restarted %d times, want once", name, n)
			}
		}
	}
	for _, s := range c.live() {
		for _, node := range []string{"qx-duty-1", "qx-duty-2"} {
			if r := s.must(t, http.StatusOK, "GET", "/api/nodes/"+node, ""); r.str("state") != "READY" {
				t.Errorf("server %s shows node %s as %s", s.rpc, node, r.str("state"))
			}
		}
	}
}
