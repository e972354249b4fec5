package controlplane

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/testnode"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/plugins/sim"
)

func TestMain(m *testing.M) {
	code := m.Run()
	teststore.Cleanup()
	os.Exit(code)
}

// forEachDriver runs fn as a subtest per database.
func forEachDriver(t *testing.T, fn func(t *testing.T, driver string)) {
	for _, d := range teststore.Drivers {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// env is a service on a real store. With a backend, a simulated host's
// real agent serves node env.node through a real agent server (testnode);
// without, no node is connected. Every write to the store is counted in
// writes.
type env struct {
	store store.Store
	disp  *agentserver.Dispatcher
	svc   *Service
	rec   *Reconciler
	// host is the node with a backend; b is its simulated host.
	host   *testnode.Node
	b      *sim.Backend
	node   string
	writes *atomic.Int64
}

func newEnv(t *testing.T, driver string, withBackend bool) *env {
	t.Helper()
	return newEnvWith(t, driver, withBackend, nil)
}

// newEnvWith is newEnv with the reconciler's options tuned by tune.
func newEnvWith(t *testing.T, driver string, withBackend bool, tune func(*ReconcilerOptions)) *env {
	t.Helper()
	writes := new(atomic.Int64)
	e := &env{store: countingStore{Store: teststore.Open(t, driver), writes: writes}, disp: agentserver.NewDispatcher(), writes: writes}
	logger := testlog.New(t, hclog.Warn)
	var ro ReconcilerOptions
	if tune != nil {
		tune(&ro)
	}
	svc, err := New(Options{Store: e.store, Executor: e.disp, Logger: logger, Reconcile: ro})
	if err != nil {
		t.Fatal(err)
	}
	e.svc, e.rec = svc, svc.Reconciler()
	t.Cleanup(e.rec.Close)
	if withBackend {
		e.host = testnode.Start(t, testnode.Options{Handler: e.rec, Dispatcher: e.disp, Logger: logger})
		e.b, e.node = e.host.Sim, e.host.ID
	}
	return e
}

// settle waits until the control plane has applied what the node's agent
// reported of the host's changes; without a backend it does nothing.
func (e *env) settle(t *testing.T) {
	t.Helper()
	if e.host != nil {
		e.host.Settle(t)
	}
}

// seed stores a managed VM in state on node without any host.
func (e *env) seed(t *testing.T, name string, state vm.State, node string) *vm.VM {
	t.Helper()
	v := &vm.VM{
		ID: "seed-" + testid.Hex(8), Name: name, Origin: vm.OriginControlPlane, IsManaged: true,
		State: state, NodeID: node, DesiredState: vm.DesiredStopped, RestartPolicy: vm.RestartNever,
		Spec: vm.Spec{VCPUs: 1, MemoryMiB: 64},
	}
	if err := e.store.VMs().Create(context.Background(), v); err != nil {
		t.Fatalf("seeding %s: %v", name, err)
	}
	return v
}

// events returns the VM's history.
func (e *env) events(t *testing.T, id string) []*vm.Event {
	t.Helper()
	list, err := e.store.Events().List(context.Background(), id, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// wantKind fails unless err is a service error of kind k whose message
// holds every part.
func wantKind(t *testing.T, err error, k Kind, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want kind %d", k)
	}
	if KindOf(err) != k {
		t.Fatalf("error %q has kind %d, want %d", err, KindOf(err), k)
	}
	for _, p := range parts {
		if !contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// countingStore counts every write (attempted) through it and through the
// stores of its transactions.
type countingStore struct {
	store.Store
	writes *atomic.Int64
}

func (c countingStore) VMs() store.VMRepo       { return countingVMs{c.Store.VMs(), c.writes} }
func (c countingStore) Nodes() store.NodeRepo   { return countingNodes{c.Store.Nodes(), c.writes} }
func (c countingStore) Events() store.EventRepo { return countingEvents{c.Store.Events(), c.writes} }

func (c countingStore) Tx(ctx context.Context, fn func(store.Store) error) error {
	return c.Store.Tx(ctx, func(tx store.Store) error { return fn(countingStore{tx, c.writes}) })
}

type countingVMs struct {
	store.VMRepo
	writes *atomic.Int64
}

func (c countingVMs) Create(ctx context.Context, v *vm.VM) error {
	c.writes.Add(1)
	return c.VMRepo.Create(ctx, v)
}

func (c countingVMs) CreateMany(ctx context.Context, vms []*vm.VM) error {
	c.writes.Add(int64(len(vms)))
	return c.VMRepo.CreateMany(ctx, vms)
}

func (c countingVMs) Update(ctx context.Context, v *vm.VM) error {
	c.writes.Add(1)
	return c.VMRepo.Update(ctx, v)
}

func (c countingVMs) UpdateStatus(ctx context.Context, v *vm.VM) error {
	c.writes.Add(1)
	return c.VMRepo.UpdateStatus(ctx, v)
}

func (c countingVMs) Delete(ctx context.Context, id string) error {
	c.writes.Add(1)
	return c.VMRepo.Delete(ctx, id)
}

type countingNodes struct {
	store.NodeRepo
	writes *atomic.Int64
}

func (c countingNodes) Upsert(ctx context.Context, n *node.Node) error {
	c.writes.Add(1)
	return c.NodeRepo.Upsert(ctx, n)
}

func (c countingNodes) UpdateStatus(ctx context.Context, id string, st store.NodeStatus) error {
	c.writes.Add(1)
	return c.NodeRepo.UpdateStatus(ctx, id, st)
}

type countingEvents struct {
	store.EventRepo
	writes *atomic.Int64
}

func (c countingEvents) AppendMany(ctx context.Context, evs []*vm.Event) error {
	c.writes.Add(int64(len(evs)))
	return c.EventRepo.AppendMany(ctx, evs)
}

func (c countingEvents) Append(ctx context.Context, e *vm.Event) error {
	c.writes.Add(1)
	return c.EventRepo.Append(ctx, e)
}

// clock is a clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// register registers a node through the ReportHandler and returns its id.
func (e *env) register(t *testing.T, name string, interval time.Duration) string {
	t.Helper()
	id, err := e.rec.Register(context.Background(), nodeapi.Registration{NodeName: name, Address: "10.0.0.1",
		Backend: node.Backend{Name: "libvirt", Version: "test", Healthy: true}, HeartbeatInterval: interval})
	if err != nil {
		t.Fatalf("registering node %s: %v", name, err)
	}
	return id
}

// get reads a VM, failing the test when it is absent.
func (e *env) get(t *testing.T, id string) *vm.VM {
	t.Helper()
	v, err := e.store.VMs().Get(context.Background(), id)
	if err != nil {
		t.Fatalf("reading vm %s: %v", id, err)
	}
	return v
}

// count is how many VM records the store holds.
func (e *env) count(t *testing.T) int {
	t.Helper()
	vms, _, err := e.store.VMs().List(context.Background(), store.ListOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(vms)
}

func (c countingEvents) Restore(ctx context.Context, evs []*vm.Event) error {
	c.writes.Add(int64(len(evs)))
	return c.EventRepo.Restore(ctx, evs)
}
