package agent_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agent"
	"github.com/quantixvm/quantix/core/agent/nodecert"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/testenroll"
	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/wait"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

func spec(name string) backend.VMSpec {
	return backend.VMSpec{Name: name, VCPUs: 1, MemoryMiB: 64}
}

// connected starts a server, the test-driver plugin and an agent with no
// sync jitter, and waits for the agent's first full sync.
func connected(t *testing.T, cfg agent.Config) (*server, *testlibvirt.TestDriverBackend, *agent.Agent) {
	t.Helper()
	srv := startServer(t, "")
	b := testlibvirt.LaunchTestDriver(t)
	cfg.Servers = []string{srv.addr}
	cfg.Backend = b
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 200 * time.Millisecond
	}
	a := runAgent(t, cfg)
	srv.rec.waitReport(t, 0, 10*time.Second, "first full sync", fullSyncWith(testDomain))
	return srv, b, a
}

// TestAgentReportsEventsAtOnce: each lifecycle event reaches the server as
// a change with the VM's state at once.
func TestAgentReportsEventsAtOnce(t *testing.T) {
	srv, b, a := connected(t, agent.Config{})
	ctx := context.Background()
	reg := srv.rec.all()[0]
	if reg.kind != "register" || reg.reg.Host.Hostname == "" || reg.reg.Backend.Name != "libvirt" || !reg.reg.Backend.Healthy ||
		reg.reg.Address != "127.0.0.1" || reg.reg.HeartbeatInterval != 200*time.Millisecond {
		t.Errorf("registration: %+v", reg.reg)
	}
	if st := a.Status(); !st.Connected || st.NodeID != reg.node || st.Sessions != 1 {
		t.Errorf("status: %+v", st)
	}

	step := func(what string, state backend.PowerState, do func() (string, error)) string {
		t.Helper()
		from := srv.rec.mark()
		id, err := do()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		done := time.Now()
		rep := srv.rec.waitReport(t, from, time.Second, what, changeOf(id, state))
		t.Logf("%s reported %s after the backend call returned", what, rep.at.Sub(done).Round(time.Microsecond))
		return id
	}
	id := step("create", backend.StateStopped, func() (string, error) {
		x, err := b.CreateVM(ctx, spec("ev-"+testid.Hex(3)))
		if err != nil {
			return "", err
		}
		return x.ID, nil
	})
	step("start", backend.StateRunning, func() (string, error) { _, err := b.StartVM(ctx, id); return id, err })
	step("pause", backend.StatePaused, func() (string, error) { _, err := b.PauseVM(ctx, id); return id, err })
	step("stop", backend.StateStopped, func() (string, error) {
		_, err := b.StopVM(ctx, id, backend.StopOptions{Force: true})
		return id, err
	})
	step("delete", "", func() (string, error) { return id, b.DeleteVM(ctx, id, backend.DeleteOptions{}) })
}

// TestAgentRunsCommands: the dispatcher's commands reach the backend
// through the session and their results come back with their kinds.
func TestAgentRunsCommands(t *testing.T) {
	srv, _, a := connected(t, agent.Config{})
	ctx := context.Background()
	node := a.Status().NodeID
	exec := func(cmd nodeapi.Command) *nodeapi.Result {
		t.Helper()
		res, err := srv.disp.Execute(ctx, node, cmd)
		if err != nil {
			t.Fatalf("%s: %v", cmd.Op, err)
		}
		return res
	}
	s := spec("cmd-" + testid.Hex(3))
	res := exec(nodeapi.Command{Op: agentv1.Op_OP_CREATE, Spec: &s})
	if res.VM == nil || res.VM.Name != s.Name || res.VM.State != backend.StateStopped || !res.VM.Managed {
		t.Fatalf("create: %+v", res.VM)
	}
	id := res.VM.ID
	for _, c := range []struct {
		op   agentv1.Op
		want backend.PowerState
	}{
		{agentv1.Op_OP_START, backend.StateRunning},
		{agentv1.Op_OP_PAUSE, backend.StatePaused},
		{agentv1.Op_OP_RESUME, backend.StateRunning},
		{agentv1.Op_OP_GET, backend.StateRunning},
		{agentv1.Op_OP_REBOOT, backend.StateRunning},
	} {
		if res := exec(nodeapi.Command{Op: c.op, VMID: id}); res.VM == nil || res.VM.ID != id || res.VM.State != c.want {
			t.Errorf("%s: %+v, want %s", c.op, res.VM, c.want)
		}
	}
	if res := exec(nodeapi.Command{Op: agentv1.Op_OP_TAIL_LOG, VMID: id, Lines: 10}); res.Log == nil {
		t.Error("tail_log: no tail")
	}
	if res := exec(nodeapi.Command{Op: agentv1.Op_OP_STOP, VMID: id, Stop: backend.StopOptions{Force: true}}); res.VM.State != backend.StateStopped {
		t.Errorf("stop: %+v", res.VM)
	}
	_, err := srv.disp.Execute(ctx, node, nodeapi.Command{Op: agentv1.Op_OP_PAUSE, VMID: id})
	if !errors.Is(err, plugin.ErrConflict) || !strings.Contains(err.Error(), "STOPPED") && !strings.Contains(strings.ToLower(err.Error()), "stopped") {
		t.Errorf("pausing a stopped vm: %v; want the backend's conflict", err)
	}
	_, err = srv.disp.Execute(ctx, node, nodeapi.Command{Op: agentv1.Op_OP_TAIL_LOG, VMID: id, Lines: 0})
	if plugin.FieldOf(err) != "lines" {
		t.Errorf("tail_log of 0 lines: %v; want an invalid argument naming lines", err)
	}
	exec(nodeapi.Command{Op: agentv1.Op_OP_DELETE, VMID: id})
	_, err = srv.disp.Execute(ctx, node, nodeapi.Command{Op: agentv1.Op_OP_GET, VMID: id})
	if !errors.Is(err, plugin.ErrNotFound) {
		t.Errorf("get after delete: %v; want not found", err)
	}
}

// TestAgentHeartbeats: heartbeats carry the state hash of what the agent
// sees and the backend's health; a reply asking for a full sync gets one.
func TestAgentHeartbeats(t *testing.T) {
	srv, b, _ := connected(t, agent.Config{})
	first := srv.rec.waitReport(t, 0, 10*time.Second, "full sync", isKind("full_sync"))
	states := map[string]vm.State{}
	for _, v := range first.vms {
		states[v.ID] = vm.HostState(string(v.State))
	}
	from := srv.rec.mark()
	hb := srv.rec.waitReport(t, from, 2*time.Second, "heartbeat", isKind("heartbeat"))
	if hb.hb.StateHash != vm.StateHash(states) || hb.hb.VMCount != len(states) || !hb.hb.Backend.Healthy || hb.hb.Backend.Name != "libvirt" {
		t.Errorf("heartbeat %+v does not match the full sync %s", hb.hb, describe([]report{first}))
	}

	// The server's view differs: a full sync follows the heartbeat reply.
	srv.rec.setAskFullSync(true)
	from = srv.rec.mark()
	srv.rec.waitReport(t, from, 2*time.Second, "full sync asked for by a heartbeat reply", isKind("full_sync"))
	srv.rec.setAskFullSync(false)

	// What the agent sees changes: so does the hash of the next heartbeat.
	x, err := b.CreateVM(context.Background(), spec("hb-"+testid.Hex(3)))
	if err != nil {
		t.Fatal(err)
	}
	states[x.ID] = vm.StateStopped
	from = srv.rec.mark()
	srv.rec.waitReport(t, from, 2*time.Second, "heartbeat with the new vm's hash", func(r report) bool {
		return r.kind == "heartbeat" && r.hb.StateHash == vm.StateHash(states) && r.hb.VMCount == len(states)
	})
}

// TestAgentWrongJoinToken: a join token the server does not know is
// refused with an error naming the fix; the agent keeps trying, so once
// the server takes the token the agent enrolls, keeps its key and
// certificate (mode 0600) and connects with them.
func TestAgentWrongJoinToken(t *testing.T) {
	srv := startServer(t, "")
	b := testlibvirt.LaunchTestDriver(t)
	token := testenroll.Token(srv.cluster.ca, "wrong")
	dir := t.TempDir()
	a := runAgent(t, agent.Config{Servers: []string{srv.addr}, JoinToken: token, CertDir: dir, Backend: b, MaxBackoff: 300 * time.Millisecond})
	wait.Until(t, 5*time.Second, "the agent sees the refusal", func() bool { return a.Status().LastError != nil })
	err := a.Status().LastError
	if !strings.Contains(err.Error(), "join token refused") || !strings.Contains(err.Error(), "quantix node token create") {
		t.Errorf("agent's error: %v; want it to say the join token was refused and how to make one", err)
	}
	// The agent retries every 300ms at most: a second covers several
	// refused attempts.
	wait.Stays(t, time.Second, "a refused agent kept from the handler", func() bool {
		if n := srv.rec.mark(); n != 0 || a.Status().Connected {
			t.Logf("a refused agent reached the handler (connected: %v): %s", a.Status().Connected, describe(srv.rec.all()))
			return false
		}
		return true
	})
	if _, err := os.Stat(filepath.Join(dir, nodecert.CertFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused agent has a certificate file: %v", err)
	}
	srv.cluster.records.AddToken(token, 1)
	srv.rec.waitReport(t, 0, 5*time.Second, "registration once the token is taken", isKind("register"))
	for _, f := range []string{nodecert.KeyFile, nodecert.CertFile, nodecert.CAFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want mode 0600", f, err, fi.Mode().Perm())
		}
	}
	id, err := nodecert.Load(dir)
	if err != nil {
		t.Fatalf("the certificate kept: %v", err)
	}
	for _, r := range srv.rec.all() {
		if r.kind == "register" && r.reg.NodeName != id.Node() {
			t.Errorf("registered as %q with a certificate for %q", r.reg.NodeName, id.Node())
		}
	}
}

// TestAgentReconnects: when the server goes away the agent reconnects with
// backoff, registers again (a new session) and sends a full sync.
func TestAgentReconnects(t *testing.T) {
	const maxBackoff = 300 * time.Millisecond
	srv, _, a := connected(t, agent.Config{MaxBackoff: maxBackoff})
	first := a.Status()
	srv.stop(t)
	wait.Until(t, 2*time.Second, "the agent notices", func() bool { return !a.Status().Connected })
	// Several failed attempts, each a connection that a listener in the
	// server's place closes at once: the backoff (from 200ms, doubling)
	// grows to its cap.
	refuser := listen(t, srv.addr)
	var attempts atomic.Int32
	go func() {
		for {
			c, err := refuser.Accept()
			if err != nil {
				return
			}
			attempts.Add(1)
			_ = c.Close()
		}
	}()
	wait.Until(t, 10*time.Second, "four failed attempts to reach the server", func() bool { return attempts.Load() >= 4 })
	if err := refuser.Close(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	next := startServer(t, srv.addr)
	next.rec.waitReport(t, 0, 3*time.Second, "registration with the new server", isKind("register"))
	t.Logf("registered again %s after the server came back", time.Since(began).Round(time.Millisecond))
	next.rec.waitReport(t, 0, 5*time.Second, "full sync to the new server", fullSyncWith(testDomain))
	st := a.Status()
	if !st.Connected || st.SessionID == first.SessionID || st.Sessions != 2 {
		t.Errorf("status after reconnecting: %+v (first session %s)", st, first.SessionID)
	}
}

// TestAgentKeepsLatestStateOnly: what changes while the agent is
// disconnected reaches the new session as the full sync's latest state, not
// as a replay of each change.
func TestAgentKeepsLatestStateOnly(t *testing.T) {
	srv, b, a := connected(t, agent.Config{MaxBackoff: 300 * time.Millisecond})
	ctx := context.Background()
	x, err := b.CreateVM(ctx, spec("latest-"+testid.Hex(3)))
	if err != nil {
		t.Fatal(err)
	}
	srv.rec.waitReport(t, 0, time.Second, "create", changeOf(x.ID, backend.StateStopped))

	srv.stop(t)
	applied := a.EventsApplied()
	for _, f := range []func() (*backend.VM, error){
		func() (*backend.VM, error) { return b.StartVM(ctx, x.ID) },
		func() (*backend.VM, error) { return b.PauseVM(ctx, x.ID) },
		func() (*backend.VM, error) { return b.ResumeVM(ctx, x.ID) },
		func() (*backend.VM, error) { return b.StopVM(ctx, x.ID, backend.StopOptions{Force: true}) },
		func() (*backend.VM, error) { return b.StartVM(ctx, x.ID) },
		func() (*backend.VM, error) { return b.PauseVM(ctx, x.ID) },
	} {
		if _, err := f(); err != nil {
			t.Fatal(err)
		}
	}
	// Each step is one event; they all reach the agent before a server is
	// there again.
	wait.Until(t, 5*time.Second, "the six events applied by the agent", func() bool {
		return a.EventsApplied() >= applied+6 && a.VMState(x.ID) == backend.StatePaused
	})
	next := startServer(t, srv.addr)
	sync := next.rec.waitReport(t, 0, 5*time.Second, "full sync", fullSyncWith(x.ID))
	i := slices.IndexFunc(sync.vms, func(v *backend.VM) bool { return v.ID == x.ID })
	if sync.vms[i].State != backend.StatePaused {
		t.Errorf("full sync has %s %s, want PAUSED", x.Name, sync.vms[i].State)
	}
	next.rec.noReport(t, 0, 500*time.Millisecond, "no change made while disconnected replayed", isKind("change"))
}

// TestAgentResyncsAfterPluginKill: the backend plugin killed with SIGKILL
// is relaunched by the host; the agent lists every VM again and sends a
// full sync, and never reports a VM gone because the plugin was.
func TestAgentResyncsAfterPluginKill(t *testing.T) {
	srv, b, _ := connected(t, agent.Config{})
	pid := b.Status().PID
	from := srv.rec.mark()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "relaunch", func() bool { st := b.Status(); return st.Healthy && st.Restarts >= 1 })
	relaunched := time.Now()
	sync := srv.rec.waitReport(t, from, 5*time.Second, "full sync after the relaunch", isKind("full_sync"))
	if !lists(sync.vms, testDomain) {
		t.Errorf("full sync after the relaunch misses the test domain: %s", describe([]report{sync}))
	}
	t.Logf("full sync %s after the relaunch", sync.at.Sub(relaunched).Round(time.Millisecond))
	for _, r := range srv.rec.all()[from:] {
		if r.kind == "change" && r.change.Gone {
			t.Errorf("a vm reported gone across the plugin's relaunch: %s", describe([]report{r}))
		}
		if r.kind == "full_sync" && r.at.Before(relaunched) && !lists(r.vms, testDomain) {
			t.Errorf("a full sync without the test domain while the plugin was down: %s", describe([]report{r}))
		}
	}
	srv.rec.waitReport(t, from, 5*time.Second, "healthy heartbeat after the relaunch", func(r report) bool {
		return r.kind == "heartbeat" && r.at.After(relaunched.Add(300*time.Millisecond)) && r.hb.Backend.Healthy
	})
}

// TestAgentSyncJitter: after each (re)connect the full sync waits a random
// delay below sync_jitter, even when heartbeat replies ask for one sooner.
func TestAgentSyncJitter(t *testing.T) {
	const jitter = 800 * time.Millisecond
	srv := startServer(t, "")
	b := testlibvirt.LaunchTestDriver(t)
	runAgent(t, agent.Config{Servers: []string{srv.addr}, Backend: b, SyncJitter: jitter, MaxBackoff: 200 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond})
	var delays []time.Duration
	addr := srv.addr
	for round := range 8 {
		srv.rec.setAskFullSync(true) // must not cut the jitter short
		reg := srv.rec.waitReport(t, 0, 5*time.Second, "registration", isKind("register"))
		sync := srv.rec.waitReport(t, 0, 5*time.Second, "full sync", isKind("full_sync"))
		d := sync.at.Sub(reg.at)
		delays = append(delays, d)
		if d > jitter+300*time.Millisecond {
			t.Errorf("round %d: full sync %s after registering, sync_jitter is %s", round, d, jitter)
		}
		srv.stop(t)
		srv = startServer(t, addr)
	}
	t.Logf("delays: %v", delays)
	// Heartbeats every 100ms ask for a full sync: were the jitter cut
	// short, every delay would be below two of them.
	if slices.Max(delays) < 250*time.Millisecond || slices.Max(delays)-slices.Min(delays) < 50*time.Millisecond {
		t.Errorf("full sync delays %v are not spread over [0, %s)", delays, jitter)
	}
}

// TestAgentConfig: a config the agent cannot run with is refused, naming
// what to set.
func TestAgentConfig(t *testing.T) {
	_, err := agent.New(agent.Config{})
	for _, want := range []string{"agent.node_name", "agent.servers", "backend", "certificate"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("empty config: %v; want it to name %s", err, want)
		}
	}
	b := testlibvirt.LaunchTestDriver(t)
	ca, _ := testenroll.TLS(t)
	for _, tc := range []struct {
		cfg  agent.Config
		want string
	}{
		{agent.Config{}, "no join token to enroll with: set agent.join_token to a token of `quantix node token create`"},
		{agent.Config{JoinToken: "static"}, "set agent.ca_fingerprint to the fingerprint the server logs for its agent CA, or agent.ca_cert"},
		{agent.Config{JoinToken: "static", CAFingerprint: "abc"}, `agent.ca_fingerprint: "abc" is not a SHA-256 fingerprint`},
		{agent.Config{JoinToken: "static", CAFile: "/nonexistent/ca.crt"}, "agent.ca_cert: open /nonexistent/ca.crt"},
		{agent.Config{JoinToken: testenroll.Token(ca, "x"), CAFingerprint: strings.Repeat("ab", 32)}, "differs from the CA fingerprint"},
	} {
		tc.cfg.NodeName, tc.cfg.Servers, tc.cfg.Backend, tc.cfg.CertDir = "n", []string{"127.0.0.1:1"}, b, t.TempDir()
		if _, err := agent.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("agent.New(token %q, fingerprint %q, ca %q): %v; want it to say %q", tc.cfg.JoinToken, tc.cfg.CAFingerprint, tc.cfg.CAFile, err, tc.want)
		}
	}
	for _, cfg := range []agent.Config{
		{JoinToken: testenroll.Token(ca, "x")},
		{JoinToken: "static", CAFingerprint: strings.ToUpper(ca.Fingerprint())},
		{JoinToken: "static", CAFile: filepath.Join(ca.Dir(), pki.CACertFile)},
	} {
		cfg.NodeName, cfg.Servers, cfg.Backend, cfg.CertDir = "n", []string{"127.0.0.1:1"}, b, t.TempDir()
		if _, err := agent.New(cfg); err != nil {
			t.Errorf("agent.New(token %q, fingerprint %q, ca %q): %v", cfg.JoinToken, cfg.CAFingerprint, cfg.CAFile, err)
		}
	}
	_, err = agent.New(agent.Config{NodeName: "n", Servers: []string{"127.0.0.1:1"}, Backend: b, SyncJitter: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "sync jitter") {
		t.Errorf("negative jitter: %v", err)
	}
	_, err = agent.New(agent.Config{NodeName: "n", Servers: []string{"127.0.0.1:1"}, Backend: b, QEMULogLinger: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "qemu log linger") {
		t.Errorf("negative qemu log linger: %v", err)
	}
	_, err = agent.New(agent.Config{NodeName: "n", Servers: []string{"127.0.0.1:1"}, Backend: b, QEMULogScanInterval: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "qemu log scan interval") {
		t.Errorf("negative qemu log scan interval: %v", err)
	}
	_, err = agent.New(agent.Config{NodeName: "n", Servers: []string{"127.0.0.1:1"}, Backend: b, QEMULogRetryBackoff: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "qemu log retry backoff") {
		t.Errorf("negative qemu log retry backoff: %v", err)
	}
}

// TestAgentIgnoresUnusableUUIDs: VMs whose UUID is all zeros or all 0xFF
// are never reported, neither listed nor by their events.
func TestAgentIgnoresUnusableUUIDs(t *testing.T) {
	const (
		ones  = "ffffffff-ffff-ffff-ffff-ffffffffffff"
		zeros = "00000000-0000-0000-0000-000000000000"
		good  = "12345678-0000-4000-8000-000000000001"
	)
	dom := func(name, uuid string) string {
		return "<domain type='test'><name>" + name + "</name><uuid>" + uuid +
			"</uuid><memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>\n"
	}
	file := filepath.Join(t.TempDir(), "node.xml")
	if err := os.WriteFile(file, []byte("<node>\n"+dom("ones", ones)+dom("zeros", zeros)+dom("good", good)+"</node>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path, err := testbin.LibvirtPlugin()
	if err != nil {
		t.Fatal(err)
	}
	b, err := pluginhost.LaunchBackend(context.Background(), pluginhost.Config{
		Name: testlibvirt.PluginName, Path: path,
		Settings: map[string]any{"uri": "test://" + file, "image_dir": filepath.Join(t.TempDir(), "images")},
		Logger:   testlog.New(t, hclog.Warn),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	all, err := b.ListVMs(context.Background())
	if err != nil || len(all) != 3 {
		t.Fatalf("the backend lists %d vms (%v), want the file's 3", len(all), err)
	}

	srv := startServer(t, "")
	runAgent(t, agent.Config{Servers: []string{srv.addr}, Backend: b, HeartbeatInterval: 200 * time.Millisecond})
	sync := srv.rec.waitReport(t, 0, 10*time.Second, "full sync", fullSyncWith(good))
	if len(sync.vms) != 1 {
		t.Errorf("full sync: %s; want the vm with a usable uuid only", describe([]report{sync}))
	}
	from := srv.rec.mark()
	for _, id := range []string{ones, zeros, good} {
		if _, err := b.StopVM(context.Background(), id, backend.StopOptions{Force: true}); err != nil {
			t.Fatalf("stopping %s: %v", id, err)
		}
	}
	srv.rec.waitReport(t, from, time.Second, "change of the good vm", changeOf(good, backend.StateStopped))
	// Their events came before the good vm's: any report of them would be
	// there by now or soon after.
	srv.rec.noReport(t, from, 300*time.Millisecond, "no vm with an unusable uuid reported", func(r report) bool {
		return r.kind == "change" && (r.change.VMID == ones || r.change.VMID == zeros)
	})
	hb := srv.rec.waitReport(t, from, time.Second, "heartbeat", isKind("heartbeat"))
	if hb.hb.VMCount != 1 {
		t.Errorf("heartbeat counts %d vms, want 1", hb.hb.VMCount)
	}
}

// TestAgentFindsByName: find_by_name returns the VM of that name the
// libvirt backend made (its UUID, marked managed by the Quantix metadata
// of its domain), is not found for a name the host lacks, and refuses an
// empty name.
func TestAgentFindsByName(t *testing.T) {
	srv, _, a := connected(t, agent.Config{})
	ctx := context.Background()
	node := a.Status().NodeID
	s := spec("find-" + testid.Hex(3))
	made, err := srv.disp.Execute(ctx, node, nodeapi.Command{Op: agentv1.Op_OP_CREATE, Spec: &s})
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.disp.Execute(ctx, node, nodeapi.Command{Op: agentv1.Op_OP_FIND_BY_NAME, Name: s.Name})
	if err != nil || res.VM == nil || res.VM.ID != made.VM.ID || res.VM.Name != s.Name || !res.VM.Managed {
		t.Fatalf("find_by_name %q = %+v, %v; want %s, managed", s.Name, res, err, made.VM.ID)
	}
	_, err = srv.disp.Execute(ctx, node, nodeapi.Command{Op: agentv1.Op_OP_FIND_BY_NAME, Name: s.Name + "-absent"})
	if !errors.Is(err, plugin.ErrNotFound) {
		t.Errorf("find_by_name of an absent vm: %v; want not found", err)
	}
	_, err = srv.disp.Execute(ctx, node, nodeapi.Command{Op: agentv1.Op_OP_FIND_BY_NAME})
	if plugin.FieldOf(err) != "vm_name" {
		t.Errorf("find_by_name without a name: %v; want an invalid argument naming vm_name", err)
	}
}
