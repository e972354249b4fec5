package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/plugins/sim"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// statsReply is GET /api/vms/{id}/stats and /api/nodes/{id}/stats.
type statsReplyJSON struct {
	NodeID      string  `json:"node_id"`
	Source      string  `json:"source"`
	StepSeconds float64 `json:"step_seconds"`
	Note        string  `json:"note"`
	Points      []struct {
		T          time.Time `json:"t"`
		CPUPercent float64   `json:"cpu_percent"`
		CPUCores   float64   `json:"cpu_cores"`
		Memory     uint64    `json:"memory_bytes"`
		DiskRead   float64   `json:"disk_read_bps"`
		NetRx      float64   `json:"net_rx_bps"`
	} `json:"points"`
}

func (p *proc) stats(t *testing.T, path string) statsReplyJSON {
	t.Helper()
	r := p.must(t, http.StatusOK, "GET", path, "")
	var out statsReplyJSON
	if err := json.Unmarshal([]byte(r.raw), &out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, r.raw)
	}
	return out
}

// TestStatsSim: `quantixd dev` driving the simulated backend plugin
// process, its agent sampling every second: a running VM's CPU, memory,
// disk and network rates come back from memory, its node's too, the
// history steps land in the store, /metrics exports the VM's counters, and
// bad parameters are refused naming them.
func TestStatsSim(t *testing.T) {
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd is needed: %v", e2e.daemonErr)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`log_level = "debug"
plugin_dir = %q
agent {
  backend        = "sim"
  stats_interval = "1s"
}
server {
  stats {
    window       = "2m"
    history_step = "10s"
  }
}
plugin "sim" {
  config {
    log_dir = %q
  }
}
`, simPluginDir(t), filepath.Join(dir, "vmlogs"))
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "dev", "-config", path, "-data-dir", dir)
	r := d.must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"qx-m-sim","vcpus":2,"memory_mib":128}`)
	id := r.str("id")
	d.must(t, http.StatusOK, "POST", "/api/vms/"+id+"/start", "")

	var vm statsReplyJSON
	wait.Until(t, 30*time.Second, "two points of the running VM with CPU, memory, disk and network", func() bool {
		vm = d.stats(t, "/api/vms/"+id+"/stats?since=1m")
		if vm.Source != "memory" || len(vm.Points) < 2 {
			return false
		}
		last := vm.Points[len(vm.Points)-1]
		return last.CPUPercent > 0 && last.CPUPercent <= 100 && last.Memory == 128<<20 && last.DiskRead > 0 && last.NetRx > 0
	})
	if vm.Note != "" {
		t.Errorf("an answer with points has the note %q", vm.Note)
	}
	if vm.StepSeconds <= 0 || vm.StepSeconds > 2 {
		t.Errorf("step_seconds = %g from memory, want the agent's interval, 1s", vm.StepSeconds)
	}
	node := d.stats(t, "/api/nodes/"+vm.NodeID+"/stats?since=1m")
	if node.Source != "memory" || len(node.Points) == 0 || node.Points[len(node.Points)-1].CPUCores <= 0 {
		t.Errorf("node stats: %+v, want points from memory with the VM's CPU", node)
	}
	wait.Until(t, 60*time.Second, "a history step of the VM in the store", func() bool {
		h := d.stats(t, "/api/vms/"+id+"/stats?since=2m&step=10s")
		return h.Source == "history" && h.StepSeconds == 10 && len(h.Points) > 0 && h.Points[0].CPUCores > 0
	})
	top := d.must(t, http.StatusOK, "GET", "/api/stats/top?limit=5", "")
	if !strings.Contains(top.raw, `"name":"qx-m-sim"`) {
		t.Errorf("GET /api/stats/top does not list the running VM: %s", top.raw)
	}

	res, err := d.get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	for _, want := range []string{`quantix_vm_cpu_seconds_total{node_id="` + vm.NodeID + `",vm_id="` + id + `"}`, "quantix_vm_stats_series_dropped 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}

	for q, want := range map[string]string{
		"since=yesterday":            "since:",
		"since=2000-01-01T00:00:00Z": "server.stats.retention",
		"step=10ms":                  "step:",
		"step=banana":                "step:",
		"since=168h&step=1s":         "step:",
	} {
		r := d.must(t, http.StatusBadRequest, "GET", "/api/vms/"+id+"/stats?"+q, "")
		if !strings.Contains(r.str("message"), want) {
			t.Errorf("?%s: %s, want a message naming %q", q, r.raw, want)
		}
	}
	d.must(t, http.StatusNotFound, "GET", "/api/vms/no-such-vm/stats", "")
}

// simV1PluginDir returns a plugin directory whose "sim" backend is the
// simulated backend built for API version 1
// (internal/testbin/quantix-backend-simv1).
func simV1PluginDir(t *testing.T) string {
	t.Helper()
	root, err := testbin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, plugin.BinaryName(plugin.TypeBackend, sim.Name))
	cmd := exec.Command("go", "build", "-o", out, "./internal/testbin/quantix-backend-simv1")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the API version 1 sim plugin: %v\n%s", err, b)
	}
	if err := os.Chmod(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// simStatsCalls asks the sim plugin how many times its CollectStats was
// called.
func simStatsCalls(t *testing.T, socket string) int64 {
	t.Helper()
	r, err := sim.AskControl(socket, sim.ControlRequest{Op: "stats_calls"})
	if err != nil {
		t.Fatal(err)
	}
	return r.StatsCalls
}

// TestStatsAPIVersion1Plugin: `quantixd dev` whose agent drives a backend
// plugin of API version 1, sampling every second. The agent finds the
// backend offers no statistics and sends none, never calling the plugin's
// CollectStats; the VM runs and stops as usual; the stats routes answer
// 200 with no points from the history and a note saying why, /metrics has
// no series of the VM.
func TestStatsAPIVersion1Plugin(t *testing.T) {
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd is needed: %v", e2e.daemonErr)
	}
	dir := t.TempDir()
	control := filepath.Join(dir, "sim.sock")
	cfg := fmt.Sprintf(`log_level = "debug"
plugin_dir = %q
agent {
  backend        = "sim"
  stats_interval = "1s"
}
plugin "sim" {
  config {
    log_dir        = %q
    control_socket = %q
  }
}
`, simV1PluginDir(t), filepath.Join(dir, "vmlogs"), control)
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "dev", "-config", path, "-data-dir", dir)
	r := d.must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"qx-m-simv1","vcpus":2,"memory_mib":128}`)
	id := r.str("id")
	d.must(t, http.StatusOK, "POST", "/api/vms/"+id+"/start", "")
	d.waitVM(t, id, 30*time.Second, "the VM to run", func(r resp) bool { return r.str("state") == "RUNNING" })

	const unsupported = "the backend offers no VM statistics; none are sent"
	wait.Until(t, 30*time.Second, "the agent to find the backend offers no statistics", func() bool { return d.count(unsupported) > 0 })
	noPoints := func(path string) bool {
		s := d.stats(t, path)
		return s.Source == "history" && s.Points != nil && len(s.Points) == 0
	}
	// Three sampling intervals with the VM running: a sample sent would
	// give the VM points from memory at once.
	wait.Stays(t, 3*time.Second, "no points for the VM of an API version 1 plugin", func() bool {
		return noPoints("/api/vms/" + id + "/stats?since=1m")
	})
	for _, path := range []string{"/api/vms/" + id + "/stats?since=1m", "/api/nodes/" + d.must(t, http.StatusOK, "GET", "/api/vms/"+id, "").str("node_id") + "/stats"} {
		note := d.stats(t, path).Note
		for _, want := range []string{"no statistics have come from node", "backend API version 1", "agent.stats = false", "agent.stats_interval"} {
			if !strings.Contains(note, want) {
				t.Errorf("GET %s: note %q does not say %q", path, note, want)
			}
		}
	}
	if n := simStatsCalls(t, control); n != 0 {
		t.Errorf("the API version 1 plugin's CollectStats was called %d times, want 0", n)
	}
	if n := d.count(unsupported); n != 1 {
		t.Errorf("the agent logged %q %d times, want once", unsupported, n)
	}
	nodeID := d.must(t, http.StatusOK, "GET", "/api/vms/"+id, "").str("node_id")
	if !noPoints("/api/nodes/" + nodeID + "/stats?since=1m") {
		t.Errorf("the node of an API version 1 plugin has points: %+v", d.stats(t, "/api/nodes/"+nodeID+"/stats?since=1m"))
	}
	top := d.must(t, http.StatusOK, "GET", "/api/stats/top?limit=5", "")
	if strings.Contains(top.raw, id) {
		t.Errorf("GET /api/stats/top lists a VM with no statistics: %s", top.raw)
	}
	res, err := d.get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if strings.Contains(string(body), `vm_id="`+id+`"`) {
		t.Errorf("/metrics has series of a VM with no statistics")
	}
	if !strings.Contains(string(body), "quantix_vm_stats_series_vms 0") {
		t.Errorf("/metrics does not export quantix_vm_stats_series_vms 0")
	}

	// The VM still obeys.
	d.must(t, http.StatusOK, "POST", "/api/vms/"+id+"/stop", "")
	d.waitVM(t, id, 30*time.Second, "the VM to stop", func(r resp) bool { return r.str("state") == "STOPPED" })
}
