package main

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
)

// TestE2E runs the whole flow against `quantixd dev` driving real QEMU
// through libvirtd, on SQLite and on PostgreSQL.
func TestE2E(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			requireE2E(t)
			dir := t.TempDir()
			dsn := ""
			if driver == "postgres" {
				dsn = teststore.PostgresDSN(t)
			}
			d := startDaemon(t, "dev", "-config", writeConfig(t, dir, driver, dsn), "-data-dir", dir)
			flow(t, d)
			d.stop(t)
		})
	}
}

func flow(t *testing.T, d *proc) {
	name := vmName(t)

	// create
	r := d.must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+name+`","vcpus":1,"memory_mib":64,"labels":{"suite":"e2e"}}`)
	id := r.str("id")
	if r.str("state") != "STOPPED" || len(id) != 36 {
		t.Fatalf("created: %s", r.raw)
	}
	if s := domState(t, name); s != "shut off" {
		t.Fatalf("virsh domstate after create = %q, want shut off", s)
	}

	// start
	r = d.must(t, http.StatusOK, "POST", "/api/vms/"+name+"/start", "")
	if r.body["success"] != true || r.str("vm.state") != "RUNNING" || r.str("vm.id") != id {
		t.Fatalf("start: %s", r.raw)
	}
	if s := domState(t, name); s != "running" {
		t.Fatalf("virsh domstate after start = %q, want running", s)
	}

	// logs
	r = d.must(t, http.StatusOK, "GET", "/api/vms/"+id+"/logs?lines=50", "")
	checkLogs(t, r, id, name)

	// stop, forced
	r = d.must(t, http.StatusOK, "POST", "/api/vms/"+name+"/stop?force=true", "")
	if r.str("vm.state") != "STOPPED" || domState(t, name) != "shut off" {
		t.Fatalf("forced stop: %s; virsh says %q", r.raw, domState(t, name))
	}
	r = d.must(t, http.StatusOK, "GET", "/api/vms/"+id+"/logs?lines=20", "")
	if !hasLine(r, "terminating on signal", "error") {
		t.Errorf("after a forced stop the log has no error line about the signal:\n%s", r.str("qemu_log"))
	}

	// stop, graceful with a short timeout (the firmware ignores ACPI, so
	// the VM is stopped hard when it passes)
	d.must(t, http.StatusOK, "POST", "/api/vms/"+name+"/start", "")
	start := time.Now()
	r = d.must(t, http.StatusOK, "POST", "/api/vms/"+name+"/stop?timeout=2s", "")
	if r.str("vm.state") != "STOPPED" || domState(t, name) != "shut off" {
		t.Fatalf("graceful stop: %s; virsh says %q", r.raw, domState(t, name))
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("graceful stop with timeout=2s took %s", took)
	}
	d.must(t, http.StatusConflict, "POST", "/api/vms/"+name+"/stop", "")

	// reset_state: without force the host is asked; with force it is not
	r = d.must(t, http.StatusOK, "POST", "/api/vms/"+name+"/reset_state", "")
	if r.body["success"] != true || r.str("vm.state") != "STOPPED" || r.str("message") != "VM state reset to STOPPED" {
		t.Fatalf("reset_state: %s", r.raw)
	}
	d.must(t, http.StatusOK, "POST", "/api/vms/"+name+"/start", "")
	r = d.must(t, http.StatusOK, "POST", "/api/vms/"+name+"/reset_state?force=true", "")
	if r.str("vm.state") != "STOPPED" || domState(t, name) != "running" {
		t.Fatalf("forced reset_state: %s; virsh says %q (the host is not touched)", r.raw, domState(t, name))
	}
	r = d.must(t, http.StatusOK, "POST", "/api/vms/"+name+"/reset_state", "")
	if r.str("vm.state") != "RUNNING" || r.str("message") != "VM state reset to RUNNING" {
		t.Fatalf("reset_state after the forced one: %s; want RUNNING from the host", r.raw)
	}

	// delete: refused while running, then forced
	r = d.must(t, http.StatusConflict, "DELETE", "/api/vms/"+name, "")
	if !strings.Contains(r.str("message"), "RUNNING") || r.body["success"] != false {
		t.Errorf("refused delete: %s", r.raw)
	}
	r = d.must(t, http.StatusOK, "DELETE", "/api/vms/"+name+"?force=true", "")
	if r.str("vm.state") != "TERMINATED" {
		t.Fatalf("delete: %s", r.raw)
	}
	names, err := testlibvirt.DomainNames()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(names, name) {
		t.Fatalf("virsh still lists %s after the delete", name)
	}
	r = d.must(t, http.StatusOK, "GET", "/api/vms?label=suite=e2e", "")
	if len(r.body["vms"].([]any)) != 0 {
		t.Errorf("list after delete: %s", r.raw)
	}
	d.must(t, http.StatusOK, "GET", "/api/vms/"+id, "")
	d.must(t, http.StatusNotFound, "GET", "/api/vms/"+name, "")
}

// checkLogs checks a log reply of a VM that has just booted.
func checkLogs(t *testing.T, r resp, id, name string) {
	t.Helper()
	lines, _ := r.body["lines"].([]any)
	if r.str("vm_id") != id || r.str("vm_name") != name || !strings.HasSuffix(r.str("log_path"), "/"+name+".log") ||
		len(lines) == 0 || r.body["lines_returned"] != float64(len(lines)) || r.str("last_modified") == "" {
		t.Fatalf("logs: %s", r.raw)
	}
	var texts []string
	for i, l := range lines {
		m := l.(map[string]any)
		if m["n"] != float64(i+1) {
			t.Errorf("line %d has n=%v", i, m["n"])
		}
		switch m["severity"] {
		case "error", "warning", "info":
		default:
			t.Errorf("line %d has severity %v", i, m["severity"])
		}
		texts = append(texts, m["text"].(string))
	}
	if r.str("qemu_log") != strings.Join(texts, "\n") {
		t.Error("qemu_log is not the lines joined")
	}
	if !hasLine(r, "", "info") {
		t.Errorf("no info line in a fresh boot log:\n%s", r.str("qemu_log"))
	}
}

// hasLine reports whether a log reply has a line containing text with
// severity.
func hasLine(r resp, text, severity string) bool {
	lines, _ := r.body["lines"].([]any)
	for _, l := range lines {
		m := l.(map[string]any)
		if strings.Contains(m["text"].(string), text) && m["severity"] == severity {
			return true
		}
	}
	return false
}

// TestE2ERestart: the inventory survives restarts; SIGTERM lets a request
// in flight finish; `quantixd server` on the same database serves the
// inventory and answers 503 for actions on the node no agent serves.
func TestE2ERestart(t *testing.T) {
	requireE2E(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "sqlite", "")
	a, b := vmName(t), vmName(t)

	d := startDaemon(t, "dev", "-config", cfg, "-data-dir", dir)
	idA := d.must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+a+`","vcpus":1,"memory_mib":64}`).str("id")
	idB := d.must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+b+`","vcpus":1,"memory_mib":64}`).str("id")
	d.must(t, http.StatusOK, "POST", "/api/vms/"+a+"/start", "")
	d.must(t, http.StatusOK, "POST", "/api/vms/"+b+"/start", "")
	nodeID := d.must(t, http.StatusOK, "GET", "/api/nodes", "").body["nodes"].([]any)[0].(map[string]any)["id"]

	// A graceful stop is in flight when SIGTERM arrives: it finishes.
	var inflight resp
	var wg sync.WaitGroup
	wg.Go(func() { inflight = d.call(t, "POST", "/api/vms/"+a+"/stop?timeout=3s", "") })
	wait.Until(t, 10*time.Second, "the graceful stop of "+a+" to be in flight", func() bool {
		return d.must(t, http.StatusOK, "GET", "/api/vms/"+idA, "").str("state") == "STOPPING"
	})
	d.stop(t)
	wg.Wait()
	if inflight.status != http.StatusOK || inflight.str("vm.state") != "STOPPED" {
		t.Fatalf("the stop in flight at shutdown: %d %s", inflight.status, inflight.raw)
	}

	// server: the inventory, no agent.
	s := startDaemon(t, "server", "-config", cfg, "-data-dir", dir)
	states := listStates(t, s)
	if states[idA] != "STOPPED" || states[idB] != "RUNNING" {
		t.Fatalf("server sees %v", states)
	}
	r := s.must(t, http.StatusServiceUnavailable, "POST", "/api/vms/"+b+"/stop", "")
	if r.body["success"] != false || r.str("code") != "unavailable" {
		t.Errorf("stop without an agent: %s", r.raw)
	}
	r = s.must(t, http.StatusServiceUnavailable, "POST", "/api/vms/"+b+"/reset_state", "")
	if !strings.Contains(r.str("message"), "force=true") {
		t.Errorf("reset_state without an agent: %s", r.raw)
	}
	if n := s.must(t, http.StatusOK, "GET", "/api/nodes/"+nodeID.(string), ""); n.str("state") != "UNREACHABLE" {
		t.Errorf("node under server: %s", n.raw)
	}
	s.stop(t)

	// dev again: same inventory, same node, and the VMs answer.
	d = startDaemon(t, "dev", "-config", cfg, "-data-dir", dir)
	// Other packages' tests may run VMs on this libvirtd meanwhile: this
	// test's names must have one record each.
	states = listStates(t, d)
	if records := countNamed(t, d, a, b); records != 2 || states[idA] != "STOPPED" || states[idB] != "RUNNING" {
		t.Fatalf("after restart: %d records named %s or %s; states %v", records, a, b, states)
	}
	if n := d.must(t, http.StatusOK, "GET", "/api/nodes", ""); len(n.body["nodes"].([]any)) != 1 ||
		n.body["nodes"].([]any)[0].(map[string]any)["id"] != nodeID || n.body["nodes"].([]any)[0].(map[string]any)["state"] != "READY" {
		t.Errorf("nodes after restart: %s", n.raw)
	}
	if domState(t, b) != "running" {
		t.Errorf("virsh: %s is %q", b, domState(t, b))
	}
	d.must(t, http.StatusOK, "POST", "/api/vms/"+b+"/stop?force=true", "")
	d.must(t, http.StatusOK, "DELETE", "/api/vms/"+a, "")
	d.must(t, http.StatusOK, "DELETE", "/api/vms/"+b, "")
	d.stop(t)
}

// countNamed counts the listed VMs named one of names.
func countNamed(t *testing.T, p *proc, names ...string) int {
	t.Helper()
	n := 0
	for _, v := range p.must(t, http.StatusOK, "GET", "/api/vms?limit=1000", "").body["vms"].([]any) {
		if slices.Contains(names, v.(map[string]any)["name"].(string)) {
			n++
		}
	}
	return n
}

// listStates maps the id of every listed VM to its state.
func listStates(t *testing.T, p *proc) map[string]string {
	t.Helper()
	r := p.must(t, http.StatusOK, "GET", "/api/vms", "")
	out := map[string]string{}
	for _, v := range r.body["vms"].([]any) {
		m := v.(map[string]any)
		out[m["id"].(string)] = m["state"].(string)
	}
	return out
}

// TestE2EConcurrentStarts: ten concurrent starts of one VM: one 200, the
// others 409, no 5xx, and the VM runs.
func TestE2EConcurrentStarts(t *testing.T) {
	requireE2E(t)
	dir := t.TempDir()
	d := startDaemon(t, "dev", "-config", writeConfig(t, dir, "sqlite", ""), "-data-dir", dir)
	name := vmName(t)
	d.must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+name+`","vcpus":1,"memory_mib":64}`)
	codes := make([]int, 10)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() { codes[i] = d.call(t, "POST", "/api/vms/"+name+"/start", "").status })
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		if c >= 500 {
			t.Errorf("a concurrent start got %d", c)
		}
		if c == http.StatusOK {
			ok++
		} else if c != http.StatusConflict {
			t.Errorf("a concurrent start got %d, want 200 or 409", c)
		}
	}
	if ok != 1 {
		t.Errorf("%d starts succeeded (%v), want exactly 1", ok, codes)
	}
	if s := domState(t, name); s != "running" {
		t.Errorf("virsh domstate = %q, want running", s)
	}
	d.must(t, http.StatusOK, "DELETE", "/api/vms/"+name+"?force=true", "")
	d.stop(t)
}
