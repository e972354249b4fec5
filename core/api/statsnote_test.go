package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/stats"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
)

// TestStatsNote: a stats answer without points says why in note, and an
// answer with points has none. The samples are recorded into the server's
// collector as the agent server records what agents send.
func TestStatsNote(t *testing.T) {
	var col *stats.Collector
	e := newEnvWith(t, "sqlite", true, controlplane.ReconcilerOptions{}, 0, func(_ *env, o *Options) { col = o.Stats })
	vmID := e.create(t, "sn-run")
	e.do(t, "POST", "/api/vms/"+vmID+"/start", "").want(t, http.StatusOK, "")
	vmPath := "/api/vms/" + vmID + "/stats"
	stoppedPath := "/api/vms/" + e.create(t, "sn-stopped") + "/stats"
	nodePath := "/api/nodes/" + e.node + "/stats"

	note := func(path string) (string, reply) {
		t.Helper()
		r := e.do(t, "GET", path, "")
		r.want(t, http.StatusOK, "")
		n, _ := r.body["note"].(string)
		return n, r
	}
	wantNote := func(what, path string, parts ...string) {
		t.Helper()
		n, r := note(path)
		if pts, _ := r.body["points"].([]any); len(pts) != 0 {
			t.Fatalf("%s: points where none were recorded: %s", what, r.raw)
		}
		for _, p := range parts {
			if !strings.Contains(n, p) {
				t.Errorf("%s: note %q does not say %q", what, n, p)
			}
		}
	}

	// Nothing from the node: every reason the server cannot tell apart.
	nothing := []string{`no statistics have come from node "api-test"`, "backend API version 1", `"stats" capability`, "agent.stats = false", "agent.stats_interval"}
	wantNote("vm, node silent", vmPath, nothing...)
	wantNote("node, silent", nodePath, nothing...)
	wantNote("stopped vm", stoppedPath, "the VM is STOPPED, not running")

	// The node sends samples, of another VM only.
	t0 := time.Now().Add(-10 * time.Second)
	sample := func(at time.Time, ids ...string) *backend.HostStats {
		h := &backend.HostStats{Time: at}
		for _, id := range ids {
			h.VMs = append(h.VMs, backend.VMStats{ID: id, State: backend.StateRunning, VCPUs: 1, CPUTime: time.Duration(at.Sub(t0)) / 2, MemoryBytes: 64 << 20})
		}
		return h
	}
	col.Record(e.node, []*backend.HostStats{sample(t0, "other-vm")})
	wantNote("vm, node sends others", vmPath, `node "api-test" sends statistics, but none of this VM yet`)
	wantNote("node, one sample", nodePath, `node "api-test" sends statistics, but no two samples of a running VM`)

	// One sample of the VM: no rate yet.
	col.Record(e.node, []*backend.HostStats{sample(t0.Add(time.Second), "other-vm", vmID)})
	wantNote("vm, one sample", vmPath, "no two samples of this VM since", "agent.stats_interval (")

	// From the history, which has no step yet.
	wantNote("vm, history", vmPath+"?step=1m", "no history step written yet", "server.stats.history_step (1m0s)")

	// Two samples: points and no note.
	col.Record(e.node, []*backend.HostStats{sample(t0.Add(2*time.Second), "other-vm", vmID)})
	for _, path := range []string{vmPath, nodePath} {
		n, r := note(path)
		if pts, _ := r.body["points"].([]any); len(pts) == 0 || n != "" || strings.Contains(r.raw, `"note"`) {
			t.Errorf("%s with points: %s, want points and no note", path, r.raw)
		}
	}

	// A node no agent serves.
	e.host.Stop()
	wait.Until(t, 30*time.Second, "the node to be seen disconnected", func() bool {
		n, _ := note(stoppedPath)
		return strings.Contains(n, `node "api-test" is not connected`)
	})
	wantNote("node, disconnected", "/api/nodes/"+e.node+"/stats?since=1s", `node "api-test" is not connected`)
}
