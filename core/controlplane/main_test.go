package controlplane

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/controlplane/cptest"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
)

func TestMain(m *testing.M) {
	code := m.Run()
	cptest.Cleanup()
	os.Exit(code)
}

// forEachDriver runs fn as a subtest per database.
func forEachDriver(t *testing.T, fn func(t *testing.T, driver string)) {
	for _, d := range cptest.Drivers {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// env is a service on a real store. With a backend it has a local agent
// serving node env.node; without, no node is connected.
type env struct {
	store store.Store
	disp  *Dispatcher
	svc   *Service
	agent *LocalAgent
	node  string
	b     *cptest.TestDriverBackend
}

func newEnv(t *testing.T, driver string, withBackend bool) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{store: cptest.OpenStore(t, driver), disp: NewDispatcher()}
	logger := cptest.Logger(t, hclog.Warn)
	if withBackend {
		e.b = cptest.LaunchTestDriver(t)
		a, err := StartLocalAgent(ctx, LocalAgentConfig{Store: e.store, Backend: e.b, NodeName: "node-" + cptest.RandomHex(3), HeartbeatInterval: time.Hour, Logger: logger})
		if err != nil {
			t.Fatalf("starting the local agent: %v", err)
		}
		t.Cleanup(func() { _ = a.Close(context.Background()) })
		e.agent, e.node = a, a.NodeID()
		e.disp.Register(e.node, a)
	}
	svc, err := New(Options{Store: e.store, Executor: e.disp, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

// seed stores a managed VM in state on node without any host.
func (e *env) seed(t *testing.T, name string, state vm.State, node string) *vm.VM {
	t.Helper()
	v := &vm.VM{
		ID: "seed-" + cptest.RandomHex(8), Name: name, Origin: vm.OriginControlPlane, IsManaged: true,
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
