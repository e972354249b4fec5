package scaletest_test

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/plugins/sim"
	"github.com/quantixvm/quantix/sdk/backend"
)

// Timing of TestAgentsStayApart: heartbeats every apartBeat, so that the
// hash comparisons the test waits for come soon, and a node silent for
// apartLiveness is UNREACHABLE. Only the stopped agent's node may become
// UNREACHABLE, so the window is many heartbeats long: a loaded machine
// that delays a few heartbeats must not make a live node UNREACHABLE
// mid-test.
const (
	apartBeat     = 200 * time.Millisecond
	apartJitter   = 50 * time.Millisecond
	apartLiveness = 5 * time.Second
	apartVMs      = 6
	// settle bounds how long a change may take to reach the database.
	settle = 10 * time.Second
)

// TestAgentsStayApart runs three agents on loopback, each with its own
// simulated host, against one server (real agent server, real Reconciler)
// on SQLite and on PostgreSQL, and checks that:
//
//   - each agent registers with its backend's health known;
//   - changes made behind Quantix's back on node A (a crash, a guest
//     shutdown, VMs removed, foreign VMs added, one named like a managed VM
//     of node B) change node A's records only: the records of nodes B and C
//     (state, version, updated_at) and their histories stay as they were,
//     and the event stream says nothing about them;
//   - a VM moved from one host to another (sim Move) keeps its UUID and is
//     exactly one record, on its new node, never LOST and never removed and
//     discovered again: through the event path (the move's events) for a
//     managed and an unmanaged VM, whichever host's report comes first,
//     and through the full sync path (both hosts' hypervisor connections
//     down during the move, so that only the full syncs after they come
//     back tell; the destination's comes first: a source's full sync that
//     lacks a managed VM no node has reported yet makes it LOST, as
//     docs/reconciliation.md says, until the destination's report finds it again);
//   - node A's agent stopped: node A's VMs only become UNKNOWN.
func TestAgentsStayApart(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			testAgentsStayApart(t, driver)
		})
	}
}

// apart is the state of one run of TestAgentsStayApart.
type apart struct {
	t       *testing.T
	cl      *cluster
	stream  *recorder
	beats   *beatCounter
	a, b, c *host
	// ids of the nodes, by host name.
	ids map[string]string
}

// beatCounter is the agent server's ReportHandler in TestAgentsStayApart:
// the Reconciler, counting per node the heartbeats whose state hash
// matched the database's (that asked for no full sync).
type beatCounter struct {
	nodeapi.ReportHandler
	mu      sync.Mutex
	matched map[string]int
}

func (c *beatCounter) Heartbeat(ctx context.Context, nodeID string, hb nodeapi.HeartbeatReport) (bool, error) {
	full, err := c.ReportHandler.Heartbeat(ctx, nodeID, hb)
	if err == nil && !full {
		c.mu.Lock()
		c.matched[nodeID]++
		c.mu.Unlock()
	}
	return full, err
}

func (c *beatCounter) count(nodeID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.matched[nodeID]
}

// hashesCompared waits until every host of hosts has had two heartbeats
// handled from now on whose hash matched the database's: the second began
// after this call, so the records of the hosts are what their agents
// report and no full sync is called for. A hash that keeps differing
// fails the test.
func (x *apart) hashesCompared(what string, hosts ...*host) {
	x.t.Helper()
	from := make(map[string]int, len(hosts))
	for _, h := range hosts {
		from[h.name] = x.beats.count(x.ids[h.name])
	}
	waitFor(x.t, settle, what+": two heartbeats with matching hashes from "+fmt.Sprint(len(hosts))+" nodes", func() (bool, string) {
		var behind []string
		for _, h := range hosts {
			if n := x.beats.count(x.ids[h.name]) - from[h.name]; n < 2 {
				behind = append(behind, fmt.Sprintf("%s: %d", h.name, n))
			}
		}
		return len(behind) == 0, "matching heartbeats since: " + strings.Join(behind, ", ")
	})
}

func testAgentsStayApart(t *testing.T, driver string) {
	ctx := context.Background()
	logger := testlog.New(t, hclog.Info)
	beats := &beatCounter{matched: map[string]int{}}
	c := startCluster(t, driver, clusterOptions{
		reconcile: controlplane.ReconcilerOptions{
			LivenessScan:     50 * time.Millisecond,
			MissedHeartbeats: int(apartLiveness / apartBeat),
		},
		log: logger.Named("server"),
		handler: func(h nodeapi.ReportHandler) nodeapi.ReportHandler {
			beats.ReportHandler = h
			return beats
		},
	})
	x := &apart{t: t, cl: c, stream: c.record(t), beats: beats, ids: map[string]string{}}
	start := func(name string) *host {
		h := startHost(t, c, name, hostOptions{
			vms:       sim.VMsConfig{Count: apartVMs, State: "running"},
			heartbeat: apartBeat, jitter: apartJitter,
			log: logger.Named(name),
		})
		x.ids[name] = h.nodeID(t)
		return h
	}
	x.a, x.b, x.c = start("node-a"), start("node-b"), start("node-c")
	a, b := x.a, x.b
	// Each agent registers with its backend's health known: healthy.
	var regs []*events.NodeEvent
	waitFor(t, settle, "three registrations on the event stream", func() (bool, string) {
		regs = regs[:0]
		for _, ev := range x.stream.nodeEvents(t, 0) {
			if ev.Action == "register" {
				regs = append(regs, ev)
			}
		}
		return len(regs) == 3, fmt.Sprintf("%d registrations", len(regs))
	})
	for _, ev := range regs {
		if !ev.Healthy {
			t.Errorf("node %s registered with an unhealthy backend: %+v", ev.NodeName, ev)
		}
	}

	// Every pre-populated VM is discovered on its node.
	for _, h := range []*host{x.a, x.b, x.c} {
		waitFor(t, settle, "the first full sync of "+h.name, func() (bool, string) {
			got := onNode(t, c.store, x.ids[h.name])
			return len(got) == apartVMs, fmt.Sprintf("%d vms", len(got))
		})
		for i := range apartVMs {
			v := getVM(t, c.store, popID(h, i))
			if v == nil || v.NodeID != x.ids[h.name] || v.Origin != vm.OriginHostDiscovered || v.IsManaged || v.State != vm.StateRunning {
				t.Fatalf("vm %d of %s after the first full sync: %+v", i, h.name, v)
			}
		}
	}
	// VMs 0-3 of node A and VM 0 of node B become managed.
	for _, id := range []string{popID(a, 0), popID(a, 1), popID(a, 2), popID(a, 3), popID(b, 0)} {
		if _, err := c.svc.Adopt(ctx, id); err != nil {
			t.Fatalf("adopting %s: %v", id, err)
		}
	}

	x.changesStayOnTheirNode()
	x.moveThroughEvents()
	x.moveThroughFullSyncs()
	x.stoppedAgent()
}

// popID is the UUID of the i-th pre-populated VM of h.
func popID(h *host, i int) string { return sim.PopulatedID(h.name, i) }

// snapshot is the records of some nodes and the length of each one's
// history.
type snapshot struct {
	vms     map[string]*vm.VM
	history map[string]int
	mark    int
}

func (x *apart) snapshot(hosts ...*host) snapshot {
	s := snapshot{vms: map[string]*vm.VM{}, history: map[string]int{}, mark: x.stream.mark(x.t, x.cl.store)}
	for _, h := range hosts {
		maps.Copy(s.vms, onNode(x.t, x.cl.store, x.ids[h.name]))
	}
	for id := range s.vms {
		s.history[id] = len(history(x.t, x.cl.store, id))
	}
	return s
}

// untouched fails unless the records of s are as they were, their
// histories as long, and the stream since s said nothing about them.
func (x *apart) untouched(s snapshot, what string) {
	t := x.t
	t.Helper()
	for id, was := range s.vms {
		now := getVM(t, x.cl.store, id)
		if !reflect.DeepEqual(now, was) {
			t.Errorf("%s: vm %s (%s) changed:\n was %+v\n now %+v", what, was.Name, id, was, now)
			continue
		}
		if n := len(history(t, x.cl.store, id)); n != s.history[id] {
			t.Errorf("%s: vm %s has %d events, had %d", what, was.Name, n, s.history[id])
		}
	}
	for _, ev := range x.stream.vmEvents(t, s.mark) {
		if _, ok := s.vms[ev.VMID]; ok {
			t.Errorf("%s: the event stream has an event of vm %s: %s %s→%s %q", what, s.vms[ev.VMID].Name, ev.Action, ev.OldState, ev.NewState, ev.Message)
		}
	}
}

// waitVM waits until VM id's record satisfies ok; nil means no record.
func (x *apart) waitVM(id, what string, ok func(v *vm.VM) bool) *vm.VM {
	x.t.Helper()
	var v *vm.VM
	waitFor(x.t, settle, what, func() (bool, string) {
		v = getVM(x.t, x.cl.store, id)
		return ok(v), fmt.Sprintf("%+v", v)
	})
	return v
}

func inState(nodeID string, st vm.State) func(*vm.VM) bool {
	return func(v *vm.VM) bool { return v != nil && v.NodeID == nodeID && v.State == st }
}

// changesStayOnTheirNode changes node A's host behind Quantix's back and
// checks that only node A's records follow.
func (x *apart) changesStayOnTheirNode() {
	t, a, b, st := x.t, x.a, x.b, x.cl.store
	t.Helper()
	others := x.snapshot(x.b, x.c)
	idA := x.ids[a.name]

	if _, err := a.sim.Crash(popID(a, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.sim.GuestShutdown(popID(a, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.sim.Remove(popID(a, 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.sim.Remove(popID(a, 4)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.sim.SetState(popID(a, 5), backend.StatePaused); err != nil {
		t.Fatal(err)
	}
	// A foreign VM named like node B's managed VM, and one of its own.
	clash, err := a.sim.AddForeign(backend.VMSpec{Name: b.name + "-0", VCPUs: 1, MemoryMiB: 256})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := a.sim.AddForeign(backend.VMSpec{Name: "foreign-a", VCPUs: 1, MemoryMiB: 256})
	if err != nil {
		t.Fatal(err)
	}

	v := x.waitVM(popID(a, 0), "the crash on node A", inState(idA, vm.StateCrashed))
	if !v.IsManaged || v.DesiredState != vm.DesiredRunning {
		t.Errorf("crashed managed vm (restart_policy never): %+v", v)
	}
	v = x.waitVM(popID(a, 1), "the guest shutdown on node A", inState(idA, vm.StateStopped))
	if v.DesiredState != vm.DesiredStopped {
		t.Errorf("a guest shutdown with restart_policy never leaves desired_state %q, want stopped", v.DesiredState)
	}
	v = x.waitVM(popID(a, 2), "the managed vm removed on node A", inState(idA, vm.StateLost))
	if v.LostReason == "" || v.LostAt == nil || !strings.Contains(v.LostReason, a.name) {
		t.Errorf("lost vm: lost_reason %q, lost_at %v", v.LostReason, v.LostAt)
	}
	x.waitVM(popID(a, 4), "the unmanaged vm removed on node A", func(v *vm.VM) bool { return v == nil })
	x.waitVM(popID(a, 5), "the pause on node A", inState(idA, vm.StatePaused))
	for _, f := range []*backend.VM{clash, foreign} {
		v = x.waitVM(f.ID, "the foreign vm "+f.Name+" on node A", inState(idA, vm.StateStopped))
		if v.IsManaged || v.Origin != vm.OriginHostDiscovered || v.Name != f.Name {
			t.Errorf("foreign vm %s: %+v", f.Name, v)
		}
	}
	named, err := st.VMs().GetByName(context.Background(), b.name+"-0")
	if err != nil || named.ID != popID(b, 0) {
		t.Errorf("the vm named %s-0 is %+v (%v), want node B's managed one", b.name, named, err)
	}
	x.hashesCompared("changes on node A", x.a, x.b, x.c)
	x.untouched(others, "changes on node A")
	if got, want := len(onNode(t, st, idA)), apartVMs-1+2; got != want {
		t.Errorf("node A has %d records, want %d", got, want)
	}
}

// neverLeft fails if VM id's history since the stream mark from (and in
// the store) shows it LOST, removed or discovered anew.
func (x *apart) neverLeft(id string, from int, createdAt time.Time, firstEvent int64, what string) {
	t := x.t
	t.Helper()
	for _, ev := range x.stream.vmEvents(t, from) {
		if ev.VMID != id {
			continue
		}
		if ev.NewState == vm.StateLost || ev.Action == "remove" || ev.Action == "discover" || ev.Action == "lost" {
			t.Errorf("%s: the stream has %s %s→%s %q for the moving vm", what, ev.Action, ev.OldState, ev.NewState, ev.Message)
		}
	}
	v := getVM(t, x.cl.store, id)
	if v == nil {
		t.Fatalf("%s: vm %s has no record", what, id)
	}
	if !v.CreatedAt.Equal(createdAt) {
		t.Errorf("%s: vm %s was created again: created_at %s, was %s", what, v.Name, v.CreatedAt, createdAt)
	}
	h := history(t, x.cl.store, id)
	if len(h) == 0 || h[0].ID != firstEvent {
		t.Errorf("%s: vm %s lost its history: %d events, want the first to be %d", what, v.Name, len(h), firstEvent)
	}
	for _, ev := range h {
		if ev.NewState == vm.StateLost {
			t.Errorf("%s: vm %s was LOST: %s %q", what, v.Name, ev.Action, ev.Message)
		}
	}
}

// records counts the records of VM id in a full listing: one at most.
func (x *apart) records(id string) int {
	n := 0
	for _, v := range allVMs(x.t, x.cl.store) {
		if v.ID == id {
			n++
		}
	}
	return n
}

// move moves VM id from host src to host dst with sim Move and waits for
// its record to follow; through is the path its report takes. The records
// of nodes B and C but id and those of also must stay as they are.
func (x *apart) move(id string, src, dst *host, through string, move func(), also ...string) {
	t := x.t
	t.Helper()
	before := getVM(t, x.cl.store, id)
	if before == nil {
		t.Fatalf("vm %s has no record before the move", id)
	}
	first := history(t, x.cl.store, id)[0].ID
	mark := x.stream.mark(t, x.cl.store)
	bystander := x.snapshot(x.b, x.c)
	for _, other := range append(also, id) {
		delete(bystander.vms, other)
	}
	move()
	what := fmt.Sprintf("%s moved from %s to %s through %s", before.Name, src.name, dst.name, through)
	x.waitVM(id, what, inState(x.ids[dst.name], before.State))
	// The source's heartbeats compare its hash, which must not call for
	// anything that makes the VM LOST: wait for them.
	x.hashesCompared(what, x.a, x.b, x.c)
	v := getVM(t, x.cl.store, id)
	if v == nil || v.NodeID != x.ids[dst.name] || v.State != before.State || v.IsManaged != before.IsManaged ||
		v.Origin != before.Origin || v.Name != before.Name || v.LostReason != "" || v.LostAt != nil {
		t.Errorf("%s: record %+v, was %+v", what, v, before)
	}
	if n := x.records(id); n != 1 {
		t.Errorf("%s: %d records with its uuid, want 1", what, n)
	}
	x.neverLeft(id, mark, before.CreatedAt, first, what)
	x.untouched(bystander, what)
}

// moveThroughEvents moves a managed VM from node A to node B and an
// unmanaged one from node A to node C while every event is seen.
func (x *apart) moveThroughEvents() {
	t, a, b, c := x.t, x.a, x.b, x.c
	t.Helper()
	managed := popID(a, 3)
	x.move(managed, a, b, "events", func() {
		if _, err := a.sim.Move(managed, b.sim); err != nil {
			t.Fatal(err)
		}
	})
	foreign := getVMByName(t, x, "foreign-a")
	x.move(foreign.ID, a, c, "events", func() {
		if _, err := a.sim.Move(foreign.ID, c.sim); err != nil {
			t.Fatal(err)
		}
	})
}

func getVMByName(t *testing.T, x *apart, name string) *vm.VM {
	t.Helper()
	v, err := x.cl.store.VMs().GetByName(context.Background(), name)
	if err != nil {
		t.Fatalf("vm %s: %v", name, err)
	}
	return v
}

// moveThroughFullSyncs moves VMs while the hypervisor connections of both
// hosts are down, so that no event of the move is seen: the destination's
// full sync, once its connection is back, finds the VM, then the source's
// finds it gone. A change made on the source meanwhile (a marker VM
// crashing) tells when the source's full sync has been applied.
func (x *apart) moveThroughFullSyncs() {
	t, a, b := x.t, x.a, x.b
	t.Helper()
	for _, m := range []struct {
		// id moves from src to dst; marker is a VM of src.
		id, marker string
		src, dst   *host
	}{
		{id: popID(a, 1), marker: popID(a, 5), src: a, dst: b}, // managed, STOPPED
		{id: popID(b, 2), marker: popID(b, 3), src: b, dst: a}, // unmanaged, RUNNING
	} {
		srcID := x.ids[m.src.name]
		was := getVM(t, x.cl.store, m.marker).State
		x.move(m.id, m.src, m.dst, "full syncs", func() {
			state := getVM(t, x.cl.store, m.id).State
			a.sim.Disconnect()
			b.sim.Disconnect()
			if _, err := m.src.sim.Move(m.id, m.dst.sim); err != nil {
				t.Fatal(err)
			}
			if _, err := m.src.sim.SetState(m.marker, backend.StateCrashed); err != nil {
				t.Fatal(err)
			}
			m.dst.sim.Reconnect()
			x.waitVM(m.id, "the destination's full sync", inState(x.ids[m.dst.name], state))
			m.src.sim.Reconnect()
			x.waitVM(m.marker, "the source's full sync", inState(srcID, vm.StateCrashed))
		}, m.marker)
		if _, err := m.src.sim.SetState(m.marker, backend.PowerState(was)); err != nil {
			t.Fatal(err)
		}
		x.waitVM(m.marker, "the marker back to "+string(was), inState(srcID, was))
	}
}

// stoppedAgent stops node A's agent: its node becomes UNREACHABLE and its
// VMs UNKNOWN (but the LOST one), nodes B and C and their VMs stay as
// they are.
func (x *apart) stoppedAgent() {
	t, a, st := x.t, x.a, x.cl.store
	t.Helper()
	ctx := context.Background()
	others := x.snapshot(x.b, x.c)
	before := onNode(t, st, x.ids[a.name])
	a.stop()
	waitFor(t, apartLiveness+settle, "node A unreachable", func() (bool, string) {
		n, err := st.Nodes().Get(ctx, x.ids[a.name])
		if err != nil {
			t.Fatal(err)
		}
		return n.State == node.StateUnreachable, string(n.State)
	})
	after := onNode(t, st, x.ids[a.name])
	if !slices.Equal(slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(before))) {
		t.Errorf("node A's records changed: %d before, %d after", len(before), len(after))
	}
	for id, was := range before {
		v := after[id]
		if v == nil {
			continue
		}
		want, last := vm.StateUnknown, was.State
		if was.State == vm.StateLost {
			want, last = vm.StateLost, was.LastKnownState
		}
		if v.State != want || v.LastKnownState != last {
			t.Errorf("vm %s of node A: %s (last known %s), want %s (last known %s)", v.Name, v.State, v.LastKnownState, want, last)
		}
	}
	for _, h := range []*host{x.b, x.c} {
		n, err := st.Nodes().Get(ctx, x.ids[h.name])
		if err != nil || n.State != node.StateReady {
			t.Errorf("node %s: %+v, %v; want READY", h.name, n, err)
		}
	}
	x.untouched(others, "node A's agent stopped")
}
