// Package testnode gives tests a node wired as production wires one: the
// simulated backend (plugins/sim) linked in-process, driven by the real node
// agent (core/agent), which dials a real agent server (core/agentserver) on
// a loopback port over TLS, the agent enrolling with a join token as a new
// host does. The agent server applies the agent's reports through the
// ReportHandler the test gives (the control plane's Reconciler) and routes
// commands to the node through the test's Dispatcher, so that a test of the
// control plane or of the API runs every command and every report over the
// agent protocol.
//
// The simulated host is the test's to change behind the control plane's
// back (sim.Backend's scripting methods: Crash, GuestShutdown, Remove, ...);
// the agent reports what it sees as it would on a real host. Settle waits
// until those reports have been applied.
package testnode

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agent"
	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/internal/testenroll"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/plugins/sim"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// within bounds how long Start and Settle wait.
const within = 10 * time.Second

// quiet is the agent's heartbeat and listing interval: the agent reports the
// changes of its host as they happen, and its first full sync when it
// connects, but no periodic heartbeat or listing comes in the middle of a
// test (its server would then ask for a full sync of a host whose records
// the test has seeded on purpose).
const quiet = time.Hour

// Options configure a node.
type Options struct {
	// Handler applies the agent's reports (required).
	Handler nodeapi.ReportHandler
	// Dispatcher routes commands to the node while its session is attached
	// (required).
	Dispatcher *agentserver.Dispatcher
	// Name is the node's name; empty takes "node-" and a random suffix.
	Name string
	// Logger receives the agent's, the server's and the backend's log; nil
	// discards.
	Logger hclog.Logger
	// Backend, when set, is the host the agent drives instead of an
	// in-process simulated one (a plugin process launched by the test,
	// such as the sim plugin or the libvirt one); Node.Sim is then nil and
	// the test changes the host through its own means. It is not closed.
	Backend backend.Backend
}

// Node is a simulated host served by a real agent through a real agent
// server.
type Node struct {
	// Sim is the simulated host the agent drives.
	Sim *sim.Backend
	// LogDir is the host's log directory: <LogDir>/<vm name>.log is a VM's
	// hypervisor log, which TailLog reads. The backend writes nothing there
	// on its own.
	LogDir string
	// Name is the node's name; ID is the id the handler gave it.
	Name, ID string
	// Backend is the host the agent drives: Options.Backend, or the
	// in-process simulated host.
	Backend backend.Backend

	rec  *recorder
	stop func()
}

// Start starts the agent server, the simulated host and its agent, and
// returns once the agent's session is attached and its first full sync
// applied. Everything stops when the test ends.
func Start(t testing.TB, opts Options) *Node {
	t.Helper()
	if opts.Handler == nil || opts.Dispatcher == nil {
		t.Fatal("testnode: a report handler and a dispatcher are required")
	}
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	name := opts.Name
	if name == "" {
		name = "node-" + strings.ToLower(rand.Text()[:6])
	}
	rec := &recorder{ReportHandler: opts.Handler, states: map[string]backend.PowerState{}}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testnode: listening for the agent: %v", err)
	}
	ca, cert := testenroll.TLS(t)
	token := testenroll.Token(ca, strings.ToLower(rand.Text()))
	srv, err := agentserver.New(agentserver.Options{
		Handler: rec, Dispatcher: opts.Dispatcher, Logger: logger,
		CA: ca, Certificate: cert, Enrollment: testenroll.New(token, 1),
	})
	if err != nil {
		t.Fatalf("testnode: %v", err)
	}
	// Until the server serves it (below), the listener is the test's.
	t.Cleanup(func() { _ = ln.Close() })

	logDir := t.TempDir()
	var b *sim.Backend
	host := opts.Backend
	if host == nil {
		b = sim.New(sim.WithLogger(logger.Named("sim")))
		noLogEvents := false
		in, err := pluginhost.InProcess(context.Background(), sim.Name, b,
			sim.Config{Hostname: name, LogDir: logDir, LogEvents: &noLogEvents}.Settings())
		if err != nil {
			t.Fatalf("testnode: %v", err)
		}
		t.Cleanup(func() {
			if err := in.Close(); err != nil {
				t.Errorf("testnode: closing the simulated host: %v", err)
			}
		})
		host = in
	}

	lb := &listings{Backend: host}
	a, err := agent.New(agent.Config{
		NodeName:          name,
		Servers:           []string{ln.Addr().String()},
		JoinToken:         token,
		CertDir:           t.TempDir(),
		Backend:           lb,
		HeartbeatInterval: quiet,
		ResyncInterval:    quiet,
		DisableQEMULogs:   true,
		Logger:            logger,
	})
	if err != nil {
		t.Fatalf("testnode: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	n := &Node{Sim: b, LogDir: logDir, Name: name, rec: rec, Backend: host}
	n.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("testnode: the agent of %s: %v", name, err)
			}
		case <-time.After(within):
			t.Errorf("testnode: the agent of %s did not stop within %s", name, within)
		}
	})
	t.Cleanup(n.Stop)

	// The agent lists the host when it starts and again once its event
	// stream has held for a moment; each listing is followed by a full sync
	// while it is attached. The server starts once both listings are done,
	// so that exactly one full sync, on attaching, comes, and none later in
	// the test.
	wait.Until(t, within, "the agent of "+name+" to list its host twice", func() bool { return lb.count() >= 2 })
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("testnode: closing the agent server: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("testnode: serving agents: %v", err)
		}
	})
	n.ID = wait.Value(t, within, "the agent of "+name+" to attach its session", func() (string, bool) {
		st := a.Status()
		return st.NodeID, st.Connected && st.NodeID != ""
	})
	wait.Until(t, within, "the first full sync of "+name, func() bool { return rec.fullSyncs() > 0 })
	return n
}

// Stop stops the agent, as a host whose agent goes away: its session ends,
// the node's commands fail as unavailable. The host and the server stay.
// Later calls do nothing.
func (n *Node) Stop() { n.stop() }

// Settle waits until the control plane has applied what the agent saw of
// the host: every VM the host has was last reported in the state it is in,
// and every VM reported and gone from the host was last reported gone. Call
// it after changing the host, or after an action, before a step that
// depends on the agent's reports having arrived.
func (n *Node) Settle(t testing.TB) {
	t.Helper()
	wait.UntilNil(t, within, "the reports of "+n.Name+"'s agent to be applied", func() error {
		vms, err := n.Backend.ListVMs(context.Background())
		if err != nil {
			return err
		}
		return n.rec.matches(vms)
	})
}

// listings counts the agent's listings of the host.
type listings struct {
	backend.Backend
	mu sync.Mutex
	n  int
}

func (l *listings) ListVMs(ctx context.Context) ([]*backend.VM, error) {
	vms, err := l.Backend.ListVMs(ctx)
	l.mu.Lock()
	l.n++
	l.mu.Unlock()
	return vms, err
}

// StreamLogFrom resumes by file when the host can.
func (l *listings) StreamLogFrom(ctx context.Context, id string, from backend.LogPosition, fn func(backend.LogLine) error) error {
	if r, ok := l.Backend.(backend.LogResumer); ok {
		return r.StreamLogFrom(ctx, id, from, fn)
	}
	return l.Backend.StreamLog(ctx, id, from.Offset, fn)
}

// Health is the host's, when it checks its health.
func (l *listings) Health(ctx context.Context) error {
	if h, ok := l.Backend.(backend.HealthChecker); ok {
		return h.Health(ctx)
	}
	return nil
}

// OpenConsole opens the console when the host has one.
func (l *listings) OpenConsole(ctx context.Context, id string) (io.ReadWriteCloser, error) {
	if co, ok := l.Backend.(backend.ConsoleOpener); ok {
		return co.OpenConsole(ctx, id)
	}
	return nil, plugin.Unsupported("the host has no serial console")
}

func (l *listings) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// recorder passes reports on to the handler and keeps, once applied, the
// last state reported of each VM.
type recorder struct {
	nodeapi.ReportHandler

	mu     sync.Mutex
	syncs  int
	states map[string]backend.PowerState
}

func (r *recorder) FullSync(ctx context.Context, nodeID string, vms []*backend.VM) error {
	err := r.ReportHandler.FullSync(ctx, nodeID, vms)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.syncs++
	clear(r.states)
	for _, v := range vms {
		r.states[v.ID] = v.State
	}
	return err
}

func (r *recorder) Change(ctx context.Context, nodeID string, ch nodeapi.Change) error {
	err := r.ReportHandler.Change(ctx, nodeID, ch)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case ch.Gone:
		delete(r.states, ch.VMID)
	case ch.VM != nil:
		r.states[ch.VM.ID] = ch.VM.State
	}
	return err
}

func (r *recorder) fullSyncs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.syncs
}

// matches says how the reported states differ from vms, or nil.
func (r *recorder) matches(vms []*backend.VM) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var diff []string
	for _, v := range vms {
		if got, ok := r.states[v.ID]; !ok || got != v.State {
			diff = append(diff, fmt.Sprintf("vm %s is %s, last reported %q", v.Name, v.State, got))
		}
	}
	for id := range r.states {
		if !slices.ContainsFunc(vms, func(v *backend.VM) bool { return v.ID == id }) {
			diff = append(diff, fmt.Sprintf("vm %s is gone, last reported %s", id, r.states[id]))
		}
	}
	if len(diff) > 0 {
		slices.Sort(diff)
		return fmt.Errorf("not yet: %s", strings.Join(diff, "; "))
	}
	return nil
}
