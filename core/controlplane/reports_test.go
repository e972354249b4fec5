package controlplane

import (
	"context"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/reconcile"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

// VM ids of the report tests: real UUIDs, as hosts report them.
const (
	u1 = "11111111-0000-4000-8000-000000000001"
	u2 = "11111111-0000-4000-8000-000000000002"
	u3 = "11111111-0000-4000-8000-000000000003"
	u4 = "11111111-0000-4000-8000-000000000004"
	u5 = "11111111-0000-4000-8000-000000000005"
	u6 = "11111111-0000-4000-8000-000000000006"
	u7 = "11111111-0000-4000-8000-000000000007"
)

// hostVM is a VM as a host reports it, with a spec of its own.
func hostVM(id, name string, st backend.PowerState) *backend.VM {
	return &backend.VM{ID: id, Name: name, State: st, Spec: backend.VMSpec{Name: name, VCPUs: 4, MemoryMiB: 2048, Boot: []string{"hd"},
		NICs: []backend.NICSpec{{Type: "network", Source: "default", MAC: "52:54:00:00:00:01"}}, Description: "made by hand"},
		Disks: []backend.Disk{{Name: name + "-root", Path: "/var/lib/libvirt/images/" + name + ".qcow2", SizeBytes: 20 << 30}}}
}

// rec is a VM record to seed; node "A" or "B" names the test's nodes.
func rec(id, name string, st vm.State, nodeRef string, managed bool) *vm.VM {
	v := &vm.VM{ID: id, Name: name, State: st, NodeID: nodeRef, IsManaged: managed,
		Labels: map[string]string{"team": "core"}, Description: "seeded",
		DesiredState: vm.DesiredRunning, RestartPolicy: vm.RestartNever,
		Spec: vm.Spec{VCPUs: 1, MemoryMiB: 64, Boot: []string{"network"}}}
	if managed {
		v.Origin = vm.OriginControlPlane
	} else {
		v.Origin, v.DesiredState = vm.OriginHostDiscovered, ""
	}
	if vm.HostState(string(st)) == st {
		v.LastKnownState = st
	}
	return v
}

// with changes a seeded record.
func with(v *vm.VM, fn func(v *vm.VM)) *vm.VM { fn(v); return v }

// migrating makes v a VM that left its node by migration in state was.
func migrating(v *vm.VM, was vm.State) *vm.VM {
	v.State, v.LastKnownState = vm.StateMigrating, was
	return v
}

// wantVM is what a record must be after the report.
type wantVM struct {
	id      string
	state   vm.State
	nodeRef string
	// discovered: inserted by the report (host-discovered, unmanaged, spec
	// and name from the host); otherwise every owned field is as seeded.
	discovered bool
	lastKnown  vm.State
	desired    vm.DesiredState
	// lost: lost_reason names the node and lost_at is set.
	lost bool
	// event is the action of the VM's newest event ("" for none added).
	event string
	cause vm.Cause
	msg   string
}

type reportCase struct {
	name string
	seed []*vm.VM
	// by is the reporting node, "A" or "B".
	by string
	// Exactly one of sync (a full sync, possibly empty) and change.
	sync   []*backend.VM
	change *nodeapi.Change
	want   []wantVM
	// absent lists ids that must have no record.
	absent []string
	// records is how many VM records exist afterwards.
	records int
}

var reportCases = []reportCase{
	{
		name:    "unknown uuid is discovered, unmanaged, spec and name from the host",
		by:      "A",
		sync:    []*backend.VM{hostVM(u1, "handmade", backend.StateRunning)},
		want:    []wantVM{{id: u1, state: vm.StateRunning, nodeRef: "A", discovered: true, lastKnown: vm.StateRunning, event: "discover", cause: vm.CauseHost, msg: "found on node node-a"}},
		records: 1,
	},
	{
		name:    "a change of an unknown uuid is a discovery too",
		by:      "B",
		change:  &nodeapi.Change{VM: hostVM(u1, "handmade", backend.StatePaused), Reason: "started"},
		want:    []wantVM{{id: u1, state: vm.StatePaused, nodeRef: "B", discovered: true, lastKnown: vm.StatePaused, event: "discover", cause: vm.CauseHost}},
		records: 1,
	},
	{
		name: "known uuid: status only, even when name, spec and description differ",
		seed: []*vm.VM{rec(u1, "web", vm.StateStopped, "A", true), rec(u2, "foreign", vm.StateRunning, "A", false)},
		by:   "A",
		sync: []*backend.VM{hostVM(u1, "renamed-on-host", backend.StateRunning), hostVM(u2, "also-renamed", backend.StatePaused)},
		want: []wantVM{
			{id: u1, state: vm.StateRunning, nodeRef: "A", lastKnown: vm.StateRunning, desired: vm.DesiredRunning, event: "observe", cause: vm.CauseHost, msg: "node node-a reports RUNNING"},
			{id: u2, state: vm.StatePaused, nodeRef: "A", lastKnown: vm.StatePaused, event: "observe", cause: vm.CauseHost},
		},
		records: 2,
	},
	{
		name:    "a uuid the control plane is creating is not a discovery",
		seed:    []*vm.VM{rec("placeholder-1", "being-made", vm.StateCreating, "A", true)},
		by:      "A",
		sync:    []*backend.VM{hostVM(u1, "being-made", backend.StateStopped)},
		want:    []wantVM{{id: "placeholder-1", state: vm.StateCreating, nodeRef: "A", desired: vm.DesiredRunning}},
		absent:  []string{u1},
		records: 1,
	},
	{
		name:    "the change of a uuid being created is not a discovery either",
		seed:    []*vm.VM{rec("placeholder-1", "being-made", vm.StateCreating, "A", true)},
		by:      "A",
		change:  &nodeapi.Change{VM: hostVM(u1, "being-made", backend.StateStopped)},
		absent:  []string{u1},
		records: 1,
	},
	{
		name: "nil, all-zero and all-0xFF uuids are ignored",
		seed: []*vm.VM{rec(u1, "web", vm.StateRunning, "A", true)},
		by:   "A",
		sync: []*backend.VM{
			hostVM(u1, "web", backend.StateRunning),
			hostVM("", "nil", backend.StateRunning),
			hostVM("00000000-0000-0000-0000-000000000000", "zero", backend.StateRunning),
			hostVM("ffffffff-ffff-ffff-ffff-ffffffffffff", "ones", backend.StateRunning),
			nil,
		},
		want:    []wantVM{{id: u1, state: vm.StateRunning, nodeRef: "A", lastKnown: vm.StateRunning, desired: vm.DesiredRunning}},
		absent:  []string{"", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"},
		records: 1,
	},
	{
		name:    "a change of an ignored uuid does nothing",
		by:      "A",
		change:  &nodeapi.Change{VM: hostVM("00000000000000000000000000000000", "zero", backend.StateRunning)},
		records: 0,
	},
	{
		name: "full sync: missing managed → LOST, unmanaged → removed, DELETING → TERMINATED",
		seed: []*vm.VM{
			rec(u1, "kept", vm.StateRunning, "A", true),
			rec(u2, "vanished", vm.StateRunning, "A", true),
			rec(u3, "foreign", vm.StateStopped, "A", false),
			rec(u4, "deleting", vm.StateDeleting, "A", true),
			rec("placeholder-2", "creating", vm.StateCreating, "A", true),
			with(rec(u5, "old", vm.StateTerminated, "A", true), func(v *vm.VM) { v.Message = "deleted" }),
			rec(u6, "elsewhere", vm.StateRunning, "B", true),
		},
		by:   "A",
		sync: []*backend.VM{hostVM(u1, "kept", backend.StateRunning)},
		want: []wantVM{
			{id: u1, state: vm.StateRunning, nodeRef: "A", lastKnown: vm.StateRunning, desired: vm.DesiredRunning},
			{id: u2, state: vm.StateLost, nodeRef: "A", lastKnown: vm.StateRunning, desired: vm.DesiredRunning, lost: true, event: "lost", cause: vm.CauseHost,
				msg: "vm vanished from node node-a without being deleted through the control plane"},
			{id: u4, state: vm.StateTerminated, nodeRef: "A", desired: vm.DesiredRunning, event: "terminate", cause: vm.CauseHost, msg: "deletion confirmed"},
			{id: "placeholder-2", state: vm.StateCreating, nodeRef: "A", desired: vm.DesiredRunning},
			{id: u5, state: vm.StateTerminated, nodeRef: "A", desired: vm.DesiredRunning},
			{id: u6, state: vm.StateRunning, nodeRef: "B", lastKnown: vm.StateRunning, desired: vm.DesiredRunning},
		},
		absent:  []string{u3},
		records: 6,
	},
	{
		name: "an empty full sync empties the node",
		seed: []*vm.VM{rec(u1, "a", vm.StatePaused, "A", true), rec(u2, "b", vm.StateRunning, "A", false)},
		by:   "A",
		sync: []*backend.VM{},
		want: []wantVM{
			{id: u1, state: vm.StateLost, nodeRef: "A", lastKnown: vm.StatePaused, desired: vm.DesiredRunning, lost: true, event: "lost", cause: vm.CauseHost},
		},
		absent:  []string{u2},
		records: 1,
	},
	{
		name: "UNKNOWN vms come back to what the host reports",
		seed: []*vm.VM{
			with(rec(u1, "a", vm.StateUnknown, "A", true), func(v *vm.VM) { v.LastKnownState = vm.StateRunning }),
			with(rec(u2, "b", vm.StateUnknown, "A", true), func(v *vm.VM) { v.LastKnownState = vm.StateRunning; v.RestartPolicy = vm.RestartOnCrash }),
			with(rec(u3, "c", vm.StateUnknown, "A", true), func(v *vm.VM) { v.LastKnownState = vm.StateStopped }),
		},
		by:   "A",
		sync: []*backend.VM{hostVM(u1, "a", backend.StateRunning), hostVM(u2, "b", backend.StatePaused)},
		want: []wantVM{
			{id: u1, state: vm.StateRunning, nodeRef: "A", lastKnown: vm.StateRunning, desired: vm.DesiredRunning, event: "observe", cause: vm.CauseHost, msg: "reachable again: RUNNING"},
			{id: u2, state: vm.StatePaused, nodeRef: "A", lastKnown: vm.StatePaused, desired: vm.DesiredRunning, event: "observe", cause: vm.CauseHost},
			{id: u3, state: vm.StateLost, nodeRef: "A", lastKnown: vm.StateStopped, desired: vm.DesiredRunning, lost: true, event: "lost", cause: vm.CauseHost},
		},
		records: 3,
	},
	{
		name: "a vm reported by another node moved: one record, node updated",
		seed: []*vm.VM{rec(u1, "traveller", vm.StateRunning, "A", true), rec(u2, "stays", vm.StateRunning, "B", true)},
		by:   "B",
		sync: []*backend.VM{hostVM(u1, "traveller", backend.StateRunning), hostVM(u2, "stays", backend.StateRunning)},
		want: []wantVM{
			{id: u1, state: vm.StateRunning, nodeRef: "B", lastKnown: vm.StateRunning, desired: vm.DesiredRunning, event: "move", cause: vm.CauseHost, msg: "moved from node node-a to node node-b"},
			{id: u2, state: vm.StateRunning, nodeRef: "B", lastKnown: vm.StateRunning, desired: vm.DesiredRunning},
		},
		records: 2,
	},
	{
		name:    "the old node no longer having a moved vm changes nothing",
		seed:    []*vm.VM{rec(u1, "traveller", vm.StateRunning, "B", true)},
		by:      "A",
		change:  &nodeapi.Change{Gone: true, VMID: u1, Reason: "migrated"},
		want:    []wantVM{{id: u1, state: vm.StateRunning, nodeRef: "B", lastKnown: vm.StateRunning, desired: vm.DesiredRunning}},
		records: 1,
	},
	{
		name:    "gone by migration: a managed vm is MIGRATING, not LOST",
		seed:    []*vm.VM{rec(u1, "traveller", vm.StateRunning, "A", true)},
		by:      "A",
		change:  &nodeapi.Change{Gone: true, VMID: u1, Reason: reconcile.ReasonMigrated},
		want:    []wantVM{{id: u1, state: vm.StateMigrating, nodeRef: "A", lastKnown: vm.StateRunning, desired: vm.DesiredRunning, event: "migrate", cause: vm.CauseHost, msg: "migrated away from node node-a"}},
		records: 1,
	},
	{
		name:    "gone by migration: an unmanaged vm's record is kept, MIGRATING",
		seed:    []*vm.VM{rec(u1, "foreign", vm.StatePaused, "A", false)},
		by:      "A",
		change:  &nodeapi.Change{Gone: true, VMID: u1, Reason: reconcile.ReasonMigrated},
		want:    []wantVM{{id: u1, state: vm.StateMigrating, nodeRef: "A", lastKnown: vm.StatePaused, event: "migrate", cause: vm.CauseHost, msg: "waiting for the node it went to"}},
		records: 1,
	},
	{
		name:    "gone by migration: a vm being deleted is TERMINATED",
		seed:    []*vm.VM{rec(u1, "going", vm.StateDeleting, "A", true)},
		by:      "A",
		change:  &nodeapi.Change{Gone: true, VMID: u1, Reason: reconcile.ReasonMigrated},
		want:    []wantVM{{id: u1, state: vm.StateTerminated, nodeRef: "A", desired: vm.DesiredRunning, event: "terminate", cause: vm.CauseHost}},
		records: 1,
	},
	{
		name:    "a MIGRATING vm reported by its new node moves there",
		seed:    []*vm.VM{migrating(rec(u1, "traveller", vm.StateMigrating, "A", true), vm.StateRunning)},
		by:      "B",
		change:  &nodeapi.Change{VM: hostVM(u1, "traveller", backend.StateRunning), Reason: reconcile.ReasonMigrated},
		want:    []wantVM{{id: u1, state: vm.StateRunning, nodeRef: "B", lastKnown: vm.StateRunning, desired: vm.DesiredRunning, event: "observe", cause: vm.CauseHost, msg: "moved from node node-a to node node-b; node node-b reports RUNNING (migrated)"}},
		records: 1,
	},
	{
		name:    "a MIGRATING vm found by its new node's full sync moves there",
		seed:    []*vm.VM{migrating(rec(u1, "traveller", vm.StateMigrating, "A", false), vm.StateRunning)},
		by:      "B",
		sync:    []*backend.VM{hostVM(u1, "traveller", backend.StateRunning)},
		want:    []wantVM{{id: u1, state: vm.StateRunning, nodeRef: "B", lastKnown: vm.StateRunning, event: "observe", cause: vm.CauseHost, msg: "moved from node node-a to node node-b"}},
		records: 1,
	},
	{
		name:    "a MIGRATING vm arriving stopped meets its restart policy as the running vm it was",
		seed:    []*vm.VM{migrating(rec(u1, "traveller", vm.StateMigrating, "A", true), vm.StateRunning)},
		by:      "B",
		change:  &nodeapi.Change{VM: hostVM(u1, "traveller", backend.StateStopped)},
		want:    []wantVM{{id: u1, state: vm.StateStopped, nodeRef: "B", lastKnown: vm.StateStopped, desired: vm.DesiredStopped, event: "observe", cause: vm.CauseHost, msg: "desired_state set to stopped"}},
		records: 1,
	},
	{
		name: "the source's full sync leaves a MIGRATING vm alone",
		seed: []*vm.VM{migrating(rec(u1, "traveller", vm.StateMigrating, "A", true), vm.StateRunning), rec(u2, "stays", vm.StateRunning, "A", true)},
		by:   "A",
		sync: []*backend.VM{hostVM(u2, "stays", backend.StateRunning)},
		want: []wantVM{
			{id: u1, state: vm.StateMigrating, nodeRef: "A", lastKnown: vm.StateRunning, desired: vm.DesiredRunning},
			{id: u2, state: vm.StateRunning, nodeRef: "A", lastKnown: vm.StateRunning, desired: vm.DesiredRunning},
		},
		records: 2,
	},
	{
		name:    "a MIGRATING vm its source reports again is back there",
		seed:    []*vm.VM{migrating(rec(u1, "homebody", vm.StateMigrating, "A", true), vm.StateRunning)},
		by:      "A",
		change:  &nodeapi.Change{VM: hostVM(u1, "homebody", backend.StateRunning), Reason: "migration canceled"},
		want:    []wantVM{{id: u1, state: vm.StateRunning, nodeRef: "A", lastKnown: vm.StateRunning, desired: vm.DesiredRunning, event: "observe", cause: vm.CauseHost, msg: "node node-a reports RUNNING"}},
		records: 1,
	},
	{
		name:    "a LOST vm found again is no longer lost",
		seed:    []*vm.VM{with(rec(u1, "back", vm.StateLost, "A", true), func(v *vm.VM) { v.LostReason = "vanished"; now := time.Now(); v.LostAt = &now })},
		by:      "A",
		change:  &nodeapi.Change{VM: hostVM(u1, "back", backend.StateStopped)},
		want:    []wantVM{{id: u1, state: vm.StateStopped, nodeRef: "A", lastKnown: vm.StateStopped, desired: vm.DesiredRunning, event: "found", cause: vm.CauseHost, msg: "found again on node node-a"}},
		records: 1,
	},
	{
		name: "an action in flight keeps its transitional state while the host still shows where it started",
		seed: []*vm.VM{
			with(rec(u1, "stopping", vm.StateStopping, "A", true), func(v *vm.VM) { v.LastKnownState = vm.StateRunning }),
			with(rec(u2, "starting", vm.StateStarting, "A", true), func(v *vm.VM) { v.LastKnownState = vm.StateStopped; v.DesiredState = vm.DesiredStopped }),
		},
		by:   "A",
		sync: []*backend.VM{hostVM(u1, "stopping", backend.StateRunning), hostVM(u2, "starting", backend.StateRunning)},
		want: []wantVM{
			{id: u1, state: vm.StateStopping, nodeRef: "A", lastKnown: vm.StateRunning, desired: vm.DesiredRunning},
			{id: u2, state: vm.StateRunning, nodeRef: "A", lastKnown: vm.StateRunning, desired: vm.DesiredStopped, event: "observe", cause: vm.CauseHost},
		},
		records: 2,
	},
	{
		name:    "gone: a managed vm is LOST",
		seed:    []*vm.VM{rec(u1, "web", vm.StateStopped, "A", true)},
		by:      "A",
		change:  &nodeapi.Change{Gone: true, VMID: u1, Reason: "undefined"},
		want:    []wantVM{{id: u1, state: vm.StateLost, nodeRef: "A", lastKnown: vm.StateStopped, desired: vm.DesiredRunning, lost: true, event: "lost", cause: vm.CauseHost}},
		records: 1,
	},
	{
		name:    "gone: an unmanaged vm's record is removed",
		seed:    []*vm.VM{rec(u1, "foreign", vm.StateStopped, "A", false)},
		by:      "A",
		change:  &nodeapi.Change{Gone: true, VMID: u1},
		absent:  []string{u1},
		records: 0,
	},
	{
		name:    "gone: a vm being deleted is TERMINATED",
		seed:    []*vm.VM{rec(u1, "going", vm.StateDeleting, "A", true)},
		by:      "A",
		change:  &nodeapi.Change{Gone: true, VM: &backend.VM{ID: u1}},
		want:    []wantVM{{id: u1, state: vm.StateTerminated, nodeRef: "A", desired: vm.DesiredRunning, event: "terminate", cause: vm.CauseHost}},
		records: 1,
	},
	{
		name:    "gone: an unknown uuid does nothing",
		by:      "A",
		change:  &nodeapi.Change{Gone: true, VMID: u7},
		records: 0,
	},
}

// TestReportRules applies each report of reportCases to a fresh inventory
// of two registered nodes, node-a (A) and node-b (B), on each database.
func TestReportRules(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		for _, tc := range reportCases {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, driver, false)
				ctx := context.Background()
				nodes := map[string]string{"A": e.register(t, "node-a", 0), "B": e.register(t, "node-b", 0)}
				seeded := map[string]*vm.VM{}
				before := map[string]int{}
				for _, s := range tc.seed {
					v := *s
					v.Labels = maps.Clone(s.Labels)
					v.NodeID = nodes[s.NodeID]
					if err := e.store.VMs().Create(ctx, &v); err != nil {
						t.Fatalf("seeding %s: %v", v.ID, err)
					}
					seeded[v.ID] = &v
					before[v.ID] = len(e.events(t, v.ID))
				}
				var err error
				if tc.change != nil {
					err = e.rec.Change(ctx, nodes[tc.by], *tc.change)
				} else {
					err = e.rec.FullSync(ctx, nodes[tc.by], tc.sync)
				}
				if err != nil {
					t.Fatalf("applying the report: %v", err)
				}
				for _, w := range tc.want {
					checkWant(t, e, w, nodes, seeded[w.id], before[w.id], tc)
				}
				for _, id := range tc.absent {
					if _, err := e.store.VMs().Get(ctx, id); err == nil {
						t.Errorf("vm %q has a record, want none", id)
					}
				}
				if n := e.count(t); n != tc.records {
					t.Errorf("%d vm records, want %d", n, tc.records)
				}
			})
		}
	})
}

func checkWant(t *testing.T, e *env, w wantVM, nodes map[string]string, seed *vm.VM, eventsBefore int, tc reportCase) {
	t.Helper()
	got := e.get(t, w.id)
	if got.State != w.state || got.NodeID != nodes[w.nodeRef] || got.LastKnownState != w.lastKnown || got.DesiredState != w.desired {
		t.Errorf("%s: state %s node %s last_known %q desired %q; want %s %s %q %q",
			w.id, got.State, got.NodeID, got.LastKnownState, got.DesiredState, w.state, nodes[w.nodeRef], w.lastKnown, w.desired)
	}
	if w.discovered {
		var observed *backend.VM
		if tc.change != nil {
			observed = tc.change.VM
		}
		for _, o := range tc.sync {
			if o != nil && o.ID == w.id {
				observed = o
			}
		}
		if got.Origin != vm.OriginHostDiscovered || got.IsManaged || got.Name != observed.Name || got.DesiredState != "" ||
			!reflect.DeepEqual(got.Spec, vm.SpecOf(observed)) || got.Description != observed.Spec.Description || got.LastSeen == nil {
			t.Errorf("%s: discovered record %+v, want host-discovered, unmanaged, spec %+v from the host", w.id, got, vm.SpecOf(observed))
		}
	} else {
		// What users own never changes by a report.
		if got.Name != seed.Name || got.Origin != seed.Origin || got.IsManaged != seed.IsManaged || got.Description != seed.Description ||
			!reflect.DeepEqual(got.Labels, seed.Labels) || !reflect.DeepEqual(got.Spec, seed.Spec) || got.RestartPolicy != seed.RestartPolicy {
			t.Errorf("%s: owned fields changed:\n got %+v\nseed %+v", w.id, got, seed)
		}
	}
	if w.lost != (got.LostAt != nil) || w.lost != strings.Contains(got.LostReason, "node-a") {
		t.Errorf("%s: lost_reason %q lost_at %v, want lost=%v", w.id, got.LostReason, got.LostAt, w.lost)
	}
	evs := e.events(t, w.id)
	if w.event == "" {
		if len(evs) != eventsBefore {
			t.Errorf("%s: %d new events %+v, want none", w.id, len(evs)-eventsBefore, evs[eventsBefore:])
		}
		if seed != nil && got.Version != seed.Version && got.State == seed.State {
			// Nothing changed but last_seen: only that may be written.
			if got.Message != seed.Message {
				t.Errorf("%s: message %q changed to %q without an event", w.id, seed.Message, got.Message)
			}
		}
		return
	}
	if len(evs) != eventsBefore+1 {
		t.Fatalf("%s: %d new events %+v, want 1 (%s)", w.id, len(evs)-eventsBefore, evs, w.event)
	}
	ev := evs[len(evs)-1]
	old := vm.State("")
	if seed != nil {
		old = seed.State
	}
	if ev.Action != w.event || ev.Cause != w.cause || ev.OldState != old || ev.NewState != w.state || !strings.Contains(ev.Message, w.msg) || ev.Message == "" {
		t.Errorf("%s: event %+v, want %s by %s %s→%s mentioning %q", w.id, ev, w.event, w.cause, old, w.state, w.msg)
	}
	if got.Message != ev.Message {
		t.Errorf("%s: message %q, want the event's %q", w.id, got.Message, ev.Message)
	}
}

// TestFullSyncIdempotent: applying the same full sync, or the same change,
// again writes nothing at all: not a row, not an event.
func TestFullSyncIdempotent(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		clk := newClock()
		e := newEnvWith(t, driver, false, func(o *ReconcilerOptions) { o.Now = clk.Now })
		ctx := context.Background()
		a := e.register(t, "node-a", 0)
		for _, v := range []*vm.VM{rec(u1, "managed", vm.StateStopped, a, true), rec(u2, "gone", vm.StateRunning, a, true),
			rec(u3, "gone-foreign", vm.StateRunning, a, false), rec(u4, "deleting", vm.StateDeleting, a, true),
			with(rec(u5, "unknown", vm.StateUnknown, a, true), func(v *vm.VM) { v.LastKnownState = vm.StateRunning })} {
			if err := e.store.VMs().Create(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		sync := []*backend.VM{hostVM(u1, "managed", backend.StateRunning), hostVM(u5, "unknown", backend.StateRunning),
			hostVM(u6, "new", backend.StateStopped), hostVM(u7, "new-2", backend.StateCrashed)}
		if err := e.rec.FullSync(ctx, a, sync); err != nil {
			t.Fatal(err)
		}
		first := e.writes.Load()
		snapshot := map[string]*vm.VM{}
		for _, id := range []string{u1, u2, u4, u5, u6, u7} {
			snapshot[id] = e.get(t, id)
		}
		clk.Advance(time.Second)
		e.writes.Store(0)
		if err := e.rec.FullSync(ctx, a, sync); err != nil {
			t.Fatal(err)
		}
		if n := e.writes.Load(); n != 0 {
			t.Errorf("the second identical full sync made %d writes (the first %d), want 0", n, first)
		}
		if err := e.rec.Change(ctx, a, nodeapi.Change{VM: hostVM(u1, "managed", backend.StateRunning)}); err != nil {
			t.Fatal(err)
		}
		if err := e.rec.Change(ctx, a, nodeapi.Change{Gone: true, VMID: u2}); err != nil {
			t.Fatal(err)
		}
		if n := e.writes.Load(); n != 0 {
			t.Errorf("changes repeating the full sync made %d writes, want 0", n)
		}
		for id, want := range snapshot {
			if got := e.get(t, id); got.Version != want.Version || !got.UpdatedAt.Equal(want.UpdatedAt) {
				t.Errorf("%s rewritten: version %d → %d", id, want.Version, got.Version)
			}
		}
		// last_seen alone is refreshed once LastSeenRefresh has passed, and
		// that is all that is written: one row per VM the host has, and the
		// node's last_heartbeat, due after as long.
		clk.Advance(DefaultLastSeenRefresh)
		if err := e.rec.FullSync(ctx, a, sync); err != nil {
			t.Fatal(err)
		}
		if n := e.writes.Load(); n != int64(len(sync))+1 {
			t.Errorf("refreshing last_seen made %d writes, want %d", n, len(sync)+1)
		}
		if got := e.get(t, u1); !got.LastSeen.Equal(clk.Now()) || len(e.events(t, u1)) != 1 {
			t.Errorf("after the refresh: last_seen %v (want %v), %d events", got.LastSeen, clk.Now(), len(e.events(t, u1)))
		}
	})
}

// TestReportsNeedRegistration: a node that never registered cannot report.
func TestReportsNeedRegistration(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	ctx := context.Background()
	if err := e.rec.FullSync(ctx, "nobody", nil); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Errorf("full sync of an unregistered node = %v", err)
	}
	if _, err := e.rec.Heartbeat(ctx, "nobody", nodeapi.HeartbeatReport{}); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Errorf("heartbeat of an unregistered node = %v", err)
	}
	if _, err := e.rec.Register(ctx, nodeapi.Registration{}); err == nil {
		t.Error("a registration without a node name was accepted")
	}
}

// TestDiscoverRace: a VM the report took for new has a record by the time
// the transaction runs (a create completed, another server inserted it):
// the batch insert fails, and each VM is taken on its own, in the same
// transaction.
func TestDiscoverRace(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver, false)
		ctx := context.Background()
		a := e.register(t, "node-a", 0)
		e.seedAll(t, rec(u1, "raced", vm.StateStopped, a, true))
		now := time.Now()
		err := e.rec.commit(ctx, nil, []*backend.VM{hostVM(u1, "raced", backend.StateRunning), hostVM(u2, "new", backend.StateRunning)}, a, now)
		if err != nil {
			t.Fatal(err)
		}
		if v := e.get(t, u1); v.State != vm.StateRunning || !v.IsManaged || v.Origin != vm.OriginControlPlane || v.Name != "raced" {
			t.Errorf("raced vm = %+v, want its record with the reported state", v)
		}
		if v := e.get(t, u2); v.Origin != vm.OriginHostDiscovered {
			t.Errorf("new vm = %+v, want discovered", v)
		}
		if n := e.count(t); n != 2 {
			t.Errorf("%d records, want 2", n)
		}
	})
}
