package main

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/wait"
)

// nodeReady reports whether a GET /api/nodes reply lists a READY node.
func nodeReady(resp *http.Response) bool {
	var body struct {
		Nodes []struct {
			State string `json:"state"`
		} `json:"nodes"`
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil {
		return false
	}
	for _, n := range body.Nodes {
		if n.State == "READY" {
			return true
		}
	}
	return false
}

// apiGet returns the decoded JSON of a GET on the daemon's API.
func (d *daemon) apiGet(t *testing.T, path string) map[string]any {
	t.Helper()
	resp, err := d.get(path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return out
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// decodeJSON decodes the JSON output of a run.
func decodeJSON[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("the output is not JSON: %v\n%s", err, r)
	}
	return v
}

func domState(t *testing.T, name string) string {
	t.Helper()
	s, ok, err := testlibvirt.DomState(name)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "absent"
	}
	return s
}

// step is one run of the CLI in a table: its arguments, the exit code and
// what stdout and stderr must hold.
type step struct {
	args   []string
	code   int
	stdout []string
	stderr []string
	domain string // what virsh must say of the VM afterwards, when set
}

func (d *daemon) steps(t *testing.T, name string, steps []step) {
	t.Helper()
	for _, s := range steps {
		r := d.quantix(t, s.args...)
		ok := r.code == s.code
		for _, w := range s.stdout {
			ok = ok && strings.Contains(r.stdout, w)
		}
		for _, w := range s.stderr {
			ok = ok && strings.Contains(r.stderr, w)
		}
		if !ok {
			t.Fatalf("quantix %s: %s\nwant exit %d, stdout holding %q, stderr holding %q", strings.Join(s.args, " "), r, s.code, s.stdout, s.stderr)
		}
		if s.domain != "" {
			if got := domState(t, name); got != s.domain {
				t.Fatalf("after quantix %s, virsh domstate %s = %q, want %q", strings.Join(s.args, " "), name, got, s.domain)
			}
		}
	}
}

// TestCLILifeCycle drives a VM through its whole life with the quantix
// binary against `quantixd dev` on real libvirt and QEMU, checking the
// output, the exit codes and what libvirt says; follows the VM's events
// and the log stream, and stops both with SIGINT.
func TestCLILifeCycle(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	name := vmPrefix + testid.Hex(4)

	// nodes
	r := d.ok(t, "node", "list")
	nodeName := strings.TrimSpace(d.ok(t, "node", "list", "-q").stdout)
	if nodeName == "" || strings.Contains(nodeName, "\n") || !strings.Contains(r.stdout, "READY") || !strings.HasPrefix(r.stdout, "NAME ") {
		t.Fatalf("node list:\n%s\nnode list -q: %q", r, nodeName)
	}
	nodes := decodeJSON[[]map[string]any](t, d.ok(t, "-output", "json", "node", "list"))
	apiNodes := d.apiGet(t, "/api/nodes")["nodes"].([]any)
	if len(nodes) != 1 || !slices.Equal(keys(nodes[0]), keys(apiNodes[0].(map[string]any))) || nodes[0]["name"] != nodeName {
		t.Fatalf("node list -output json is not the API's nodes:\n%v\n%v", nodes, apiNodes)
	}
	r = d.ok(t, "node", "show", nodeName)
	if !strings.Contains(r.stdout, "State:") || !strings.Contains(r.stdout, "READY") || !strings.Contains(r.stdout, "Backend:         libvirt") {
		t.Fatalf("node show:\n%s", r)
	}

	// create
	created := decodeJSON[map[string]any](t, d.ok(t, "-output", "json", "vm", "create", name, "-vcpus", "1", "-memory", "64", "-label", "suite=cli", "-description", "made by the cli tests"))
	id, _ := created["id"].(string)
	apiVM := d.apiGet(t, "/api/vms/"+id)
	if len(id) != 36 || created["state"] != "STOPPED" || !slices.Equal(keys(created), keys(apiVM)) || apiVM["description"] != "made by the cli tests" {
		t.Fatalf("vm create -output json: %v\nthe API has %v", created, apiVM)
	}
	if s := domState(t, name); s != "shut off" {
		t.Fatalf("virsh domstate after create = %q, want shut off", s)
	}

	d.steps(t, name, []step{
		{args: []string{"vm", "list"}, stdout: []string{"NAME", "STATE", name, "STOPPED", nodeName, "64 MiB", id}},
		{args: []string{"vm", "list", "-q", "-label", "suite=cli"}, stdout: []string{name + "\n"}},
		{args: []string{"vm", "show", name}, stdout: []string{"Name:", name, "ID:", id, "State:           STOPPED", "Memory:          64 MiB", "Labels:          suite=cli"}},
		{args: []string{"vm", "create", name, "-memory", "64"}, code: 1, stderr: []string{name}},
		{args: []string{"vm", "start", name}, stdout: []string{name + ": VM started (RUNNING)"}, domain: "running"},
	})

	// Follow the VM's events from here on; the history comes first.
	events := d.follow(t, "vm", "events", "-f", name)
	events.waitFor(t, 30*time.Second, "STARTING", "RUNNING")
	eventsJSON := d.follow(t, "-output", "json", "vm", "events", name, "-f")
	eventsJSON.waitFor(t, 30*time.Second, `"new_state":"RUNNING"`)

	d.steps(t, name, []step{
		{args: []string{"vm", "pause", name}, stdout: []string{"VM paused (PAUSED)"}, domain: "paused"},
		{args: []string{"vm", "pause", name}, code: 1, stderr: []string{`vm "` + name + `"`, "PAUSED"}},
		{args: []string{"vm", "resume", name}, stdout: []string{"VM resumed (RUNNING)"}, domain: "running"},
		{args: []string{"vm", "reboot", name}, stdout: []string{"(RUNNING)"}, domain: "running"},
		{args: []string{"vm", "logs", name, "-n", "20"}, stdout: []string{"\n"}},
		{args: []string{"vm", "stop", name, "-timeout", "2s"}, stdout: []string{"(STOPPED)"}, domain: "shut off"},
		{args: []string{"vm", "stop", name}, code: 1, stderr: []string{"STOPPED"}},
		{args: []string{"vm", "start", name}, stdout: []string{"(RUNNING)"}, domain: "running"},
		// reset-state -force does not ask the host, which still runs the
		// VM; reset-state asks it.
		{args: []string{"vm", "reset-state", "-force", name}, stdout: []string{"VM state reset to STOPPED (STOPPED)"}, domain: "running"},
		{args: []string{"vm", "reset-state", name}, stdout: []string{"VM state reset to RUNNING (RUNNING)"}, domain: "running"},
		{args: []string{"vm", "stop", "-force", name}, stdout: []string{"(STOPPED)"}, domain: "shut off"},
		{args: []string{"vm", "events", name}, stdout: []string{"TIME", "ACTION", "pause", "resume", "reboot", "REBOOTING", "reset_state", "stop", "ago"}},
	})

	// vm logs -f prints the tail, then follows until Ctrl-C: the lines QEMU
	// writes as the VM starts again and is stopped hard come through the
	// agent and the log pipeline.
	vmLogs := d.follow(t, "vm", "logs", "-f", "-n", "3", name)
	// The tail is three lines; what comes after them is followed. The tail
	// itself may hold the lines of the stop before, so only what is printed
	// after it counts.
	tailed := wait.Value(t, 30*time.Second, "vm logs -f to print its tail of 3 lines", func() (int, bool) {
		out := vmLogs.stdout.String()
		return len(out), strings.Count(out, "\n") >= 3
	})
	d.steps(t, name, []step{
		{args: []string{"vm", "start", name}, stdout: []string{"(RUNNING)"}, domain: "running"},
		{args: []string{"vm", "stop", "-force", name}, stdout: []string{"(STOPPED)"}, domain: "shut off"},
	})
	vmLogs.waitForAfter(t, 60*time.Second, tailed, "char device redirected", "terminating on signal")
	vmLogs.interrupt(t)

	logs := decodeJSON[map[string]any](t, d.ok(t, "vm", "logs", name, "-n", "5", "-output", "json"))
	if logs["vm_name"] != name || logs["vm_id"] != id || logs["lines_returned"] == float64(0) || logs["qemu_log"] == "" {
		t.Fatalf("vm logs -output json: %v", logs)
	}

	// The followers saw what happened while they ran.
	events.waitFor(t, 30*time.Second, "PAUSED", "REBOOTING", "STOPPING", "reset_state")
	events.interrupt(t)
	for _, l := range strings.Split(strings.TrimSpace(events.stdout.String()), "\n") {
		if len(l) < 19 || l[4] != '-' || l[13] != ':' {
			t.Errorf("vm events -f line without a clock time: %q", l)
		}
	}
	eventsJSON.waitFor(t, 30*time.Second, `"new_state":"PAUSED"`, `"action":"reset_state"`)
	eventsJSON.interrupt(t)
	var lastID float64
	for _, l := range strings.Split(strings.TrimSpace(eventsJSON.stdout.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev["vm_id"] != id {
			t.Fatalf("vm events -f -output json line %q: %v", l, err)
		}
		n, _ := ev["id"].(float64)
		if s, ok := ev["event_id"].(float64); ok {
			n = s
		}
		if n <= lastID {
			t.Errorf("event %v came after %v: repeated or out of order", n, lastID)
		}
		lastID = n
	}

	// The audit entries of the calls reach the log store.
	query := wait.Value(t, 30*time.Second, "the audit entry of reset_state in the log store", func() (result, bool) {
		r := d.ok(t, "logs", "query", "-vm", name, "-source", "audit", "-limit", "100")
		return r, strings.Contains(r.stdout, "/api/vms/"+name+"/reset_state answered 200")
	})
	for _, w := range []string{"TIME", "LEVEL", "audit", "POST /api/vms/" + name + "/start answered 200 OK", "answered 409 Conflict", "WARN"} {
		if !strings.Contains(query.stdout, w) {
			t.Fatalf("logs query -vm %s -source audit lacks %q:\n%s", name, w, query)
		}
	}
	entries := decodeJSON[[]map[string]any](t, d.ok(t, "-output", "json", "logs", "query", "-vm", id, "-source", "audit", "-search", "pause", "-order", "asc"))
	if len(entries) != 2 || entries[0]["action"] != "vm.pause" || entries[1]["level"] != "warn" {
		t.Fatalf("logs query -search pause -output json: %v", entries)
	}
	r = d.ok(t, "logs", "query", "-vm", name, "-source", "audit", "-limit", "2")
	if !strings.Contains(r.stderr, "more entries match: continue with -cursor ") {
		t.Errorf("a query with more entries than -limit does not say how to go on:\n%s", r)
	}

	exp := d.ok(t, "logs", "export", "-format", "csv", "-vm", name, "-source", "audit")
	rows, err := csv.NewReader(strings.NewReader(exp.stdout)).ReadAll()
	if err != nil || len(rows) < 10 || rows[0][0] != "id" || rows[0][12] != "action" {
		t.Fatalf("logs export -format csv: %v\n%s", err, exp)
	}
	actions := map[string]bool{}
	for _, row := range rows[1:] {
		actions[row[12]] = true
		if row[7] != id {
			t.Errorf("exported row of another vm: %q", row)
		}
	}
	for _, a := range []string{"vm.create", "vm.start", "vm.pause", "vm.resume", "vm.reboot", "vm.stop", "vm.reset_state"} {
		if !actions[a] {
			t.Errorf("logs export -format csv has no %s row: %v", a, actions)
		}
	}

	// Follow the audit log while the VM is deleted.
	tail := d.follow(t, "logs", "tail", "-f", "-n", "1", "-vm", name, "-source", "audit")
	tail.waitFor(t, 30*time.Second, "audit")

	d.steps(t, name, []step{
		{args: []string{"vm", "start", name}, stdout: []string{"(RUNNING)"}, domain: "running"},
		{args: []string{"vm", "delete", name}, code: 1, stderr: []string{"RUNNING"}, domain: "running"},
		{args: []string{"vm", "delete", name, "-force"}, stdout: []string{"VM deleted (TERMINATED)"}, domain: "absent"},
		{args: []string{"vm", "show", name}, code: 1, stderr: []string{`quantix: vm "` + name + `" not found`}},
		{args: []string{"vm", "show", id}, stdout: []string{"TERMINATED"}},
		{args: []string{"vm", "list", "-q", "-state", "TERMINATED"}, stdout: []string{name}},
	})
	tail.waitFor(t, 30*time.Second, "DELETE /api/vms/"+name+" answered 409 Conflict", "DELETE /api/vms/"+name+" answered 200 OK")
	tail.interrupt(t)
	if r := d.ok(t, "vm", "list", "-q"); strings.Contains(r.stdout, name) {
		t.Errorf("vm list shows the deleted vm:\n%s", r)
	}
}

// TestCLIErrors: the exit codes and messages of what goes wrong, against a
// real daemon.
func TestCLIErrors(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	nope := vmPrefix + "nope"
	notFound := `quantix: vm "` + nope + `" not found`
	d.steps(t, nope, []step{
		{args: []string{"vm", "show", nope}, code: 1, stderr: []string{notFound}},
		{args: []string{"vm", "start", nope}, code: 1, stderr: []string{notFound}},
		{args: []string{"vm", "stop", nope, "-force"}, code: 1, stderr: []string{notFound}},
		{args: []string{"vm", "delete", nope}, code: 1, stderr: []string{notFound}},
		{args: []string{"vm", "logs", nope}, code: 1, stderr: []string{notFound}},
		{args: []string{"vm", "events", nope}, code: 1, stderr: []string{notFound}},
		{args: []string{"vm", "events", "-f", nope}, code: 1, stderr: []string{notFound}},
		{args: []string{"logs", "query", "-vm", nope}, code: 1, stderr: []string{notFound}},
		{args: []string{"node", "show", "no-such-node"}, code: 1, stderr: []string{"no-such-node"}},
		{args: []string{"vm", "create", "bad/name", "-memory", "64"}, code: 1, stderr: []string{"name:", "bad/name"}},
		{args: []string{"vm", "create", vmPrefix + "small", "-memory", "1"}, code: 1, stderr: []string{"memory_mib"}},
		{args: []string{"logs", "query", "-level", "loud"}, code: 1, stderr: []string{`level: "loud" is not one of`}},
		{args: []string{"logs", "query", "-since", "yesterday"}, code: 1, stderr: []string{`since: "yesterday"`}},
		{args: []string{"vm", "list", "-bogus"}, code: 2, stderr: []string{"flag provided but not defined: -bogus", "usage: quantix vm list"}},
		{args: []string{"vm", "stop", nope, "-timeout", "soon"}, code: 2, stderr: []string{"-timeout"}},
		{args: []string{"vm", "start"}, code: 2, stderr: []string{"missing NAME"}},
		{args: []string{"-output", "yaml", "node", "list"}, code: 2, stderr: []string{"-output"}},
		{args: []string{"vm", "frobnicate", nope}, code: 2, stderr: []string{`unknown command "frobnicate"`}},
		{args: []string{"logs", "export", "-format", "xml"}, code: 2, stderr: []string{"-format"}},
		{args: []string{"version"}, stdout: []string{"quantix ", "server: quantixd "}},
	})

	// A server that cannot be reached, named by the flag or the
	// environment: exit 1, saying where it tried.
	gone := "http://" + freeAddr(t)
	for _, r := range []result{
		runCLI(t, cliEnv(), "-address", gone, "vm", "list"),
		runCLI(t, cliEnv(envAddress+"="+gone), "node", "list"),
		runCLI(t, cliEnv(envAddress+"="+gone), "vm", "events", "-f", "x"),
		runCLI(t, cliEnv(), "vm", "show", "x", "-address", gone),
	} {
		if r.code != 1 || !strings.Contains(r.stderr, "cannot reach the quantix API at "+gone) {
			t.Errorf("unreachable %s: %s", gone, r)
		}
	}
	// The follow modes end cleanly on SIGINT even when nothing happens.
	f := d.follow(t, "logs", "tail", "-f", "-n", "0", "-source", "ui")
	f.waitConnected(t, d)
	f.interrupt(t)
	if out := f.stdout.String(); out != "" {
		t.Errorf("logs tail -f -source ui printed %q with no ui entries", out)
	}
}

// TestCLIExportFormats: every export format streams what logs query shows.
func TestCLIExportFormats(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	// A refused call makes an audit entry without touching libvirt.
	d.quantix(t, "vm", "start", vmPrefix+"ghost")
	entries := wait.Value(t, 30*time.Second, "the audit entry of a refused start in the log store", func() ([]map[string]any, bool) {
		es := decodeJSON[[]map[string]any](t, d.ok(t, "-output", "json", "logs", "query", "-source", "audit", "-search", "ghost"))
		return es, len(es) > 0
	})
	if len(entries) != 1 {
		t.Fatalf("the audit entry of a refused start: %v", entries)
	}
	idOf := entries[0]["id"].(string)
	cases := []struct {
		format string
		check  func(out string) bool
	}{
		{"json", func(out string) bool {
			var list []map[string]any
			return json.Unmarshal([]byte(out), &list) == nil && len(list) == 1 && list[0]["id"] == idOf
		}},
		{"csv", func(out string) bool {
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			return err == nil && len(rows) == 2 && rows[1][0] == idOf
		}},
		{"txt", func(out string) bool {
			return strings.Count(out, "\n") == 1 && strings.Contains(out, "[WARN] [audit] POST /api/vms/"+vmPrefix+"ghost/start answered 404")
		}},
	}
	for _, c := range cases {
		r := d.ok(t, "logs", "export", "-format", c.format, "-source", "audit", "-search", "ghost")
		if !c.check(r.stdout) {
			t.Errorf("logs export -format %s:\n%s", c.format, r)
		}
	}
	path := t.TempDir() + "/out.csv"
	d.ok(t, "logs", "export", "-format", "csv", "-source", "audit", "-search", "ghost", "-o", path)
	if b, err := os.ReadFile(path); err != nil || !strings.Contains(string(b), idOf) {
		t.Errorf("logs export -o %s: %v %q", path, err, b)
	}
}

// TestCLIAdopt: a domain defined with virsh shows up host-discovered and
// read-only; adopt makes it managed, and it can then be deleted.
func TestCLIAdopt(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	name := vmPrefix + "adopt-" + testid.Hex(4)
	t.Cleanup(func() {
		if err := testlibvirt.RemoveDomain(name); err != nil {
			t.Errorf("removing domain %s: %v", name, err)
		}
	})
	path := filepath.Join(t.TempDir(), name+".xml")
	if err := os.WriteFile(path, []byte(testlibvirt.ForeignDomainXML(name)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("virsh", "-c", testlibvirt.QEMUURI, "define", path).CombinedOutput(); err != nil {
		t.Fatalf("virsh define: %v\n%s", err, out)
	}
	wait.Until(t, 20*time.Second, name+" defined with virsh to be listed as host-discovered", func() bool {
		return strings.Contains(d.ok(t, "vm", "list", "-q", "-origin", "host-discovered").stdout, name+"\n")
	})
	d.steps(t, name, []step{
		{args: []string{"vm", "show", name}, stdout: []string{"Origin:          host-discovered", "Managed:         no"}},
		{args: []string{"vm", "start", name}, code: 1, stderr: []string{"not managed by quantix", "adopt it first"}, domain: "shut off"},
		{args: []string{"vm", "adopt", name}, stdout: []string{name + ": "}},
		{args: []string{"vm", "show", name}, stdout: []string{"Origin:          imported", "Managed:         yes"}},
		{args: []string{"vm", "adopt", name}, code: 1, stderr: []string{name}},
		{args: []string{"vm", "delete", name}, stdout: []string{"(TERMINATED)"}, domain: "absent"},
	})
}
