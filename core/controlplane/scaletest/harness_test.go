package scaletest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agent"
	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/api"
	"github.com/quantixvm/quantix/core/auth"
	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/testenroll"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/plugins/sim"
)

func TestMain(m *testing.M) {
	code := m.Run()
	teststore.Cleanup()
	os.Exit(code)
}

// cluster is one control plane running in the test's process, wired as
// `quantixd server` wires it: a store, the Service and its Reconciler
// (Run going), the agent server on a loopback port and the REST API on
// another.
//
// Its goroutines carry the pprof label side=server (agent server,
// reconciler) or side=api (HTTP server), so that a CPU profile tells their
// share from the agents' (side=agent).
type cluster struct {
	driver  string
	store   store.Store
	svc     *controlplane.Service
	rpcAddr string
	apiURL  string
	// apiToken is an admin API token of the API at apiURL.
	apiToken string
	// joinToken enrolls any number of hosts.
	joinToken string
	// stopReconciler ends the reconciler's periodic work (liveness, stuck
	// states) and waits for it; later calls do nothing.
	stopReconciler func()
}

// Values of the pprof label "side".
const (
	sideServer = "server"
	sideAPI    = "api"
	sideAgent  = "agent"
	sideClient = "client"
)

// labelled runs fn in a new goroutine labelled side; goroutines fn starts
// inherit the label.
func labelled(side string, fn func()) {
	go pprof.Do(context.Background(), pprof.Labels("side", side), func(context.Context) { fn() })
}

// clusterOptions tune startCluster.
type clusterOptions struct {
	// reconcile configures the Reconciler; Store, Executor and Logger are
	// filled in.
	reconcile controlplane.ReconcilerOptions
	// log receives the server's log; nil discards.
	log hclog.Logger
	// handler, when set, wraps the Reconciler as the agent server's
	// ReportHandler.
	handler func(nodeapi.ReportHandler) nodeapi.ReportHandler
	// storeLog, when set, receives the store's log (slow queries);
	// otherwise the test's log gets its warnings.
	storeLog hclog.Logger
}

// startCluster starts a control plane on a fresh store of driver; it is
// shut down when the test ends, after the hosts started later.
func startCluster(tb testing.TB, driver string, opts clusterOptions) *cluster {
	tb.Helper()
	logger := opts.log
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	var st store.Store
	if opts.storeLog == nil {
		st = teststore.Open(tb, driver)
	} else {
		var err error
		if st, err = store.Open(context.Background(), driver, teststore.DSN(tb, driver), opts.storeLog); err != nil {
			tb.Fatalf("opening %s store: %v", driver, err)
		}
		tb.Cleanup(func() {
			if err := st.Close(); err != nil {
				tb.Errorf("closing store: %v", err)
			}
		})
	}
	disp := agentserver.NewDispatcher()
	svc, err := controlplane.New(controlplane.Options{Store: st, Executor: disp, Reconcile: opts.reconcile, Logger: logger})
	if err != nil {
		tb.Fatal(err)
	}
	rec := svc.Reconciler()
	rctx, stopReconciler := context.WithCancel(context.Background())
	recDone := make(chan error, 1)
	labelled(sideServer, func() { recDone <- rec.Run(rctx) })
	stopRec := sync.OnceFunc(func() {
		stopReconciler()
		if err := <-recDone; err != nil {
			tb.Errorf("reconciler Run: %v", err)
		}
	})

	rpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var handler nodeapi.ReportHandler = rec
	if opts.handler != nil {
		handler = opts.handler(rec)
	}
	// Every host dials from loopback: the bound on new nodes per address
	// is lifted.
	// The agent port speaks TLS; every host enrolls with the cluster's
	// join token.
	ca, cert := testenroll.TLS(tb)
	token := testenroll.Token(ca, "scale")
	agents, err := agentserver.New(agentserver.Options{Handler: handler, Dispatcher: disp, Logger: logger,
		CA: ca, Certificate: cert, Enrollment: testenroll.New(token, 1<<30),
		NewNodes: agentserver.NewNodeLimit{PeerBurst: 1 << 20, TotalBurst: 1 << 20}})
	if err != nil {
		tb.Fatal(err)
	}
	agentsDone := make(chan error, 1)
	labelled(sideServer, func() { agentsDone <- agents.Serve(rpcLn) })

	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	authn := auth.New(st.Auth(), auth.Options{Logger: logger})
	admin, err := authn.CreateUser(context.Background(), "admin", "scaletest admin password", identity.RoleAdmin)
	if err != nil {
		tb.Fatal(err)
	}
	_, apiToken, err := authn.CreateToken(context.Background(), auth.Principal{Via: auth.MethodSession, UserID: admin.ID, User: admin.Name, Role: admin.Role},
		auth.TokenSpec{Name: "scaletest"})
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: api.New(api.Options{Service: svc, Logger: logger, Version: "scaletest", Auth: authn}), ReadHeaderTimeout: 10 * time.Second}
	hs.RegisterOnShutdown(svc.Broker().Close)
	apiDone := make(chan error, 1)
	labelled(sideAPI, func() { apiDone <- hs.Serve(apiLn) })

	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			tb.Errorf("shutting down the api: %v", err)
		}
		if err := <-apiDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("serving the api: %v", err)
		}
		if err := agents.Close(ctx); err != nil {
			tb.Errorf("closing the agent server: %v", err)
		}
		if err := <-agentsDone; err != nil {
			tb.Errorf("serving agents: %v", err)
		}
		stopRec()
		rec.Close()
	})
	return &cluster{driver: driver, store: st, svc: svc, rpcAddr: rpcLn.Addr().String(), apiURL: "http://" + apiLn.Addr().String(),
		apiToken: apiToken, joinToken: token,
		stopReconciler: stopRec}
}

// host is one simulated host: a sim backend linked in-process and the
// node agent driving it, dialling the cluster over loopback.
type host struct {
	name  string
	sim   *sim.Backend
	agent *agent.Agent
	// in is the backend as the agent drives it.
	in *pluginhost.InProcessBackend
	// certDir keeps the agent's certificate across its restarts.
	certDir string
	// stop ends the agent and waits for it; later calls do nothing.
	stop func()
}

// hostOptions tune startHost.
type hostOptions struct {
	// vms pre-populates the host.
	vms sim.VMsConfig
	// Agent timing; zero takes the agent's defaults (sync jitter: none).
	heartbeat, jitter, resync time.Duration
	// log receives the agent's and the backend's log; nil discards.
	log hclog.Logger
}

// startHost starts host name (its node name and the sim's hostname) and
// its agent; both stop when the test ends.
func startHost(tb testing.TB, c *cluster, name string, opts hostOptions) *host {
	tb.Helper()
	h := newHost(tb, name, opts)
	h.start(tb, c, opts)
	return h
}

// newHost makes and populates the simulated host name, closed when the
// test ends; start runs its agent.
func newHost(tb testing.TB, name string, opts hostOptions) *host {
	tb.Helper()
	logger := opts.log
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	noLogs := false
	b := sim.New(sim.WithLogger(logger.Named("sim")))
	in, err := pluginhost.InProcess(context.Background(), sim.Name, b,
		sim.Config{Hostname: name, VMs: opts.vms, LogEvents: &noLogs}.Settings())
	if err != nil {
		tb.Fatalf("host %s: %v", name, err)
	}
	h := &host{name: name, sim: b, in: in, certDir: tb.TempDir(), stop: func() {}}
	tb.Cleanup(func() {
		h.stop()
		if err := in.Close(); err != nil {
			tb.Errorf("host %s: %v", name, err)
		}
	})
	return h
}

// start runs the host's agent, dialling c, in goroutines labelled
// side=agent, until stop or the end of the test.
func (h *host) start(tb testing.TB, c *cluster, opts hostOptions) {
	tb.Helper()
	logger := opts.log
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	a, err := agent.New(agent.Config{
		NodeName:          h.name,
		Servers:           []string{c.rpcAddr},
		JoinToken:         c.joinToken,
		CertDir:           h.certDir,
		Backend:           h.in,
		HeartbeatInterval: opts.heartbeat,
		ResyncInterval:    opts.resync,
		SyncJitter:        opts.jitter,
		// 250 followers per host would swamp a process running 200 hosts.
		DisableQEMULogs: true,
		Logger:          logger,
	})
	if err != nil {
		tb.Fatalf("host %s: %v", h.name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	labelled(sideAgent, func() { done <- a.Run(ctx) })
	h.agent = a
	h.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("agent of host %s: %v", h.name, err)
			}
		case <-time.After(30 * time.Second):
			tb.Errorf("the agent of host %s did not stop within 30s", h.name)
		}
	})
}

// nodeID returns the id the cluster gave the host's node, waiting for its
// registration.
func (h *host) nodeID(tb testing.TB) string {
	tb.Helper()
	waitFor(tb, 10*time.Second, "registration of node "+h.name, func() (bool, string) {
		st := h.agent.Status()
		return st.NodeID != "", fmt.Sprintf("agent status %+v", st)
	})
	return h.agent.Status().NodeID
}

// waitFor waits until cond holds (internal/wait); cond's text says where
// things stand, for the failure message.
func waitFor(tb testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	wait.UntilNil(tb, within, what, func() error {
		if ok, state := cond(); !ok {
			return fmt.Errorf("last seen: %s", state)
		}
		return nil
	})
}

// allVMs returns every VM record, by id.
func allVMs(tb testing.TB, st store.Store) map[string]*vm.VM {
	tb.Helper()
	out := make(map[string]*vm.VM)
	opts := store.ListOptions{Limit: 1000}
	for {
		page, next, err := st.VMs().List(context.Background(), opts)
		if err != nil {
			tb.Fatalf("listing vms: %v", err)
		}
		for _, v := range page {
			out[v.ID] = v
		}
		if next == "" {
			return out
		}
		opts.Cursor = next
	}
}

// onNode returns the records placed on node id, by VM id.
func onNode(tb testing.TB, st store.Store, id string) map[string]*vm.VM {
	tb.Helper()
	list, err := st.VMs().ListByNode(context.Background(), id)
	if err != nil {
		tb.Fatalf("listing the vms of node %s: %v", id, err)
	}
	out := make(map[string]*vm.VM, len(list))
	for _, v := range list {
		out[v.ID] = v
	}
	return out
}

// getVM returns the record of VM id, nil when there is none.
func getVM(tb testing.TB, st store.Store, id string) *vm.VM {
	tb.Helper()
	v, err := st.VMs().Get(context.Background(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		tb.Fatalf("getting vm %s: %v", id, err)
	}
	return v
}

// history returns the stored events of VM id, oldest first.
func history(tb testing.TB, st store.Store, id string) []*vm.Event {
	tb.Helper()
	var out []*vm.Event
	var after int64
	for {
		page, err := st.Events().List(context.Background(), id, after, 1000)
		if err != nil {
			tb.Fatalf("listing the events of vm %s: %v", id, err)
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out
		}
		after = page[len(page)-1].ID
	}
}

// recorder keeps every entry of the cluster's event stream (GET
// /api/events), removals of records included, which the store cannot keep.
type recorder struct {
	mu  sync.Mutex
	evs []events.StreamEvent
	err error
}

// record subscribes to the cluster's event stream until the test ends.
func (c *cluster) record(tb testing.TB) *recorder {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	es, err := c.svc.Subscribe(ctx, "")
	if err != nil {
		tb.Fatalf("subscribing to the event stream: %v", err)
	}
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := es.Next(ctx)
			r.mu.Lock()
			if err != nil {
				if ctx.Err() == nil {
					r.err = err
				}
				r.mu.Unlock()
				return
			}
			r.evs = append(r.evs, ev)
			r.mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
		es.Close()
	})
	return r
}

// mark waits until the stream has carried every VM event st holds, and
// returns the number of entries recorded: a position after them.
func (r *recorder) mark(tb testing.TB, st store.Store) int {
	tb.Helper()
	last, err := st.Events().LastID(context.Background())
	if err != nil {
		tb.Fatalf("reading the last event id: %v", err)
	}
	n := 0
	waitFor(tb, 10*time.Second, fmt.Sprintf("the event stream carrying vm event %d", last), func() (bool, string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		n = len(r.evs)
		for i := len(r.evs) - 1; i >= 0; i-- {
			if ev := r.evs[i]; ev.Kind == events.StreamVM && ev.VM.ID > 0 {
				return ev.VM.ID >= last, fmt.Sprintf("vm event %d", ev.VM.ID)
			}
		}
		return last == 0, "no vm event"
	})
	return n
}

// vmEvents returns the VM events recorded from position from on, failing
// the test when the stream broke or dropped entries.
func (r *recorder) vmEvents(tb testing.TB, from int) []*vm.Event {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		tb.Fatalf("the event stream broke: %v", r.err)
	}
	var out []*vm.Event
	for _, ev := range r.evs[min(from, len(r.evs)):] {
		switch ev.Kind {
		case events.StreamGap:
			tb.Fatalf("the event stream dropped %d entries: %s", ev.Gap.Dropped, ev.Gap.Message)
		case events.StreamVM:
			out = append(out, ev.VM)
		}
	}
	return out
}

// nodeEvents returns the node events recorded from position from on.
func (r *recorder) nodeEvents(tb testing.TB, from int) []*events.NodeEvent {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*events.NodeEvent
	for _, ev := range r.evs[min(from, len(r.evs)):] {
		if ev.Kind == events.StreamNode {
			out = append(out, ev.Node)
		}
	}
	return out
}
