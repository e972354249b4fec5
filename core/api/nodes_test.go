package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// TestNodeAddresses: a node shows the address its agent connects from and,
// beside it, the one the agent claims.
func TestNodeAddresses(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	n := e.do(t, "GET", "/api/nodes/api-test", "")
	n.want(t, 200, "")
	if n.str("address") != "127.0.0.1" || n.str("claimed_address") != "127.0.0.1" {
		t.Errorf("node addresses: %s", n.raw)
	}
}

// TestNodeRemoveConnected: a node whose agent is connected is refused
// without force; force refuses while managed VMs are on it, then ends the
// session and removes the node. Every call is audited.
func TestNodeRemoveConnected(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{backend: true})
	id := le.node
	le.do(t, "DELETE", "/api/nodes/nowhere", "").want(t, http.StatusNotFound, codeNotFound, `node "nowhere" not found`)
	le.do(t, "DELETE", "/api/nodes/api-test?force=maybe", "").want(t, http.StatusBadRequest, "", "force")
	le.do(t, "DELETE", "/api/nodes/api-test", "").want(t, http.StatusConflict, codeConflict, `node "api-test" has a connected agent`, "force=true")
	vmID := le.create(t, "keeps-node")
	le.do(t, "DELETE", "/api/nodes/"+id+"?force=true", "").want(t, http.StatusConflict, codeConflict, `node "api-test" holds 1 managed vms`, "delete them first")
	le.do(t, "DELETE", "/api/vms/"+vmID, "").want(t, http.StatusOK, "")

	r := le.do(t, "DELETE", "/api/nodes/api-test?force=true", "")
	r.want(t, http.StatusOK, "")
	if r.body["success"] != true || r.str("node.id") != id || r.str("message") != "node api-test removed" {
		t.Errorf("forced remove: %s", r.raw)
	}
	le.do(t, "GET", "/api/nodes/"+id, "").want(t, http.StatusNotFound, codeNotFound)
	// The VM deleted before stays as history.
	if v := le.do(t, "GET", "/api/vms/"+vmID, ""); v.str("state") != "TERMINATED" {
		t.Errorf("the terminated vm after the node went: %s", v.raw)
	}
	// The agent, still running, registers its node again: a new node.
	wait.Until(t, 10*time.Second, "the agent registers again", func() bool {
		n := le.do(t, "GET", "/api/nodes/api-test", "")
		return n.status == 200 && n.str("id") != id
	})

	le.waitStored(t, 7) // five node.delete, vm.create, vm.delete
	page, err := le.store.Logs().Query(context.Background(), store.LogQuery{LogFilter: store.LogFilter{Sources: []logsink.Source{logsink.SourceAudit}}, Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Entries {
		if e.Action == "node.delete" {
			got = append(got, fmt.Sprintf("%s %s %s", e.Target, e.NodeID, e.Level))
			if e.Component != logsink.ComponentNode {
				t.Errorf("audit entry %+v: component %q", e, e.Component)
			}
		}
	}
	want := []string{"nowhere  warn", "api-test  warn", "api-test  warn", id + "  warn", "api-test " + id + " info"}
	if !slices.Equal(got, want) {
		t.Errorf("node.delete audit entries:\n%q\nwant\n%q", got, want)
	}
}

// TestNodeRemoveDisconnected: a node no agent serves, without VMs, is
// removed without force; one with VMs only with force, which removes the
// unmanaged records with it.
func TestNodeRemoveDisconnected(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	id := e.node
	if _, err := e.b.AddForeign(backend.VMSpec{Name: "found-vm", VCPUs: 1, MemoryMiB: 64}); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 5*time.Second, "the host's vm discovered", func() bool {
		return e.do(t, "GET", "/api/vms/found-vm", "").status == 200
	})
	e.host.Stop()
	wait.Until(t, 5*time.Second, "the node disconnected", func() bool {
		return e.do(t, "GET", "/api/nodes/"+id, "").body["connected"] == false
	})
	e.do(t, "DELETE", "/api/nodes/"+id, "").want(t, http.StatusConflict, codeConflict, `node "api-test" holds 1 vms`, "force=true")
	e.do(t, "DELETE", "/api/nodes/"+id+"?force=true", "").want(t, http.StatusOK, "")
	e.do(t, "GET", "/api/vms/found-vm", "").want(t, http.StatusNotFound, codeNotFound)
	if r := e.do(t, "GET", "/api/nodes", ""); len(r.body["nodes"].([]any)) != 0 {
		t.Errorf("nodes after the remove: %s", r.raw)
	}

	// A node that never had VMs goes without force.
	if _, err := e.svc.Reconciler().Register(context.Background(), nodeapi.Registration{NodeName: "idle", Backend: node.Backend{Name: "sim"}}); err != nil {
		t.Fatal(err)
	}
	e.svc.Reconciler().Disconnected(context.Background(), e.do(t, "GET", "/api/nodes/idle", "").str("id"))
	e.do(t, "DELETE", "/api/nodes/idle", "").want(t, http.StatusOK, "")
	e.do(t, "GET", "/api/nodes/idle", "").want(t, http.StatusNotFound, codeNotFound)
}

// TestNodeListPages: GET /api/nodes pages as GET /api/vms does.
func TestNodeListPages(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	var want []string
	for i := range 5 {
		name := fmt.Sprintf("page-%d", i)
		if _, err := e.svc.Reconciler().Register(context.Background(), nodeapi.Registration{NodeName: name, Backend: node.Backend{Name: "sim"}}); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	var got []string
	path := "/api/nodes?limit=2"
	for range 4 {
		r := e.do(t, "GET", path, "")
		r.want(t, http.StatusOK, "")
		for _, n := range r.body["nodes"].([]any) {
			got = append(got, n.(map[string]any)["name"].(string))
		}
		next := r.str("next_cursor")
		if next == "" {
			break
		}
		path = "/api/nodes?limit=2&cursor=" + next
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged nodes %v, want %v", got, want)
	}
	if r := e.do(t, "GET", "/api/nodes", ""); len(r.body["nodes"].([]any)) != 5 || r.str("next_cursor") != "" {
		t.Errorf("one default page: %s", r.raw)
	}
	e.do(t, "GET", "/api/nodes?limit=0", "").want(t, http.StatusBadRequest, "", "limit")
	e.do(t, "GET", "/api/nodes?limit=1001", "").want(t, http.StatusBadRequest, "", "limit")
	e.do(t, "GET", "/api/nodes?cursor=!!", "").want(t, http.StatusBadRequest, "", "cursor")
}
