package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agent"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/plugins/sim"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// logRecorder is the agent server's LogAppender in these tests: like the
// built-in store it keeps an entry once by id, and it counts how often each
// id was appended.
type logRecorder struct {
	mu       sync.Mutex
	byID     map[string]logsink.Entry
	order    []string
	count    map[string]int
	attempts int
	// While fail is set, Append fails with it; while block is set, Append
	// waits for it to close, failing when its context ends first.
	fail  error
	block chan struct{}
}

func newLogRecorder() *logRecorder {
	return &logRecorder{byID: map[string]logsink.Entry{}, count: map[string]int{}}
}

func (r *logRecorder) Append(ctx context.Context, entries []logsink.Entry) error {
	r.mu.Lock()
	r.attempts++
	fail, block := r.fail, r.block
	r.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		if _, ok := r.byID[e.ID]; !ok {
			r.byID[e.ID] = e
			r.order = append(r.order, e.ID)
		}
		r.count[e.ID]++
	}
	return nil
}

func (r *logRecorder) setFail(err error) {
	r.mu.Lock()
	r.fail = err
	r.mu.Unlock()
}

func (r *logRecorder) setBlock(c chan struct{}) {
	r.mu.Lock()
	r.block = c
	r.mu.Unlock()
}

func (r *logRecorder) appends() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

// entries returns the entries kept of VM id, in the order first appended.
func (r *logRecorder) entries(id string) []logsink.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []logsink.Entry
	for _, eid := range r.order {
		if e := r.byID[eid]; e.VMID == id {
			out = append(out, e)
		}
	}
	return out
}

// duplicates counts the appends of entries appended before.
func (r *logRecorder) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.count {
		n += c - 1
	}
	return n
}

// waitMessages waits until VM id has an entry of every message of want,
// and returns its entries.
func (r *logRecorder) waitMessages(t *testing.T, id string, within time.Duration, want ...string) []logsink.Entry {
	t.Helper()
	var got []logsink.Entry
	wait.UntilNil(t, within, fmt.Sprintf("entries %q of vm %s", want, id), func() error {
		got = r.entries(id)
		missing := slices.DeleteFunc(slices.Clone(want), func(m string) bool {
			return slices.ContainsFunc(got, func(e logsink.Entry) bool { return e.Message == m })
		})
		if len(missing) != 0 {
			return fmt.Errorf("no entry of %q; entries: %q", missing, messages(got))
		}
		return nil
	})
	return got
}

func messages(es []logsink.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Message
	}
	return out
}

// appendLog appends lines to the log at path.
func appendLog(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// domainID returns the id of the VM named name in the server's first full
// sync.
func domainID(t *testing.T, srv *server, name string) string {
	t.Helper()
	rep := srv.rec.waitReport(t, 0, 10*time.Second, "full sync", fullSyncWith(name))
	for _, v := range rep.vms {
		if v.Name == name {
			return v.ID
		}
	}
	t.Fatalf("no vm %s", name)
	return ""
}

// startAgent runs an agent until the returned function (or the end of the
// test) stops it and waits for it.
func startAgent(t *testing.T, cfg agent.Config) (*agent.Agent, func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testlog.New(t, hclog.Debug)
	}
	a, err := agent.New(withIdentity(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the agent did not stop within 10s of its context ending")
		}
	})
	t.Cleanup(stop)
	return a, stop
}

// TestVMLogLinesShipped: the lines of a running VM's log reach the server
// once each, as entries of source qemu with the VM's and the node's ids at
// the seed's severities; a line that is not UTF-8 arrives mended; after the
// log is truncated, a line the same as an earlier one at the same place is
// a new entry.
func TestVMLogLinesShipped(t *testing.T) {
	srv, b, a := connected(t, agent.Config{})
	id := domainID(t, srv, testDomain)
	path := filepath.Join(b.LogDir, testDomain+".log")
	lines := []string{
		"2026-01-02 03:04:05.000+0000: starting up libvirt version: 9.0.0, qemu version: 7.2.0",
		"char device redirected to /dev/pts/3 (label charserial0)",
		"qemu-system-x86_64: warning: host doesn't support requested feature",
		"2026-01-02 03:09:00.000+0000: qemu-system-x86_64: terminating on signal 15 from pid 1 (/usr/sbin/libvirtd)",
	}
	appendLog(t, path, lines...)
	got := srv.logs.waitMessages(t, id, 10*time.Second, lines...)
	levels := []logsink.Level{logsink.LevelInfo, logsink.LevelInfo, logsink.LevelWarn, logsink.LevelError}
	node := a.Status().NodeID
	if len(got) != len(lines) {
		t.Fatalf("entries: %q; want %q", messages(got), lines)
	}
	var offset int64
	for i, e := range got {
		offset += int64(len(lines[i]) + 1)
		var f struct{ Offset int64 }
		if err := json.Unmarshal(e.Fields, &f); err != nil {
			t.Fatal(err)
		}
		if e.Message != lines[i] || e.Level != levels[i] || e.Source != logsink.SourceQEMU || e.Component != logsink.ComponentQEMU ||
			e.VMID != id || e.NodeID != node || f.Offset != offset || time.Since(e.Timestamp) > time.Minute {
			t.Errorf("entry %d = %+v; want %q at level %s of vm %s on node %s, offset %d", i, e, lines[i], levels[i], id, node, offset)
		}
	}

	appendLog(t, path, "bad \xff byte")
	srv.logs.waitMessages(t, id, 10*time.Second, "bad \uFFFD byte")

	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendLog(t, path, lines[0])
	wait.Until(t, 10*time.Second, "the first line again after the truncation", func() bool {
		n := 0
		for _, e := range srv.logs.entries(id) {
			if e.Message == lines[0] {
				n++
			}
		}
		return n == 2
	})
	if d := srv.logs.duplicates(); d != 0 {
		t.Errorf("%d lines were appended twice", d)
	}
}

// TestVMLogLinesSurviveFailures: lines whose append failed, lines in flight
// when the session broke and lines written while no server was there all
// reach the server once the server is back; lines acknowledged are not
// sent again.
func TestVMLogLinesSurviveFailures(t *testing.T) {
	// Failed appends are tried again after 100ms, then 200ms, rather than
	// the default second, then two.
	srv, b, _ := connected(t, agent.Config{MaxBackoff: 300 * time.Millisecond, QEMULogRetryBackoff: 100 * time.Millisecond})
	id := domainID(t, srv, testDomain)
	path := filepath.Join(b.LogDir, testDomain+".log")
	logs := srv.logs

	appendLog(t, path, "before the failures")
	logs.waitMessages(t, id, 10*time.Second, "before the failures")

	logs.setFail(errors.New("spool unavailable"))
	from := logs.appends()
	appendLog(t, path, "while appends fail 1", "while appends fail 2")
	wait.Until(t, 10*time.Second, "two failed appends", func() bool { return logs.appends() >= from+2 })
	logs.setFail(nil)
	logs.waitMessages(t, id, 10*time.Second, "while appends fail 1", "while appends fail 2")

	gate := make(chan struct{})
	logs.setBlock(gate)
	from = logs.appends()
	appendLog(t, path, "in flight when the session breaks")
	wait.Until(t, 10*time.Second, "an append in flight", func() bool { return logs.appends() > from })
	srv.stop(t)
	appendLog(t, path, "while no server is there")
	logs.setBlock(nil)
	close(gate)
	startServerLogs(t, srv.addr, logs)
	got := logs.waitMessages(t, id, 20*time.Second, "in flight when the session breaks", "while no server is there")
	if d := logs.duplicates(); d != 0 {
		t.Errorf("%d lines were appended twice; entries: %q", d, messages(got))
	}
	if len(got) != 5 {
		t.Errorf("entries: %q", messages(got))
	}
}

// TestVMLogOffsetsSurviveRestart: an agent restarted on the same state dir
// carries on from where the server acknowledged the log: it sends the lines
// written meanwhile and none of those sent before.
func TestVMLogOffsetsSurviveRestart(t *testing.T) {
	srv := startServer(t, "")
	b := testlibvirt.LaunchTestDriver(t)
	dir := t.TempDir()
	cfg := agent.Config{NodeName: "node-" + testid.Hex(3), Servers: []string{srv.addr}, Backend: b, HeartbeatInterval: 200 * time.Millisecond, StateDir: dir}
	_, stop := startAgent(t, cfg)
	id := domainID(t, srv, testDomain)
	path := filepath.Join(b.LogDir, testDomain+".log")
	appendLog(t, path, "before the restart 1", "before the restart 2")
	srv.logs.waitMessages(t, id, 10*time.Second, "before the restart 1", "before the restart 2")
	stop()

	data, err := os.ReadFile(filepath.Join(dir, "vm-logs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		VMs map[string]struct{ Offset int64 }
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("the offsets file: %v: %s", err, data)
	}
	if want := int64(len("before the restart 1\nbefore the restart 2\n")); st.VMs[id].Offset != want {
		t.Errorf("the offsets file says %s; want offset %d for vm %s", data, want, id)
	}

	appendLog(t, path, "while the agent is away")
	startAgent(t, cfg)
	got := srv.logs.waitMessages(t, id, 10*time.Second, "while the agent is away")
	if d := srv.logs.duplicates(); d != 0 || len(got) != 3 {
		t.Errorf("%d lines sent again after the restart; entries: %q", d, messages(got))
	}
}

// streamCounter is the agent's backend in tests that watch its log
// followers: the real plugin, counting the StreamLog calls of each VM made
// and under way.
type streamCounter struct {
	backend.Backend
	mu    sync.Mutex
	calls map[string]int
	open  map[string]int
}

func newStreamCounter(b backend.Backend) *streamCounter {
	return &streamCounter{Backend: b, calls: map[string]int{}, open: map[string]int{}}
}

func (s *streamCounter) StreamLog(ctx context.Context, id string, offset int64, fn func(backend.LogLine) error) error {
	s.mu.Lock()
	s.calls[id]++
	s.open[id]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.open[id]--
		s.mu.Unlock()
	}()
	return s.Backend.StreamLog(ctx, id, offset, fn)
}

// streams returns how many StreamLog calls of VM id are under way.
func (s *streamCounter) streams(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open[id]
}

// streamCalls returns how many StreamLog calls of VM id were made.
func (s *streamCounter) streamCalls(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

// TestVMLogFollowedWhileRunning: a VM created through the agent is not
// given the lines an earlier VM of its name left in the log; its log is
// followed while it runs and for the linger after it stopped, then no more
// until it runs again.
func TestVMLogFollowedWhileRunning(t *testing.T) {
	srv := startServer(t, "")
	td := testlibvirt.LaunchTestDriver(t)
	b := newStreamCounter(td)
	// Scans every 50ms: the log of a VM that stopped is no longer followed
	// soon after its linger, and a second of the linger leaves the
	// follower (which reads every 200ms) time for the lines written after
	// the stop.
	a := runAgent(t, agent.Config{Servers: []string{srv.addr}, Backend: b, HeartbeatInterval: 200 * time.Millisecond,
		QEMULogLinger: time.Second, QEMULogScanInterval: 50 * time.Millisecond})
	srv.rec.waitReport(t, 0, 10*time.Second, "first full sync", fullSyncWith(testDomain))
	ctx := context.Background()
	node := a.Status().NodeID
	name := "logs-" + testid.Hex(3)
	path := filepath.Join(td.LogDir, name+".log")
	appendLog(t, path, "left by an earlier vm of the name")
	sp := spec(name)
	res, err := srv.disp.Execute(ctx, node, nodeapi.Command{Op: agentv1.Op_OP_CREATE, Spec: &sp})
	if err != nil {
		t.Fatal(err)
	}
	id := res.VM.ID
	if _, err := srv.disp.Execute(ctx, node, nodeapi.Command{Op: agentv1.Op_OP_START, VMID: id}); err != nil {
		t.Fatal(err)
	}
	appendLog(t, path, "its own line")
	srv.logs.waitMessages(t, id, 10*time.Second, "its own line")

	from := srv.rec.mark()
	if _, err := srv.disp.Execute(ctx, node, nodeapi.Command{Op: agentv1.Op_OP_STOP, VMID: id, Stop: backend.StopOptions{Force: true}}); err != nil {
		t.Fatal(err)
	}
	srv.rec.waitReport(t, from, 10*time.Second, "the stop", changeOf(id, backend.StateStopped))
	appendLog(t, path, "right after the stop")
	srv.logs.waitMessages(t, id, 10*time.Second, "right after the stop")

	// Quiet for the linger after the stop: no longer followed.
	wait.Until(t, 10*time.Second, "the log of the stopped vm no longer followed", func() bool { return b.streams(id) == 0 })
	appendLog(t, path, "while stopped")
	wait.Stays(t, 500*time.Millisecond, "the stopped vm's log not followed again", func() bool {
		return b.streams(id) == 0 && !slices.Contains(messages(srv.logs.entries(id)), "while stopped")
	})
	if _, err := srv.disp.Execute(ctx, node, nodeapi.Command{Op: agentv1.Op_OP_START, VMID: id}); err != nil {
		t.Fatal(err)
	}
	got := messages(srv.logs.waitMessages(t, id, 10*time.Second, "while stopped"))
	if want := []string{"its own line", "right after the stop", "while stopped"}; !slices.Equal(got, want) {
		t.Errorf("entries: %q; want %q", got, want)
	}
	if _, err := srv.disp.Execute(ctx, node, nodeapi.Command{Op: agentv1.Op_OP_DELETE, VMID: id, Delete: backend.DeleteOptions{Force: true}}); err != nil {
		t.Fatal(err)
	}
}

// TestVMLogsNotShipped: an agent with VM logs disabled sends none, and an
// agent of a server that keeps none keeps its session.
func TestVMLogsNotShipped(t *testing.T) {
	t.Run("disabled", func(t *testing.T) {
		srv := startServer(t, "")
		td := testlibvirt.LaunchTestDriver(t)
		b := newStreamCounter(td)
		runAgent(t, agent.Config{Servers: []string{srv.addr}, Backend: b, HeartbeatInterval: 200 * time.Millisecond, DisableQEMULogs: true})
		id := domainID(t, srv, testDomain)
		appendLog(t, filepath.Join(td.LogDir, testDomain+".log"), "not sent")
		// With vm logs on, the running vm's log would be followed at the
		// next scan (DefaultQEMULogScanInterval) and its line read within
		// 200ms and sent within 200ms more.
		wait.Stays(t, time.Second, "no log followed nor sent by an agent with vm logs disabled", func() bool {
			if n, got := b.streamCalls(id), srv.logs.entries(id); n != 0 || len(got) != 0 {
				t.Logf("%d streams of the log opened, entries sent: %q", n, messages(got))
				return false
			}
			return true
		})
	})
	t.Run("server keeps none", func(t *testing.T) {
		srv := startServerLogs(t, "", nil)
		b := testlibvirt.LaunchTestDriver(t)
		appendLog(t, filepath.Join(b.LogDir, testDomain+".log"), "kept by the agent")
		runAgent(t, agent.Config{Servers: []string{srv.addr}, Backend: b, HeartbeatInterval: 100 * time.Millisecond})
		srv.rec.waitReport(t, 0, 10*time.Second, "first full sync", fullSyncWith(testDomain))
		from := srv.rec.mark()
		srv.rec.waitReport(t, from, 5*time.Second, "a heartbeat", isKind("heartbeat"))
		if slices.ContainsFunc(srv.rec.all(), isKind("disconnected")) {
			t.Error("the session ended")
		}
	})
}

// entryOffset returns the log offset an entry of source qemu carries.
func entryOffset(t *testing.T, e logsink.Entry) int64 {
	t.Helper()
	var f struct{ Offset int64 }
	if err := json.Unmarshal(e.Fields, &f); err != nil {
		t.Fatalf("the fields of entry %q: %v: %s", e.Message, err, e.Fields)
	}
	return f.Offset
}

// TestVMLogOfReusedName: a VM deleted and created again under the same
// name while the first one's log is still followed (the simulated backend,
// whose VMs write their state changes to <name>.log): every line is stored
// under the VM that wrote it and no other, and the deleted VM's log is no
// longer followed.
func TestVMLogOfReusedName(t *testing.T) {
	srv := startServer(t, "")
	sb := sim.New(sim.WithLogger(testlog.New(t, hclog.Warn)))
	in, err := pluginhost.InProcess(context.Background(), "sim", sb, sim.Config{Hostname: "sim-" + testid.Hex(3)}.Settings())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	b := newStreamCounter(in)
	// A linger far longer than the test: the first VM's log would still be
	// followed when the second VM writes to it.
	a := runAgent(t, agent.Config{Servers: []string{srv.addr}, Backend: b, HeartbeatInterval: 200 * time.Millisecond, QEMULogLinger: time.Hour})
	srv.rec.waitReport(t, 0, 10*time.Second, "first full sync", isKind("full_sync"))
	ctx := context.Background()
	node := a.Status().NodeID
	exec := func(c nodeapi.Command) *backend.VM {
		t.Helper()
		res, err := srv.disp.Execute(ctx, node, c)
		if err != nil {
			t.Fatalf("%s: %v", c.Op, err)
		}
		return res.VM
	}
	hasText := func(id, text string) func() bool {
		return func() bool {
			return slices.ContainsFunc(srv.logs.entries(id), func(e logsink.Entry) bool { return strings.Contains(e.Message, text) })
		}
	}

	name := "reused-" + testid.Hex(3)
	sp := spec(name)
	first := exec(nodeapi.Command{Op: agentv1.Op_OP_CREATE, Spec: &sp}).ID
	exec(nodeapi.Command{Op: agentv1.Op_OP_START, VMID: first})
	wait.Until(t, 10*time.Second, "the first vm's start in its log", hasText(first, "state stopped -> running"))
	exec(nodeapi.Command{Op: agentv1.Op_OP_STOP, VMID: first, Stop: backend.StopOptions{Force: true}})
	wait.Until(t, 10*time.Second, "the first vm's stop in its log", hasText(first, "state running -> stopped"))
	exec(nodeapi.Command{Op: agentv1.Op_OP_DELETE, VMID: first})
	fi, err := os.Stat(sb.LogPath(name))
	if err != nil {
		t.Fatal(err)
	}
	firstEnd := fi.Size()

	second := exec(nodeapi.Command{Op: agentv1.Op_OP_CREATE, Spec: &sp}).ID
	exec(nodeapi.Command{Op: agentv1.Op_OP_START, VMID: second})
	appendLog(t, sb.LogPath(name), "written while the second vm runs")
	wait.Until(t, 10*time.Second, "the second vm's line stored", hasText(second, "written while the second vm runs"))
	wait.Until(t, 10*time.Second, "the first vm's log no longer followed", func() bool { return b.streams(first) == 0 })
	wait.Stays(t, time.Second, "no line of the second vm stored under the first", func() bool {
		for _, e := range srv.logs.entries(first) {
			if entryOffset(t, e) > firstEnd {
				return false
			}
		}
		return true
	})

	if got := messages(srv.logs.entries(first)); len(got) != 2 || !strings.Contains(got[0], "state stopped -> running") || !strings.Contains(got[1], "state running -> stopped") {
		t.Errorf("entries of the first vm: %q; want its start and its stop", got)
	}
	got := srv.logs.entries(second)
	for _, e := range got {
		if entryOffset(t, e) <= firstEnd {
			t.Errorf("the second vm has entry %q at offset %d, written by the first vm (its log ended at %d)", e.Message, entryOffset(t, e), firstEnd)
		}
	}
	if len(got) != 2 || !strings.Contains(got[0].Message, "state stopped -> running") {
		t.Errorf("entries of the second vm: %q; want its start and the line appended", messages(got))
	}
}

// TestVMLogRotatedWhileAway: the log of a running VM (the simulated
// backend's <name>.log) gets lines, is rotated to <name>.log.0 and the new
// file grows past the acknowledged offset while the agent is down. The
// agent, back on the same state dir, sends the rest of the rotated file and
// the new file: no line lost, none twice.
func TestVMLogRotatedWhileAway(t *testing.T) {
	srv := startServer(t, "")
	sb := sim.New(sim.WithLogger(testlog.New(t, hclog.Warn)))
	in, err := pluginhost.InProcess(context.Background(), "sim", sb, sim.Config{Hostname: "sim-" + testid.Hex(3)}.Settings())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	dir := t.TempDir()
	cfg := agent.Config{NodeName: "node-" + testid.Hex(3), Servers: []string{srv.addr}, Backend: in, HeartbeatInterval: 200 * time.Millisecond, StateDir: dir}
	a, stop := startAgent(t, cfg)
	srv.rec.waitReport(t, 0, 10*time.Second, "first full sync", isKind("full_sync"))
	ctx := context.Background()
	name := "rotated-" + testid.Hex(3)
	sp := spec(name)
	res, err := srv.disp.Execute(ctx, a.Status().NodeID, nodeapi.Command{Op: agentv1.Op_OP_CREATE, Spec: &sp})
	if err != nil {
		t.Fatal(err)
	}
	id := res.VM.ID
	if _, err := srv.disp.Execute(ctx, a.Status().NodeID, nodeapi.Command{Op: agentv1.Op_OP_START, VMID: id}); err != nil {
		t.Fatal(err)
	}
	path := sb.LogPath(name)
	appendLog(t, path, "acknowledged 1", "acknowledged 2")
	srv.logs.waitMessages(t, id, 10*time.Second, "acknowledged 1", "acknowledged 2")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Stopped once the offsets file says every line was acknowledged, so
	// that none is sent again for want of an acknowledgement.
	wait.UntilNil(t, 10*time.Second, "the offsets file at the end of the log", func() error {
		data, err := os.ReadFile(filepath.Join(dir, "vm-logs.json"))
		if err != nil {
			return err
		}
		var st struct {
			VMs map[string]struct {
				Offset int64
				File   string
			}
		}
		if err := json.Unmarshal(data, &st); err != nil {
			return err
		}
		if p := st.VMs[id]; p.Offset != fi.Size() || p.File == "" {
			return fmt.Errorf("the offsets file says %s; want offset %d and the file for vm %s", data, fi.Size(), id)
		}
		return nil
	})
	stop()

	appendLog(t, path, "after the last acknowledged line")
	if err := os.Rename(path, path+".0"); err != nil {
		t.Fatal(err)
	}
	fresh := []string{
		"in the new file, a line longer than what was acknowledged of the old one, so that its offset is passed",
		"in the new file 2",
	}
	appendLog(t, path, fresh...)
	startAgent(t, cfg)
	got := srv.logs.waitMessages(t, id, 10*time.Second, append([]string{"after the last acknowledged line"}, fresh...)...)
	msgs := messages(got)
	if d := srv.logs.duplicates(); d != 0 {
		t.Errorf("%d lines sent twice; entries: %q", d, msgs)
	}
	want := []string{"acknowledged 1", "acknowledged 2", "after the last acknowledged line", fresh[0], fresh[1]}
	if len(msgs) < len(want) || !slices.Equal(msgs[len(msgs)-len(want):], want) {
		t.Errorf("entries %q; want them to end with %q", msgs, want)
	}
	wait.Stays(t, time.Second, "no entry more", func() bool { return len(srv.logs.entries(id)) == len(got) })
}
