package controlplane

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
)

// seedAll stores vms.
func (e *env) seedAll(t *testing.T, vms ...*vm.VM) {
	t.Helper()
	for _, v := range vms {
		if err := e.store.VMs().Create(context.Background(), v); err != nil {
			t.Fatalf("seeding %s: %v", v.ID, err)
		}
	}
}

// nodeState reads a node's stored state.
func (e *env) nodeState(t *testing.T, id string) *node.Node {
	t.Helper()
	n, err := e.store.Nodes().Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHeartbeat: the hash is compared with the database's view of the
// node; a heartbeat that changes nothing writes nothing, the node row is
// written when the backend's health changes and once a minute otherwise.
func TestHeartbeat(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		clk := newClock()
		e := newEnvWith(t, driver, false, func(o *ReconcilerOptions) { o.Now = clk.Now })
		ctx := context.Background()
		a, b := e.register(t, "node-a", 0), e.register(t, "node-b", 0)
		e.seedAll(t,
			rec(u1, "running", vm.StateRunning, a, true),
			with(rec(u2, "stopping", vm.StateStopping, a, true), func(v *vm.VM) { v.LastKnownState = vm.StateRunning }),
			rec(u3, "gone", vm.StateTerminated, a, true),
			rec(u4, "lost", vm.StateLost, a, true),
			rec("placeholder-3", "creating", vm.StateCreating, a, true),
			rec(u5, "foreign", vm.StatePaused, a, false),
			rec(u6, "elsewhere", vm.StateRunning, b, true),
			with(rec(u7, "migrated-away", vm.StateMigrating, a, true), func(v *vm.VM) { v.LastKnownState = vm.StateRunning }),
		)
		// What the agent of node-a sees when the database is right: the
		// VM migrating away from it is not there any more.
		agentView := map[string]vm.State{u1: vm.StateRunning, u2: vm.StateRunning, u5: vm.StatePaused}
		healthy := node.Backend{Name: "libvirt", Version: "test", Healthy: true}
		if got, _ := e.rec.NodeStateHash(ctx, a); got != vm.StateHash(agentView) {
			t.Fatalf("NodeStateHash = %s, want the agent's %s", got, vm.StateHash(agentView))
		}
		cases := []struct {
			name string
			view map[string]vm.State
			want bool
		}{
			{"match", agentView, false},
			{"a state differs", map[string]vm.State{u1: vm.StateStopped, u2: vm.StateRunning, u5: vm.StatePaused}, true},
			{"the agent lacks a vm", map[string]vm.State{u1: vm.StateRunning, u5: vm.StatePaused}, true},
			{"the agent has one more", map[string]vm.State{u1: vm.StateRunning, u2: vm.StateRunning, u5: vm.StatePaused, "11111111-0000-4000-8000-000000000008": vm.StateStopped}, true},
			{"the agent still has the vm migrating away", map[string]vm.State{u1: vm.StateRunning, u2: vm.StateRunning, u5: vm.StatePaused, u7: vm.StateRunning}, true},
			{"the agent shows the transitional state's end", map[string]vm.State{u1: vm.StateRunning, u2: vm.StateStopped, u5: vm.StatePaused}, true},
		}
		e.writes.Store(0)
		for _, c := range cases {
			full, err := e.rec.Heartbeat(ctx, a, nodeapi.HeartbeatReport{StateHash: vm.StateHash(c.view), VMCount: len(c.view), Backend: healthy})
			if err != nil {
				t.Fatal(err)
			}
			if full != c.want {
				t.Errorf("%s: full sync asked = %v, want %v", c.name, full, c.want)
			}
		}
		if n := e.writes.Load(); n != 0 {
			t.Errorf("%d heartbeats within a minute without a health change made %d writes, want 0", len(cases), n)
		}
		match := nodeapi.HeartbeatReport{StateHash: vm.StateHash(agentView), Backend: healthy}

		sub, err := e.svc.Subscribe(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		sick := match
		sick.Backend = node.Backend{Name: "libvirt", Version: "test", Error: "libvirtd is down"}
		if _, err := e.rec.Heartbeat(ctx, a, sick); err != nil {
			t.Fatal(err)
		}
		if n := e.writes.Load(); n != 1 {
			t.Errorf("a health change made %d writes, want 1", n)
		}
		if n := e.nodeState(t, a); n.Backend != sick.Backend || n.State != node.StateReady {
			t.Errorf("node after the health change: %+v", n)
		}
		ev := nextEvent(t, sub)
		if ev.Kind != events.StreamNode || ev.Node.NodeID != a || ev.Node.Healthy || !strings.Contains(ev.Node.Message, "libvirtd is down") {
			t.Errorf("stream event %+v %+v, want the node's health change", ev, ev.Node)
		}
		if _, err := e.rec.Heartbeat(ctx, a, sick); err != nil {
			t.Fatal(err)
		}
		clk.Advance(DefaultNodeWriteInterval - time.Second)
		if _, err := e.rec.Heartbeat(ctx, a, sick); err != nil {
			t.Fatal(err)
		}
		if n := e.writes.Load(); n != 1 {
			t.Errorf("the same health again within a minute made %d writes, want 1 in all", n)
		}
		clk.Advance(2 * time.Second)
		if _, err := e.rec.Heartbeat(ctx, a, sick); err != nil {
			t.Fatal(err)
		}
		if n := e.writes.Load(); n != 2 {
			t.Errorf("a heartbeat a minute after the last write made %d writes in all, want 2", n)
		}
		if n := e.nodeState(t, a); n.LastHeartbeat == nil || !n.LastHeartbeat.Equal(clk.Now()) {
			t.Errorf("stored last_heartbeat %v, want %v", n.LastHeartbeat, clk.Now())
		}
		// A heartbeat that does not say how the backend is leaves it.
		if _, err := e.rec.Heartbeat(ctx, a, nodeapi.HeartbeatReport{StateHash: match.StateHash}); err != nil {
			t.Fatal(err)
		}
		if n := e.writes.Load(); n != 2 {
			t.Errorf("a heartbeat without backend health made a write")
		}
	})
}

// nextEvent waits a second at most for the next stream event.
func nextEvent(t *testing.T, es *events.Stream) events.StreamEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ev, err := es.Next(ctx)
	if err != nil {
		t.Fatalf("waiting for a stream event: %v", err)
	}
	return ev
}

// TestNodeLiveness: three missed heartbeats make the node UNREACHABLE and
// its VMs UNKNOWN, keeping what was last seen; a heartbeat brings the node
// back and asks for a full sync, which restores the VMs.
func TestNodeLiveness(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		clk := newClock()
		e := newEnvWith(t, driver, false, func(o *ReconcilerOptions) { o.Now = clk.Now })
		ctx := context.Background()
		a, b := e.register(t, "node-a", time.Second), e.register(t, "node-b", time.Second)
		e.seedAll(t,
			rec(u1, "running", vm.StateRunning, a, true),
			rec(u2, "stopped", vm.StateStopped, a, true),
			with(rec(u3, "stopping", vm.StateStopping, a, true), func(v *vm.VM) { v.LastKnownState = vm.StateRunning }),
			rec(u4, "gone", vm.StateTerminated, a, true),
			rec(u5, "lost", vm.StateLost, a, true),
			rec("placeholder-4", "creating", vm.StateCreating, a, true),
			rec(u6, "elsewhere", vm.StateRunning, b, true),
			rec(u7, "foreign", vm.StatePaused, a, false),
		)
		sub, err := e.svc.Subscribe(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		beatB := func() {
			t.Helper()
			if _, err := e.rec.Heartbeat(ctx, b, nodeapi.HeartbeatReport{}); err != nil {
				t.Fatal(err)
			}
		}
		clk.Advance(2900 * time.Millisecond)
		beatB()
		e.rec.nodes.check(ctx)
		if n := e.nodeState(t, a); n.State != node.StateReady {
			t.Fatalf("node-a is %s after 2.9 silent intervals of 1s", n.State)
		}
		clk.Advance(200 * time.Millisecond)
		beatB()
		e.rec.nodes.check(ctx)
		if n := e.nodeState(t, a); n.State != node.StateUnreachable {
			t.Fatalf("node-a is %s after 3 missed heartbeats, want UNREACHABLE", n.State)
		}
		if n := e.nodeState(t, b); n.State != node.StateReady {
			t.Errorf("node-b, which kept beating, is %s", n.State)
		}
		want := map[string][2]vm.State{
			u1: {vm.StateUnknown, vm.StateRunning}, u2: {vm.StateUnknown, vm.StateStopped}, u3: {vm.StateUnknown, vm.StateRunning},
			u7: {vm.StateUnknown, vm.StatePaused}, u4: {vm.StateTerminated, ""}, u5: {vm.StateLost, ""},
			"placeholder-4": {vm.StateCreating, ""}, u6: {vm.StateRunning, vm.StateRunning},
		}
		unknown := map[string]bool{}
		for id, w := range want {
			v := e.get(t, id)
			if v.State != w[0] || (w[1] != "" && v.LastKnownState != w[1]) {
				t.Errorf("%s (%s): state %s last_known %s, want %s %s", id, v.Name, v.State, v.LastKnownState, w[0], w[1])
			}
			if w[0] == vm.StateUnknown {
				unknown[id] = true
				evs := e.events(t, id)
				last := evs[len(evs)-1]
				if last.Action != "node_unreachable" || last.Cause != vm.CauseReconciler || last.NewState != vm.StateUnknown ||
					!strings.Contains(last.Message, "missed 3 heartbeats") {
					t.Errorf("%s: last event %+v", id, last)
				}
			}
		}
		// The stream carries the VMs' changes, then the node's.
		for range unknown {
			ev := nextEvent(t, sub)
			for ev.Kind == events.StreamNode && ev.Node.NodeID == b {
				ev = nextEvent(t, sub)
			}
			if ev.Kind != events.StreamVM || !unknown[ev.VM.VMID] || ev.VM.NewState != vm.StateUnknown {
				t.Fatalf("stream event %+v, want a vm becoming UNKNOWN", ev)
			}
		}
		if ev := nextEvent(t, sub); ev.Kind != events.StreamNode || ev.Node.NodeID != a || ev.Node.NewState != node.StateUnreachable {
			t.Errorf("stream event %+v, want node-a UNREACHABLE", ev)
		}
		e.writes.Store(0)
		e.rec.nodes.check(ctx)
		if n := e.writes.Load(); n != 0 {
			t.Errorf("checking an unreachable node again made %d writes", n)
		}

		// The agent is back: it sees the real states.
		view := map[string]vm.State{u1: vm.StateRunning, u2: vm.StateStopped, u3: vm.StateStopped, u7: vm.StatePaused}
		full, err := e.rec.Heartbeat(ctx, a, nodeapi.HeartbeatReport{StateHash: vm.StateHash(view)})
		if err != nil || !full {
			t.Fatalf("first heartbeat after UNREACHABLE = %v, %v; want a full sync asked", full, err)
		}
		if n := e.nodeState(t, a); n.State != node.StateReady {
			t.Errorf("node-a is %s after a heartbeat", n.State)
		}
		sync := []*backend.VM{hostVM(u1, "running", backend.StateRunning), hostVM(u2, "stopped", backend.StateStopped),
			hostVM(u3, "stopping", backend.StateStopped), hostVM(u7, "foreign", backend.StatePaused)}
		if err := e.rec.FullSync(ctx, a, sync); err != nil {
			t.Fatal(err)
		}
		for id, st := range view {
			if v := e.get(t, id); v.State != st {
				t.Errorf("%s after the full sync: %s, want %s", id, v.State, st)
			}
		}
		if evs := e.events(t, u1); !strings.Contains(evs[len(evs)-1].Message, "reachable again") {
			t.Errorf("restore event %+v", evs[len(evs)-1])
		}
		if full, err := e.rec.Heartbeat(ctx, a, nodeapi.HeartbeatReport{StateHash: vm.StateHash(view)}); err != nil || full {
			t.Errorf("heartbeat after the full sync = %v, %v; want no full sync", full, err)
		}
	})
}

// TestDisconnectedStartsTheClock: a disconnect does not make the node
// UNREACHABLE at once; missing the heartbeats afterwards does.
func TestDisconnectedStartsTheClock(t *testing.T) {
	clk := newClock()
	e := newEnvWith(t, "sqlite", false, func(o *ReconcilerOptions) { o.Now = clk.Now })
	ctx := context.Background()
	a := e.register(t, "node-a", 2*time.Second)
	e.seedAll(t, rec(u1, "running", vm.StateRunning, a, true))
	clk.Advance(time.Second)
	e.rec.Disconnected(ctx, a)
	e.rec.nodes.check(ctx)
	if n := e.nodeState(t, a); n.State != node.StateReady {
		t.Fatalf("node is %s right after its agent disconnected", n.State)
	}
	if _, connected, _ := e.rec.nodes.lastBeat(a); connected {
		t.Error("the node's agent still counts as connected")
	}
	clk.Advance(4 * time.Second)
	e.rec.nodes.check(ctx)
	if n := e.nodeState(t, a); n.State != node.StateReady {
		t.Fatalf("node is %s 5s after its last heartbeat, with 6s allowed", n.State)
	}
	clk.Advance(1100 * time.Millisecond)
	e.rec.nodes.check(ctx)
	if n := e.nodeState(t, a); n.State != node.StateUnreachable {
		t.Fatalf("node is %s after 3 missed heartbeats", n.State)
	}
	if v := e.get(t, u1); v.State != vm.StateUnknown || v.LastKnownState != vm.StateRunning {
		t.Errorf("vm after the node went unreachable: %s (last known %s)", v.State, v.LastKnownState)
	}
	// A new registration makes it READY again; its VMs wait for the sync.
	if id := e.register(t, "node-a", time.Second); id != a {
		t.Errorf("registering again gave id %s, want %s", id, a)
	}
	if n := e.nodeState(t, a); n.State != node.StateReady {
		t.Errorf("node is %s after registering again", n.State)
	}
	if v := e.get(t, u1); v.State != vm.StateUnknown {
		t.Errorf("vm is %s before the full sync, want UNKNOWN", v.State)
	}
}

// TestRunLiveness: Run's loop marks silent nodes, including one stored
// READY that no agent of this process ever heartbeated for.
func TestRunLiveness(t *testing.T) {
	e := newEnvWith(t, "sqlite", false, func(o *ReconcilerOptions) {
		o.HeartbeatInterval = 30 * time.Millisecond
		o.LivenessScan = 5 * time.Millisecond
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stale := &node.Node{ID: "stale-node", Name: "stale", State: node.StateReady}
	if err := e.store.Nodes().Upsert(ctx, stale); err != nil {
		t.Fatal(err)
	}
	a := e.register(t, "node-a", 0)
	e.seedAll(t, rec(u1, "running", vm.StateRunning, a, true))
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- e.rec.Run(ctx) }()
	wait.Until(t, 2*time.Second, "both nodes UNREACHABLE", func() bool {
		return e.nodeState(t, a).State == node.StateUnreachable && e.nodeState(t, "stale-node").State == node.StateUnreachable
	})
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("nodes went UNREACHABLE after %s, before 3 intervals of 30ms", d)
	}
	if v := e.get(t, u1); v.State != vm.StateUnknown {
		t.Errorf("vm is %s, want UNKNOWN", v.State)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}
