package api

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/wait"
)

// vmKeys is the shape of a VM in replies (docs/api.md).
var vmKeys = []string{"id", "name", "description", "labels", "origin", "is_managed", "node_id", "state", "last_known_state",
	"desired_state", "restart_policy", "spec", "last_seen", "lost_reason", "lost_at", "message", "created_at", "updated_at"}

func checkVMShape(t *testing.T, v any) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("vm is %T, want an object", v)
	}
	if len(m) != len(vmKeys) {
		t.Errorf("vm has %d keys, want %d: %v", len(m), len(vmKeys), m)
	}
	for _, k := range vmKeys {
		if _, ok := m[k]; !ok {
			t.Errorf("vm lacks %q", k)
		}
	}
	spec, _ := m["spec"].(map[string]any)
	for _, k := range []string{"vcpus", "memory_mib", "disks", "nics", "boot"} {
		if _, ok := spec[k]; !ok {
			t.Errorf("spec lacks %q", k)
		}
	}
}

// TestVMRoutes walks a VM through the routes and checks each reply.
func TestVMRoutes(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	r := e.do(t, "POST", "/api/vms", `{"name":"web-1","description":"a web server","labels":{"env":"prod","tier":"web"},
		"vcpus":2,"memory_mib":128,"disks":[{"size_gib":1}],"nics":[{"type":"user"}],"boot":["hd","network"],"restart_policy":"on-crash"}`)
	r.want(t, http.StatusCreated, "")
	checkVMShape(t, r.body)
	id := r.str("id")
	if r.header.Get("Location") != "/api/vms/"+id || r.str("state") != "STOPPED" || r.str("origin") != "control-plane" ||
		r.str("restart_policy") != "on-crash" || r.str("node_id") != e.node || r.body["is_managed"] != true {
		t.Errorf("created: %s", r.raw)
	}
	e.create(t, "db-1")
	e.do(t, "PATCH", "/api/vms/db-1", `{"labels":{"env":"dev"}}`).want(t, http.StatusOK, "")

	byName := e.do(t, "GET", "/api/vms/web-1", "")
	byID := e.do(t, "GET", "/api/vms/"+id, "")
	byName.want(t, http.StatusOK, "")
	if byName.raw != byID.raw {
		t.Errorf("by name %s\nby id %s", byName.raw, byID.raw)
	}

	names := func(path string) []string {
		r := e.do(t, "GET", path, "")
		r.want(t, http.StatusOK, "")
		var out []string
		for _, v := range r.body["vms"].([]any) {
			checkVMShape(t, v)
			out = append(out, v.(map[string]any)["name"].(string))
		}
		if _, ok := r.body["next_cursor"]; !ok {
			t.Errorf("%s: no next_cursor", path)
		}
		return out
	}
	for path, want := range map[string]string{
		"/api/vms":                                  "web-1,db-1",
		"/api/vms?label=env=prod":                   "web-1",
		"/api/vms?label=env=prod&label=tier=web":    "web-1",
		"/api/vms?label=env=dev":                    "db-1",
		"/api/vms?label=env=prod&label=tier=db":     "",
		"/api/vms?state=STOPPED":                    "web-1,db-1",
		"/api/vms?state=running":                    "",
		"/api/vms?origin=control-plane":             "web-1,db-1",
		"/api/vms?origin=host-discovered":           "",
		"/api/vms?node_id=" + e.node:                "web-1,db-1",
		"/api/vms?limit=1":                          "web-1",
		"/api/vms?state=TERMINATED":                 "",
		"/api/vms?limit=1000&label=env=prod&state=": "web-1",
	} {
		if got := strings.Join(names(path), ","); got != want {
			t.Errorf("GET %s = %q, want %q", path, got, want)
		}
	}
	page := e.do(t, "GET", "/api/vms?limit=1", "")
	next := e.do(t, "GET", "/api/vms?limit=1&cursor="+page.str("next_cursor"), "")
	if vms := next.body["vms"].([]any); len(vms) != 1 || vms[0].(map[string]any)["name"] != "db-1" || next.str("next_cursor") != "" {
		t.Errorf("second page: %s", next.raw)
	}

	action := func(method, path string, status int, state string) reply {
		t.Helper()
		r := e.do(t, method, path, "")
		if r.status != status {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, status, r.raw)
		}
		if r.body["success"] != (status == http.StatusOK) || r.str("message") == "" {
			t.Errorf("%s %s: %s", method, path, r.raw)
		}
		if state != "" {
			checkVMShape(t, r.body["vm"])
			if r.str("vm.state") != state {
				t.Errorf("%s %s: vm.state %s, want %s", method, path, r.str("vm.state"), state)
			}
		}
		return r
	}
	action("POST", "/api/vms/web-1/start", 200, "RUNNING")
	r = action("POST", "/api/vms/web-1/start", 409, "RUNNING")
	if r.str("code") != "conflict" || !strings.Contains(r.str("message"), "RUNNING") {
		t.Errorf("refused start: %s", r.raw)
	}
	action("POST", "/api/vms/web-1/pause", 200, "PAUSED")
	action("POST", "/api/vms/web-1/resume", 200, "RUNNING")
	action("POST", "/api/vms/web-1/reboot", 200, "RUNNING")
	action("POST", "/api/vms/web-1/stop?force=true", 200, "STOPPED")
	action("POST", "/api/vms/web-1/start", 200, "RUNNING")
	action("POST", "/api/vms/web-1/stop?timeout=1s", 200, "STOPPED")
	r = action("POST", "/api/vms/web-1/reset_state", 200, "STOPPED")
	if r.str("message") != "VM state reset to STOPPED" {
		t.Errorf("reset_state message %q", r.str("message"))
	}
	action("POST", "/api/vms/web-1/reset_state?force=true", 200, "STOPPED")
	action("POST", "/api/vms/web-1/start", 200, "RUNNING")
	action("DELETE", "/api/vms/web-1", 409, "RUNNING")
	action("DELETE", "/api/vms/web-1?force=true", 200, "TERMINATED")
	if got := strings.Join(names("/api/vms"), ","); got != "db-1" {
		t.Errorf("list after delete = %q", got)
	}
	if got := strings.Join(names("/api/vms?state=TERMINATED"), ","); got != "web-1" {
		t.Errorf("TERMINATED list = %q", got)
	}
	e.do(t, "GET", "/api/vms/web-1", "").want(t, http.StatusNotFound, "not_found")
	e.do(t, "GET", "/api/vms/"+id, "").want(t, http.StatusOK, "")
}

// TestNodeUnavailable: with the node's agent gone, actions are 503 and
// reset_state tells to use force, which works without the host.
func TestNodeUnavailable(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	e.create(t, "orphan")
	e.do(t, "POST", "/api/vms/orphan/start", "").want(t, http.StatusOK, "")
	e.host.Stop()
	wait.Until(t, 5*time.Second, "the node's session to end", func() bool { return len(e.disp.Connected()) == 0 })
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/vms/orphan/stop"}, {"POST", "/api/vms/orphan/pause"}, {"POST", "/api/vms/orphan/reboot"},
		{"DELETE", "/api/vms/orphan?force=true"},
	} {
		r := e.do(t, c.method, c.path, "")
		r.want(t, http.StatusServiceUnavailable, "unavailable", "not connected")
		if r.body["success"] != false || r.str("vm.state") != "RUNNING" {
			t.Errorf("%s: %s", c.path, r.raw)
		}
	}
	e.do(t, "GET", "/api/vms/orphan/logs", "").want(t, http.StatusServiceUnavailable, "unavailable")
	e.do(t, "POST", "/api/vms/orphan/reset_state", "").want(t, http.StatusServiceUnavailable, "unavailable", "use force=true")
	r := e.do(t, "POST", "/api/vms/orphan/reset_state?force=true", "")
	r.want(t, http.StatusOK, "")
	if r.body["success"] != true || r.str("vm.state") != "STOPPED" || r.str("message") != "VM state reset to STOPPED" {
		t.Errorf("forced reset: %s", r.raw)
	}
	e.do(t, "POST", "/api/vms", `{"name":"x","vcpus":1,"memory_mib":64}`).want(t, http.StatusServiceUnavailable, "unavailable", "no node is connected")
	n := e.do(t, "GET", "/api/nodes/"+e.node, "")
	if n.str("state") != "UNREACHABLE" {
		t.Errorf("node: %s", n.raw)
	}
}

// TestHostFailure: the record places a VM on a host that does not have it
// (it was removed behind the control plane's back, and no report of that
// has come yet): the start fails with a conflict, the VM keeps its state
// and the error.
func TestHostFailure(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	ghost := &vm.VM{ID: uuid.NewString(), Name: "ghost", Origin: vm.OriginControlPlane, IsManaged: true,
		State: vm.StateStopped, LastKnownState: vm.StateStopped, NodeID: e.node,
		DesiredState: vm.DesiredStopped, RestartPolicy: vm.RestartNever, Spec: vm.Spec{VCPUs: 1, MemoryMiB: 64}}
	if err := e.store.VMs().Create(context.Background(), ghost); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, "POST", "/api/vms/ghost/start", "")
	r.want(t, http.StatusConflict, "conflict", "reset_state")
	if r.body["success"] != false || r.str("vm.state") != "STOPPED" || r.str("vm.message") == "" {
		t.Errorf("failed start: %s", r.raw)
	}
	r = e.do(t, "POST", "/api/vms/ghost/reset_state", "")
	if r.status != http.StatusOK || r.str("vm.state") != "STOPPED" {
		t.Errorf("reset_state: %s", r.raw)
	}
}

// TestConcurrentStarts: of concurrent starts of one VM one succeeds, the
// others are 409, none is 5xx.
func TestConcurrentStarts(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver, true)
			e.create(t, "racy")
			var wg sync.WaitGroup
			codes := make([]int, 10)
			for i := range codes {
				wg.Go(func() { codes[i] = e.do(t, "POST", "/api/vms/racy/start", "").status })
			}
			wg.Wait()
			ok := 0
			for _, c := range codes {
				switch c {
				case http.StatusOK:
					ok++
				case http.StatusConflict:
				default:
					t.Errorf("status %d among concurrent starts", c)
				}
			}
			if ok != 1 {
				t.Errorf("%d starts succeeded (%v), want 1", ok, codes)
			}
		})
	}
}

func TestLogsReply(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	id := e.create(t, "chatty")
	r := e.do(t, "GET", "/api/vms/chatty/logs", "")
	r.want(t, http.StatusOK, "")
	if r.body["lines_returned"] != float64(0) || r.body["last_modified"] != nil || len(r.body["lines"].([]any)) != 0 || r.str("qemu_log") != "" {
		t.Errorf("logs without a log file: %s", r.raw)
	}
	lines := []string{"2024-01-01 starting up", "qemu: terminating on signal 15", "warning: timeout on disk", "done"}
	if err := os.WriteFile(filepath.Join(e.host.LogDir, "chatty.log"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.do(t, "GET", "/api/vms/"+id+"/logs?lines=3", "")
	r.want(t, http.StatusOK, "")
	for _, k := range []string{"vm_id", "vm_name", "log_path", "log_size_bytes", "lines_returned", "truncated", "last_modified", "qemu_log", "lines"} {
		if _, ok := r.body[k]; !ok {
			t.Errorf("logs reply lacks %q", k)
		}
	}
	if len(r.body) != 9 {
		t.Errorf("logs reply has %d keys, want 9: %s", len(r.body), r.raw)
	}
	if r.str("vm_id") != id || r.str("vm_name") != "chatty" || !strings.HasSuffix(r.str("log_path"), "/chatty.log") ||
		r.body["lines_returned"] != float64(3) || r.body["truncated"] != true || r.str("qemu_log") != strings.Join(lines[1:], "\n") {
		t.Errorf("logs reply: %s", r.raw)
	}
	want := []struct {
		n        float64
		severity string
	}{{1, "error"}, {2, "warning"}, {3, "info"}}
	for i, l := range r.body["lines"].([]any) {
		m := l.(map[string]any)
		if m["n"] != want[i].n || m["severity"] != want[i].severity || m["text"] != lines[i+1] {
			t.Errorf("line %d = %v, want n=%v severity=%s", i, m, want[i].n, want[i].severity)
		}
	}
}

func TestHealthAndNodes(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	r := e.do(t, "GET", "/api/health", "")
	if r.status != 200 || r.str("status") != "ok" || r.str("version") != "quantixd test" {
		t.Errorf("health: %s", r.raw)
	}
	r = e.do(t, "GET", "/api/nodes", "")
	nodes, _ := r.body["nodes"].([]any)
	if r.status != 200 || len(nodes) != 1 || nodes[0].(map[string]any)["state"] != "READY" {
		t.Fatalf("nodes: %s", r.raw)
	}
	for _, ref := range []string{e.node, "api-test"} {
		n := e.do(t, "GET", "/api/nodes/"+ref, "")
		if n.status != 200 || n.str("id") != e.node || n.str("backend.name") != "sim" || n.str("host.hostname") == "" {
			t.Errorf("node %s: %s", ref, n.raw)
		}
	}
}

// TestRequestIDs: a usable id is echoed, another one is generated.
func TestRequestIDs(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	if got := e.do(t, "GET", "/api/health", "", HeaderRequestID, "trace-42").header.Get(HeaderRequestID); got != "trace-42" {
		t.Errorf("echoed id %q", got)
	}
	a := e.do(t, "GET", "/api/health", "").header.Get(HeaderRequestID)
	b := e.do(t, "GET", "/api/health", "", HeaderRequestID, "bad id with spaces").header.Get(HeaderRequestID)
	if a == "" || b == "" || a == b || strings.Contains(b, " ") {
		t.Errorf("generated ids %q, %q", a, b)
	}
	if got := e.do(t, "GET", "/api/vms/none", "").header.Get(HeaderRequestID); got == "" {
		t.Error("error reply without a request id")
	}
}

// TestPanicRecovery: a handler that panics gets a JSON 500 naming the
// request id, and the server goes on.
func TestPanicRecovery(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	e.srv.echo.GET("/api/test-panic", func(echo.Context) error { panic("boom") })
	r := e.do(t, "GET", "/api/test-panic", "", HeaderRequestID, "panic-1")
	r.want(t, http.StatusInternalServerError, "internal", "panic-1")
	if strings.Contains(r.raw, "boom") {
		t.Errorf("the panic value leaked to the client: %s", r.raw)
	}
	e.do(t, "GET", "/api/health", "").want(t, http.StatusOK, "")
}
