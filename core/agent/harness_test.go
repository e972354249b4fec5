package agent_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agent"
	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/testenroll"
	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
)

// The tests of this package run the agent against the real libvirt backend
// plugin on libvirt's test driver (a real plugin process) and a real agent
// server on loopback, whose ReportHandler records what reaches it.

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// testDomain names the domain test:///default always has, running.
const testDomain = "test"

// report is one call the handler got.
type report struct {
	kind   string // register, full_sync, change, heartbeat, disconnected
	at     time.Time
	node   string
	reg    nodeapi.Registration
	vms    []*backend.VM
	change nodeapi.Change
	hb     nodeapi.HeartbeatReport
}

// recorder is a ReportHandler that records the calls it gets.
type recorder struct {
	mu      sync.Mutex
	nodes   map[string]string
	reports []report
	// askFullSync is what Heartbeat answers.
	askFullSync bool
}

var _ nodeapi.ReportHandler = (*recorder)(nil)

func newRecorder() *recorder { return &recorder{nodes: map[string]string{}} }

func (r *recorder) add(rep report) {
	rep.at = time.Now()
	r.mu.Lock()
	r.reports = append(r.reports, rep)
	r.mu.Unlock()
}

func (r *recorder) Register(_ context.Context, reg nodeapi.Registration) (string, error) {
	r.mu.Lock()
	id := r.nodes[reg.NodeName]
	if id == "" {
		id = "node-" + testid.Hex(4)
		r.nodes[reg.NodeName] = id
	}
	r.mu.Unlock()
	r.add(report{kind: "register", node: id, reg: reg})
	return id, nil
}

func (r *recorder) FullSync(_ context.Context, nodeID string, vms []*backend.VM) error {
	r.add(report{kind: "full_sync", node: nodeID, vms: vms})
	return nil
}

func (r *recorder) Change(_ context.Context, nodeID string, ch nodeapi.Change) error {
	r.add(report{kind: "change", node: nodeID, change: ch})
	return nil
}

func (r *recorder) Heartbeat(_ context.Context, nodeID string, hb nodeapi.HeartbeatReport) (bool, error) {
	r.add(report{kind: "heartbeat", node: nodeID, hb: hb})
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.askFullSync, nil
}

func (r *recorder) Disconnected(_ context.Context, nodeID string) {
	r.add(report{kind: "disconnected", node: nodeID})
}

func (r *recorder) setAskFullSync(v bool) {
	r.mu.Lock()
	r.askFullSync = v
	r.mu.Unlock()
}

// all returns the reports so far.
func (r *recorder) all() []report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reports)
}

// mark is a position in the report log.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reports)
}

// waitReport waits until a report after position from matches, and
// returns it.
func (r *recorder) waitReport(t *testing.T, from int, within time.Duration, what string, match func(report) bool) report {
	t.Helper()
	var found report
	wait.UntilNil(t, within, what, func() error {
		since := r.all()
		since = since[min(from, len(since)):]
		for _, rep := range since {
			if match(rep) {
				found = rep
				return nil
			}
		}
		return fmt.Errorf("no such report; reports since: %s", describe(since))
	})
	return found
}

// noReport checks that no report after position from matches for the
// whole of during.
func (r *recorder) noReport(t *testing.T, from int, during time.Duration, what string, match func(report) bool) {
	t.Helper()
	wait.Stays(t, during, what, func() bool {
		since := r.all()
		for _, rep := range since[min(from, len(since)):] {
			if match(rep) {
				t.Logf("unexpected report: %s", describe([]report{rep}))
				return false
			}
		}
		return true
	})
}

func describe(reps []report) string {
	out := ""
	for _, r := range reps {
		out += "\n  " + r.at.Format("15:04:05.000") + " " + r.kind
		switch r.kind {
		case "change":
			if r.change.Gone {
				out += " gone " + r.change.VMID
			} else {
				out += " " + r.change.VM.Name + " " + string(r.change.VM.State)
			}
		case "full_sync":
			for _, v := range r.vms {
				out += " " + v.Name + ":" + string(v.State)
			}
		}
	}
	return out
}

// server is an agent server on loopback with a recording handler and a
// recording log appender.
type server struct {
	srv  *agentserver.Server
	disp *agentserver.Dispatcher
	rec  *recorder
	logs *logRecorder
	addr string
	done chan error
	// cluster is the test's agent CA and enrollment records, which every
	// server of the test shares.
	cluster *cluster
}

// cluster is the agent CA, server certificate and enrollment records the
// servers of one test share, as the servers of one cluster do: an agent
// enrolled with one is known to the next.
type cluster struct {
	ca      *pki.CA
	cert    tls.Certificate
	records *testenroll.Records
	// token enrolls any number of agents and pins ca.
	token string
}

var clusters sync.Map // testing.TB -> *cluster

// clusterOf returns t's cluster, made on first use.
func clusterOf(t testing.TB) *cluster {
	if c, ok := clusters.Load(t); ok {
		return c.(*cluster)
	}
	ca, cert := testenroll.TLS(t)
	token := testenroll.Token(ca, "s3cret")
	c := &cluster{ca: ca, cert: cert, records: testenroll.New(token, 1<<30), token: token}
	clusters.Store(t, c)
	t.Cleanup(func() { clusters.Delete(t) })
	return c
}

// withIdentity fills in what an agent of t's cluster needs to enroll: the
// cluster's join token and a certificate directory (StateDir when set, so
// that an agent restarted on it keeps its certificate).
func withIdentity(t testing.TB, cfg agent.Config) agent.Config {
	if cfg.JoinToken == "" {
		cfg.JoinToken = clusterOf(t).token
	}
	if cfg.CertDir == "" {
		cfg.CertDir = cfg.StateDir
	}
	if cfg.CertDir == "" {
		cfg.CertDir = t.TempDir()
	}
	return cfg
}

// startServer serves on addr ("" picks a free port).
func startServer(t *testing.T, addr string) *server {
	t.Helper()
	return startServerLogs(t, addr, newLogRecorder())
}

// startServerLogs serves on addr ("" picks a free port), appending the
// log lines agents send to logs (nil: the server keeps none).
func startServerLogs(t *testing.T, addr string, logs *logRecorder) *server {
	t.Helper()
	return startServerOpts(t, addr, logs)
}

// startServerOpts is startServerLogs with opts set on the server's
// options.
func startServerOpts(t *testing.T, addr string, logs *logRecorder, opts ...func(*agentserver.Options)) *server {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln := listen(t, addr)
	c := clusterOf(t)
	s := &server{disp: agentserver.NewDispatcher(), rec: newRecorder(), logs: logs, addr: ln.Addr().String(), done: make(chan error, 1), cluster: c}
	o := agentserver.Options{
		Handler: s.rec, Dispatcher: s.disp, CA: c.ca, Certificate: c.cert, Enrollment: c.records,
		Logger: testlog.New(t, hclog.Debug).Named("server"),
	}
	if logs != nil {
		o.Logs = logs
	}
	for _, set := range opts {
		set(&o)
	}
	var err error
	s.srv, err = agentserver.New(o)
	if err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop closes the server; a second call does nothing.
func (s *server) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Close(ctx); err != nil {
		t.Errorf("closing the agent server: %v", err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	default:
	}
}

// runAgent runs an agent until the test ends.
func runAgent(t *testing.T, cfg agent.Config) *agent.Agent {
	t.Helper()
	if cfg.NodeName == "" {
		cfg.NodeName = "node-" + testid.Hex(3)
	}
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
	t.Cleanup(func() {
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
	return a
}

// listen listens on addr, waiting for the port of a server just closed
// to be free.
func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	wait.UntilNil(t, 5*time.Second, "listening on "+addr, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln
}

func isKind(kind string) func(report) bool {
	return func(r report) bool { return r.kind == kind }
}

// changeOf matches a change of the VM with id to state ("" for gone).
func changeOf(id string, state backend.PowerState) func(report) bool {
	return func(r report) bool {
		if r.kind != "change" {
			return false
		}
		if state == "" {
			return r.change.Gone && r.change.VMID == id
		}
		return !r.change.Gone && r.change.VM.ID == id && r.change.VM.State == state
	}
}

// fullSyncWith matches a full sync listing the VM with id or name ref.
func fullSyncWith(ref string) func(report) bool {
	return func(r report) bool { return r.kind == "full_sync" && lists(r.vms, ref) }
}

// lists reports whether vms has the VM with id or name ref.
func lists(vms []*backend.VM, ref string) bool {
	return slices.ContainsFunc(vms, func(v *backend.VM) bool { return v.ID == ref || v.Name == ref })
}
