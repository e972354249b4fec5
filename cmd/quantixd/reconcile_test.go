package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/hostlock"
	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/wait"
)

// The tests of this file check reconciliation end to end: quantixd
// processes (dev, or server and agent apart) driving real QEMU through
// libvirtd, the host changed behind Quantix's back with virsh. Another
// test package restarts libvirtd during its run, so every virsh call here
// is retried through a short outage.

// recPrefix starts the name of every domain these tests make; TestMain
// sweeps leftovers.
const recPrefix = "qx-rec-"

// virshRetry runs virsh on qemu:///system, retrying for up to 30s while
// libvirtd cannot be reached.
func virshRetry(t testing.TB, args ...string) string {
	t.Helper()
	out, err := virshTry(args...)
	if err != nil {
		t.Fatalf("virsh %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func virshTry(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out string
	var runErr error
	_ = wait.Poll(ctx, func() error {
		b, err := exec.Command("virsh", append([]string{"-c", testlibvirt.QEMUURI}, args...)...).CombinedOutput()
		out, runErr = strings.TrimSpace(string(b)), err
		unreachable := strings.Contains(out, "Failed to connect") || strings.Contains(out, "failed to connect") ||
			strings.Contains(out, "End of file while reading data") || strings.Contains(out, "Cannot recv data")
		if err != nil && unreachable {
			return err
		}
		return nil
	})
	if runErr != nil {
		return out, fmt.Errorf("%w: %s", runErr, out)
	}
	return out, nil
}

// recName returns a unique domain name removed when the test ends,
// whatever happened.
func recName(t testing.TB) string {
	name := recPrefix + testid.Hex(4)
	t.Cleanup(func() {
		if _, err := virshTry("list"); err != nil {
			t.Errorf("libvirtd unreachable at cleanup, %s may be left: %v", name, err)
			return
		}
		if err := testlibvirt.RemoveDomain(name); err != nil {
			t.Errorf("removing domain %s: %v", name, err)
		}
	})
	return name
}

// defineForeign defines a domain with virsh, as someone outside Quantix
// would: 64 MiB, no disk (it boots into the firmware).
func defineForeign(t testing.TB, name string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".xml")
	if err := os.WriteFile(path, []byte(testlibvirt.ForeignDomainXML(name)), 0o644); err != nil {
		t.Fatal(err)
	}
	virshRetry(t, "define", path)
}

// writeRecConfig writes the config of a reconciliation test daemon: the
// libvirt plugin on qemu:///system, SQLite under dir, the join token, and
// agent timing short enough for a test.
func writeRecConfig(t testing.TB, dir, token, heartbeat string) string {
	t.Helper()
	cfg := fmt.Sprintf(`log_level = "debug"
data_dir  = %q
server {
  join_token = %q
}
agent {
  join_token         = %q
  ca_cert            = %q
  heartbeat_interval = %q
  sync_jitter        = "200ms"
}
plugin "libvirt" {
  config {
    uri       = %q
    image_dir = %q
  }
}
`, dir, token, token, filepath.Join(dir, "pki", "agents", "ca.crt"), heartbeat, testlibvirt.QEMUURI, e2e.imageDir)
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitVM polls GET /api/vms/{ref} until cond holds, and returns the reply
// and how long it took.
func (p *proc) waitVM(t testing.TB, ref string, within time.Duration, what string, cond func(resp) bool) (resp, time.Duration) {
	t.Helper()
	began := time.Now()
	var last resp
	wait.UntilNil(t, within, what, func() error {
		if last = p.call(t, "GET", "/api/vms/"+ref, ""); last.status != http.StatusOK || !cond(last) {
			return fmt.Errorf("last reply %d %s", last.status, last.raw)
		}
		return nil
	})
	return last, time.Since(began)
}

// act sends a request that reaches the host and fails unless the status
// is want; while libvirtd restarts (502 or 503 from the backend) it is
// retried for up to 30s.
func (p *proc) act(t testing.TB, want int, method, path, body string) resp {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var r resp
	_ = wait.Poll(ctx, func() error {
		r = p.call(t, method, path, body)
		if (r.status == http.StatusBadGateway || r.status == http.StatusServiceUnavailable) && want != r.status {
			return fmt.Errorf("status %d", r.status)
		}
		return nil
	})
	if r.status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r
}

func stateIs(s string) func(resp) bool { return func(r resp) bool { return r.str("state") == s } }

// vmByName finds a listed VM by name.
func (p *proc) vmByName(t testing.TB, name string) (map[string]any, bool) {
	t.Helper()
	for _, v := range p.must(t, http.StatusOK, "GET", "/api/vms?limit=1000", "").body["vms"].([]any) {
		m := v.(map[string]any)
		if m["name"] == name {
			return m, true
		}
	}
	return nil, false
}

// TestE2EHostChanges: what virsh does behind Quantix's back shows in the
// API within a second: a foreign VM appears host-discovered and unmanaged,
// a managed VM destroyed is STOPPED, a managed VM undefined is LOST.
func TestE2EHostChanges(t *testing.T) {
	requireE2E(t)
	dir := t.TempDir()
	d := startDaemon(t, "dev", "-config", writeRecConfig(t, dir, "", "1s"))

	// A domain defined and started outside Quantix.
	foreign := recName(t)
	defineForeign(t, foreign)
	began := time.Now()
	v := wait.Value(t, time.Second, foreign+" defined with virsh to be listed", func() (map[string]any, bool) { return d.vmByName(t, foreign) })
	t.Logf("foreign vm listed %s after virsh define", time.Since(began).Round(time.Millisecond))
	if v["origin"] != "host-discovered" || v["is_managed"] != false || v["state"] != "STOPPED" {
		t.Errorf("foreign vm: %v; want host-discovered, unmanaged, STOPPED", v)
	}
	id := v["id"].(string)
	virshRetry(t, "start", foreign)
	r, took := d.waitVM(t, id, time.Second, "foreign vm running", stateIs("RUNNING"))
	t.Logf("foreign vm RUNNING %s after virsh start", took.Round(time.Millisecond))
	if r.str("origin") != "host-discovered" || r.body["is_managed"] != false {
		t.Errorf("foreign vm after start: %s", r.raw)
	}
	d.must(t, http.StatusConflict, "POST", "/api/vms/"+id+"/stop", "")

	// A managed VM destroyed with virsh.
	name := recName(t)
	mid := d.act(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+name+`","vcpus":1,"memory_mib":64}`).str("id")
	d.act(t, http.StatusOK, "POST", "/api/vms/"+mid+"/start", "")
	virshRetry(t, "destroy", name)
	r, took = d.waitVM(t, mid, time.Second, "managed vm stopped by virsh destroy", stateIs("STOPPED"))
	t.Logf("managed vm STOPPED %s after virsh destroy returned; desired_state %s", took.Round(time.Millisecond), r.str("desired_state"))

	// A managed VM undefined with virsh: LOST, with a reason, kept.
	virshRetry(t, "undefine", name)
	r, took = d.waitVM(t, mid, 2*time.Second, "managed vm lost by virsh undefine", stateIs("LOST"))
	t.Logf("managed vm LOST %s after virsh undefine", took.Round(time.Millisecond))
	if r.str("lost_reason") == "" || r.str("lost_at") == "" || r.body["is_managed"] != true {
		t.Errorf("lost vm: %s; want lost_reason and lost_at set", r.raw)
	}
	d.stop(t)
}

// TestE2ELibvirtdRestart: libvirtd restarted under a running daemon; the
// plugin reconnects, the agent resyncs, and later changes are still seen
// without restarting Quantix.
func TestE2ELibvirtdRestart(t *testing.T) {
	hostlock.LibvirtdRestart(t)
	requireE2E(t)
	dir := t.TempDir()
	d := startDaemon(t, "dev", "-config", writeRecConfig(t, dir, "", "1s"))
	name := recName(t)
	id := d.act(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+name+`","vcpus":1,"memory_mib":64}`).str("id")
	d.act(t, http.StatusOK, "POST", "/api/vms/"+id+"/start", "")

	restartLibvirtd(t)
	d.waitLog(t, 30*time.Second, "backend asked for a resync")

	// The VM kept running; a change made now is seen.
	if r := d.must(t, http.StatusOK, "GET", "/api/vms/"+id, ""); r.str("state") != "RUNNING" {
		t.Errorf("after the restart: %s", r.raw)
	}
	virshRetry(t, "destroy", name)
	_, took := d.waitVM(t, id, 2*time.Second, "destroy after the libvirtd restart", stateIs("STOPPED"))
	t.Logf("STOPPED %s after virsh destroy, libvirtd restarted before", took.Round(time.Millisecond))
	d.act(t, http.StatusOK, "POST", "/api/vms/"+id+"/start", "")
	if s := domState(t, name); s != "running" {
		t.Errorf("virsh says %s is %q after a start through the api", name, s)
	}
	d.act(t, http.StatusOK, "DELETE", "/api/vms/"+id+"?force=true", "")
	d.stop(t)
}

// TestE2EPluginKilled: the backend plugin killed with SIGKILL is relaunched,
// the agent resyncs, no VM is reported LOST meanwhile, and changes are seen
// again.
func TestE2EPluginKilled(t *testing.T) {
	requireE2E(t)
	dir := t.TempDir()
	d := startDaemon(t, "dev", "-config", writeRecConfig(t, dir, "", "1s"))
	name := recName(t)
	id := d.act(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+name+`","vcpus":1,"memory_mib":64}`).str("id")
	d.act(t, http.StatusOK, "POST", "/api/vms/"+id+"/start", "")

	pid := pluginPID(t, d.cmd.Process.Pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Watch the VM through the relaunch, until the agent lists the VMs
	// again, and for a second more: the full sync is sent as soon as the
	// listing is done.
	running := func() bool {
		if r := d.must(t, http.StatusOK, "GET", "/api/vms/"+id, ""); r.str("state") != "RUNNING" {
			t.Fatalf("while the plugin was relaunched: %s", r.raw)
		}
		return true
	}
	wait.Until(t, 10*time.Second, "the agent to list the VMs again after the relaunch", func() bool {
		return running() && d.logHas("backend plugin relaunched: listing every vm again")
	})
	wait.Stays(t, time.Second, "the vm RUNNING through the full sync after the relaunch", running)
	d.waitLog(t, 10*time.Second, "plugin relaunched")
	if next := pluginPID(t, d.cmd.Process.Pid); next == pid {
		t.Fatalf("plugin pid %d unchanged", pid)
	}
	virshRetry(t, "destroy", name)
	d.waitVM(t, id, 2*time.Second, "destroy after the relaunch", stateIs("STOPPED"))
	d.act(t, http.StatusOK, "DELETE", "/api/vms/"+id, "")
	d.stop(t)
}

// TestE2EServerAndAgent: `quantixd server` and `quantixd agent` as
// separate processes. The agent killed: its node goes UNREACHABLE and its
// VMs UNKNOWN, actions answer 503 at once; started again: states come back
// with no duplicate; the server restarted: the agent reconnects by itself.
func TestE2EServerAndAgent(t *testing.T) {
	requireE2E(t)
	dir := t.TempDir()
	cfg := writeRecConfig(t, dir, "tok-"+testid.Hex(8), "1s")
	s := startDaemon(t, "server", "-config", cfg)
	node := "qx-rec-node-" + testid.Hex(3)
	startAgent := func() *proc {
		a := spawn(t, "agent", "-config", cfg, "-servers", s.rpc, "-node-name", node)
		s.waitNode(t, node, 20*time.Second, "READY")
		return a
	}
	a := startAgent()
	name := recName(t)
	id := s.act(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+name+`","vcpus":1,"memory_mib":64}`).str("id")
	s.act(t, http.StatusOK, "POST", "/api/vms/"+id+"/start", "")
	// Other tests' domains on the shared libvirtd are discovered too, so
	// duplicates are counted for this test's VM only.
	if n := recordsNamed(t, s, name); n != 1 {
		t.Fatalf("%d records named %s after create, want 1", n, name)
	}

	// The agent dies: its node and its VMs follow.
	if err := syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	began := time.Now()
	r := s.call(t, "POST", "/api/vms/"+id+"/stop", "")
	if r.status != http.StatusServiceUnavailable || time.Since(began) > time.Second {
		t.Errorf("stop with the agent dead: %d after %s: %s; want 503 within 1s", r.status, time.Since(began), r.raw)
	}
	s.waitNode(t, node, 20*time.Second, "UNREACHABLE")
	r, _ = s.waitVM(t, id, 20*time.Second, "vm of the dead agent", stateIs("UNKNOWN"))
	t.Logf("node UNREACHABLE and vm UNKNOWN %s after the agent died", time.Since(began).Round(time.Millisecond))
	if r.str("last_known_state") != "RUNNING" {
		t.Errorf("unknown vm: %s; want last_known_state RUNNING", r.raw)
	}

	// The agent again: states restored, one record per VM.
	a = startAgent()
	s.waitVM(t, id, 10*time.Second, "vm restored", stateIs("RUNNING"))
	if n := recordsNamed(t, s, name); n != 1 {
		t.Errorf("%d records named %s after the agent came back, want 1", n, name)
	}

	// The server restarted: the agent reconnects on its own.
	rpcAddr, httpAddr := s.rpc, strings.TrimPrefix(s.url, "http://")
	s.stop(t)
	s = startDaemon(t, "server", "-config", cfg, "-rpc-addr", rpcAddr, "-http-addr", httpAddr)
	s.waitNode(t, node, 20*time.Second, "READY")
	r = s.must(t, http.StatusOK, "POST", "/api/vms/"+id+"/stop?force=true", "")
	if r.str("vm.state") != "STOPPED" || domState(t, name) != "shut off" {
		t.Errorf("stop through the reconnected agent: %s", r.raw)
	}
	if n := recordsNamed(t, s, name); n != 1 {
		t.Errorf("%d records named %s after the server restart, want 1", n, name)
	}
	s.must(t, http.StatusOK, "DELETE", "/api/vms/"+id, "")
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not exit within 30s of SIGTERM")
	}
	if a.err != nil {
		t.Errorf("the agent exited with %v", a.err)
	}
	s.stop(t)
}

// TestE2EAgentWrongToken: a wrong join token is refused by the server, and
// both logs say so.
func TestE2EAgentWrongToken(t *testing.T) {
	requireE2E(t)
	dir := t.TempDir()
	s := startDaemon(t, "server", "-config", writeRecConfig(t, dir, "right-"+testid.Hex(4), "1s"))
	other := t.TempDir()
	a := spawn(t, "agent", "-config", writeRecConfig(t, other, "wrong", "1s"), "-servers", s.rpc, "-node-name", "qx-rec-intruder",
		"-ca-cert", filepath.Join(dir, "pki", "agents", "ca.crt"))
	a.waitLog(t, 20*time.Second, "join token refused")
	a.waitLog(t, 5*time.Second, "quantix node token create")
	s.waitLog(t, 5*time.Second, "enrollment refused: join token not accepted")
	if n := s.must(t, http.StatusOK, "GET", "/api/nodes", ""); len(n.body["nodes"].([]any)) != 0 {
		t.Errorf("a refused agent registered a node: %s", n.raw)
	}
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-a.done
	s.stop(t)
}

// waitNode waits until the node called name is in state.
func (p *proc) waitNode(t *testing.T, name string, within time.Duration, state string) {
	t.Helper()
	wait.UntilNil(t, within, fmt.Sprintf("node %s to be %s", name, state), func() error {
		r := p.must(t, http.StatusOK, "GET", "/api/nodes", "")
		for _, n := range r.body["nodes"].([]any) {
			m := n.(map[string]any)
			if m["name"] == name && m["state"] == state {
				return nil
			}
		}
		return fmt.Errorf("nodes: %s", r.raw)
	})
}

// waitLog waits until the process's log has a line containing text.
func (p *proc) waitLog(t testing.TB, within time.Duration, text string) {
	t.Helper()
	wait.Until(t, within, fmt.Sprintf("%q in the log", text), func() bool { return p.logHas(text) })
}

// logHas says whether the process's log holds text.
func (p *proc) logHas(text string) bool {
	b, err := os.ReadFile(p.log)
	return err == nil && strings.Contains(string(b), text)
}

// pluginPID returns the pid of the backend plugin process quantixd pid
// runs.
func pluginPID(t *testing.T, pid int) int {
	t.Helper()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, c := range strings.Fields(string(b)) {
			cmdline, err := os.ReadFile("/proc/" + c + "/cmdline")
			if err == nil && strings.Contains(string(cmdline), "quantix-backend-libvirt") {
				n, _ := strconv.Atoi(c)
				return n
			}
		}
	}
	t.Fatalf("no quantix-backend-libvirt child of quantixd %d", pid)
	return 0
}

// restartLibvirtd stops libvirtd and starts it again, tolerating another
// test package doing the same meanwhile.
func restartLibvirtd(t *testing.T) {
	t.Helper()
	const pidFile = "/run/libvirtd.pid"
	readPid := func() (int, error) {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(strings.TrimSpace(string(b)))
	}
	alive := func(pid int) bool { return syscall.Kill(pid, 0) == nil }
	pid, err := readPid()
	if err != nil || !alive(pid) {
		t.Fatalf("no running libvirtd in %s (%v): run `make deps`", pidFile, err)
	}
	t.Cleanup(func() {
		if p, err := readPid(); err == nil && alive(p) {
			return
		}
		_ = exec.Command("libvirtd", "-d").Run()
	})
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("stopping libvirtd %d: %v", pid, err)
	}
	wait.Until(t, 30*time.Second, fmt.Sprintf("libvirtd %d to exit after SIGTERM", pid), func() bool { return !alive(pid) })
	if p, err := readPid(); err == nil && p != pid && alive(p) {
		return // someone else started it already
	}
	if out, err := exec.Command("libvirtd", "-d").CombinedOutput(); err != nil {
		if p, perr := readPid(); perr == nil && alive(p) {
			return
		}
		t.Fatalf("starting libvirtd: %v: %s", err, out)
	}
	if _, err := virshTry("version"); err != nil {
		t.Fatalf("libvirtd does not answer after the restart: %v", err)
	}
}

// recordsNamed counts the inventory's VM records called name, across every
// page of the list.
func recordsNamed(t *testing.T, p *proc, name string) int {
	t.Helper()
	n, cursor := 0, ""
	for {
		r := p.must(t, http.StatusOK, "GET", "/api/vms?limit=1000&cursor="+url.QueryEscape(cursor), "")
		for _, v := range r.body["vms"].([]any) {
			if v.(map[string]any)["name"] == name {
				n++
			}
		}
		next, _ := r.body["next_cursor"].(string)
		if next == "" {
			return n
		}
		cursor = next
	}
}
