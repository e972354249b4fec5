package controlplane

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/testnode"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
)

// heldChange holds back the first change of one VM in one state, armed by
// arm, until release: a report of the host that travels late. The
// agent server applies a node's reports in order, so the reports after it
// wait too; command replies do not.
type heldChange struct {
	nodeapi.ReportHandler

	mu      sync.Mutex
	vmID    string
	state   backend.PowerState
	held    chan struct{}
	release chan struct{}
	applied chan struct{}
}

func (h *heldChange) arm(id string, st backend.PowerState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.vmID, h.state = id, st
	h.held, h.release, h.applied = make(chan struct{}), make(chan struct{}), make(chan struct{})
}

func (h *heldChange) Change(ctx context.Context, nodeID string, ch nodeapi.Change) error {
	h.mu.Lock()
	hold := h.vmID != "" && ch.VM != nil && ch.VM.ID == h.vmID && ch.VM.State == h.state
	held, release, applied := h.held, h.release, h.applied
	if hold {
		h.vmID = ""
	}
	h.mu.Unlock()
	if !hold {
		return h.ReportHandler.Change(ctx, nodeID, ch)
	}
	close(held)
	select {
	case <-release:
	case <-ctx.Done():
	}
	err := h.ReportHandler.Change(ctx, nodeID, ch)
	close(applied)
	return err
}

func closed(c chan struct{}) func() bool {
	return func() bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
}

// newEnvHeld is newEnv with a backend whose agent's changes pass through a
// heldChange.
func newEnvHeld(t *testing.T, driver string) (*env, *heldChange) {
	t.Helper()
	writes := new(atomic.Int64)
	e := &env{store: countingStore{Store: teststore.Open(t, driver), writes: writes}, disp: agentserver.NewDispatcher(), writes: writes}
	logger := testlog.New(t, hclog.Warn)
	svc, err := New(Options{Store: e.store, Executor: e.disp, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	e.svc, e.rec = svc, svc.Reconciler()
	t.Cleanup(e.rec.Close)
	h := &heldChange{ReportHandler: e.rec}
	e.host = testnode.Start(t, testnode.Options{Handler: h, Dispatcher: e.disp, Logger: logger})
	e.b, e.node = e.host.Sim, e.host.ID
	return e, h
}

// A change the agent sent of a start, applied after the stop that
// followed it had written the host's answer, is older than what the record
// holds: the VM stays STOPPED, as the host has it, and can be started again
// at once. The same the other way round: a stop's late report does not
// undo the start that followed.
func TestLateChangeDoesNotOverwriteNewerResult(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e, h := newEnvHeld(t, driver)
		ctx := context.Background()
		v, err := e.svc.Create(ctx, CreateRequest{Name: "late", VCPUs: 1, MemoryMiB: 64})
		if err != nil {
			t.Fatal(err)
		}
		e.settle(t)

		// start, then stop while the start's change is on its way.
		h.arm(v.ID, backend.StateRunning)
		if _, err := e.svc.Start(ctx, v.ID); err != nil {
			t.Fatalf("start: %v", err)
		}
		wait.Until(t, 10*time.Second, "the start's change to be held", closed(h.held))
		if _, err := e.svc.Stop(ctx, v.ID, StopOptions{Force: true}); err != nil {
			t.Fatalf("stop: %v", err)
		}
		close(h.release)
		wait.Until(t, 10*time.Second, "the start's late change to be applied", closed(h.applied))
		if got := e.get(t, v.ID); got.State != vm.StateStopped {
			t.Fatalf("after the start's late change the vm is %s (%q), want STOPPED as the host has it", got.State, got.Message)
		}

		// stop's change late behind a start.
		h.arm(v.ID, backend.StateStopped)
		if _, err := e.svc.Start(ctx, v.ID); err != nil {
			t.Fatalf("starting again right after the stop: %v", err)
		}
		if _, err := e.svc.Stop(ctx, v.ID, StopOptions{Force: true}); err != nil {
			t.Fatalf("stop: %v", err)
		}
		wait.Until(t, 10*time.Second, "the stop's change to be held", closed(h.held))
		if _, err := e.svc.Start(ctx, v.ID); err != nil {
			t.Fatalf("start: %v", err)
		}
		close(h.release)
		wait.Until(t, 10*time.Second, "the stop's late change to be applied", closed(h.applied))
		if got := e.get(t, v.ID); got.State != vm.StateRunning {
			t.Fatalf("after the stop's late change the vm is %s (%q), want RUNNING as the host has it", got.State, got.Message)
		}
		if got := e.get(t, v.ID); got.DesiredState != vm.DesiredRunning {
			t.Errorf("desired_state %s after the stop's late change, want running", got.DesiredState)
		}
		if _, err := e.svc.Stop(ctx, v.ID, StopOptions{Force: true}); err != nil {
			t.Fatalf("stopping after the late change: %v", err)
		}
		e.settle(t)
		if got := e.get(t, v.ID); got.State != vm.StateStopped {
			t.Fatalf("settled, the vm is %s, want STOPPED", got.State)
		}
	})
}

// A command's result the host observed before the status the record
// holds (a change observed after the reply, applied first) keeps the
// record's state; one still in the action's transitional state takes the
// result, which ends the action.
func TestApplyOlderThanRecord(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver, false)
		ctx := context.Background()
		node := e.register(t, "n1", time.Second)
		observed := time.Now().UTC().Truncate(time.Millisecond)
		v := e.seed(t, "newer", vm.StateStopped, node)
		v.ObservedAt = &observed
		if err := e.store.VMs().UpdateStatus(ctx, v); err != nil {
			t.Fatal(err)
		}
		running := &backend.VM{ID: v.ID, Name: v.Name, State: backend.StateRunning}
		got, err := e.rec.Apply(ctx, node, running, Note{Cause: vm.CauseAPI, Action: "start", ObservedAt: observed.Add(-time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		if got.State != vm.StateStopped || got.ObservedAt == nil || !got.ObservedAt.Equal(observed) {
			t.Errorf("an older result over a STOPPED record observed at %s: %s observed %v, want STOPPED kept", observed, got.State, got.ObservedAt)
		}

		got, err = e.rec.Apply(ctx, node, running, Note{Cause: vm.CauseAPI, Action: "start", ObservedAt: observed.Add(time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		if got.State != vm.StateRunning || !got.ObservedAt.Equal(observed.Add(time.Millisecond)) {
			t.Errorf("a newer result: %s observed %v, want RUNNING observed %s", got.State, got.ObservedAt, observed.Add(time.Millisecond))
		}

		w := e.seed(t, "starting", vm.StateStarting, node)
		w.LastKnownState, w.ObservedAt = vm.StateStopped, &observed
		if err := e.store.VMs().UpdateStatus(ctx, w); err != nil {
			t.Fatal(err)
		}
		got, err = e.rec.Apply(ctx, node, &backend.VM{ID: w.ID, Name: w.Name, State: backend.StateRunning},
			Note{Cause: vm.CauseAPI, Action: "start", ObservedAt: observed.Add(-time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		if got.State != vm.StateRunning {
			t.Errorf("the result of a start still STARTING: %s, want RUNNING", got.State)
		}
	})
}
