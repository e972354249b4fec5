package store

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/vm"
)

// TestVMUpdateStatus: only status fields and desired_state are written,
// versions are checked, labels stay.
func TestVMUpdateStatus(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		orig := fullVM("st-1", "status")
		mustCreate(t, s, orig)
		stale := mustGet(t, s, "st-1")

		v := mustGet(t, s, "st-1")
		// Everything changes in the argument; only status and desired_state
		// may reach the database.
		v.Name, v.Description, v.Origin, v.IsManaged = "renamed", "changed", vm.OriginImported, false
		v.Labels = map[string]string{"x": "y"}
		v.RestartPolicy, v.Spec = vm.RestartAlways, vm.Spec{VCPUs: 99}
		lost := time.Date(2026, 5, 1, 2, 3, 4, 5006000, time.UTC)
		written := lost.Add(7 * time.Nanosecond) // stored with microsecond precision
		v.NodeID, v.State, v.LastKnownState = "node-9", vm.StateLost, vm.StateRunning
		v.StateChangedAt, v.LastSeen, v.LostAt = written, &written, &written
		v.LostReason, v.Message, v.DesiredState = "vanished", "gone", vm.DesiredStopped
		if err := s.VMs().UpdateStatus(ctx, v); err != nil {
			t.Fatal(err)
		}
		if v.Version != 2 {
			t.Errorf("version after UpdateStatus = %d, want 2", v.Version)
		}
		got := mustGet(t, s, "st-1")
		want := *orig
		want.Labels = maps.Clone(orig.Labels)
		want.NodeID, want.State, want.LastKnownState = "node-9", vm.StateLost, vm.StateRunning
		want.StateChangedAt, want.LastSeen, want.LostAt = lost, &lost, &lost
		want.LostReason, want.Message, want.DesiredState = "vanished", "gone", vm.DesiredStopped
		want.UpdatedAt, want.Version = got.UpdatedAt, 2
		assertVMEqual(t, got, &want)

		if err := s.VMs().UpdateStatus(ctx, stale); !errors.Is(err, ErrStale) {
			t.Errorf("UpdateStatus at an old version = %v, want ErrStale", err)
		}
		if err := s.VMs().UpdateStatus(ctx, bareVM("ghost", "ghost")); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateStatus of a missing vm = %v, want ErrNotFound", err)
		}
		if err := s.VMs().UpdateStatus(ctx, &vm.VM{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("UpdateStatus without id = %v, want ErrInvalid", err)
		}
		// Inside a transaction a stale write leaves the transaction usable.
		err := s.Tx(ctx, func(tx Store) error {
			if err := tx.VMs().UpdateStatus(ctx, stale); !errors.Is(err, ErrStale) {
				return fmt.Errorf("stale write in tx = %v", err)
			}
			cur, err := tx.VMs().Get(ctx, "st-1")
			if err != nil {
				return err
			}
			cur.Message = "in tx"
			return tx.VMs().UpdateStatus(ctx, cur)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, "st-1"); got.Message != "in tx" || got.Version != 3 {
			t.Errorf("after tx: message %q version %d", got.Message, got.Version)
		}
	})
}

func TestVMNodeQueries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		old := time.Now().Add(-time.Hour)
		seed := []struct {
			id, node string
			state    vm.State
			changed  time.Time
		}{
			{"q-c", "n1", vm.StateRunning, old},
			{"q-a", "n1", vm.StateStopping, old},
			{"q-e", "n1", vm.StateTerminated, old},
			{"q-b", "n2", vm.StateStarting, old.Add(time.Minute)},
			{"q-d", "n2", vm.StateDeleting, time.Now().Add(time.Hour)},
			{"q-f", "", vm.StateCreating, old.Add(-time.Minute)},
		}
		for _, sd := range seed {
			v := discoveredVM(sd.id, sd.id, sd.node)
			v.State, v.LastKnownState, v.StateChangedAt = sd.state, vm.StateRunning, sd.changed
			v.Labels = map[string]string{"k": sd.id}
			mustCreate(t, s, v)
		}

		states, err := s.VMs().StatesByNode(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		want := []VMState{{"q-a", vm.StateStopping, vm.StateRunning}, {"q-c", vm.StateRunning, vm.StateRunning}, {"q-e", vm.StateTerminated, vm.StateRunning}}
		if !reflect.DeepEqual(states, want) {
			t.Errorf("StatesByNode(n1) = %v, want %v", states, want)
		}
		if states, err := s.VMs().StatesByNode(ctx, "none"); err != nil || len(states) != 0 {
			t.Errorf("StatesByNode(none) = %v, %v", states, err)
		}

		counts, err := s.VMs().CountByNode(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"n1": 2, "n2": 2, "": 1}; !reflect.DeepEqual(counts, want) {
			t.Errorf("CountByNode = %v, want %v", counts, want)
		}

		many, err := s.VMs().GetMany(ctx, []string{"q-d", "missing", "q-a", "q-d"})
		if err != nil {
			t.Fatal(err)
		}
		if len(many) != 2 || many[0].ID != "q-a" || many[1].ID != "q-d" || many[1].Labels["k"] != "q-d" {
			t.Errorf("GetMany = %+v, want q-a and q-d with labels", many)
		}
		if many, err := s.VMs().GetMany(ctx, nil); err != nil || len(many) != 0 {
			t.Errorf("GetMany(nil) = %v, %v", many, err)
		}
		// More ids than one IN list takes.
		ids := make([]string, idChunk+10)
		for i := range ids {
			ids[i] = fmt.Sprintf("none-%d", i)
		}
		ids[idChunk+5] = "q-b"
		if many, err := s.VMs().GetMany(ctx, ids); err != nil || len(many) != 1 || many[0].ID != "q-b" {
			t.Errorf("GetMany(%d ids) = %v, %v", len(ids), many, err)
		}

		stuck, err := s.VMs().ListTransitional(ctx, time.Now(), 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range stuck {
			got = append(got, v.ID)
		}
		if want := []string{"q-f", "q-a", "q-b"}; !slices.Equal(got, want) {
			t.Errorf("ListTransitional = %v, want %v", got, want)
		}
		if stuck, _ := s.VMs().ListTransitional(ctx, time.Now(), 1); len(stuck) != 1 || stuck[0].ID != "q-f" {
			t.Errorf("ListTransitional(limit 1) = %v", stuck)
		}
		if _, err := s.VMs().ListTransitional(ctx, time.Now(), 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("ListTransitional(limit 0) = %v, want ErrInvalid", err)
		}
	})
}

func TestNodeUpdateStatus(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		n := &node.Node{ID: "n-s", Name: "status", State: node.StateReady, Address: "10.0.0.1",
			Host: node.HostInfo{Hostname: "h", CPUs: 4}, Backend: node.Backend{Name: "libvirt", Version: "1", Healthy: true}}
		if err := s.Nodes().Upsert(ctx, n); err != nil {
			t.Fatal(err)
		}
		hb := time.Date(2026, 6, 1, 0, 0, 0, 1234567, time.UTC)
		st := NodeStatus{State: node.StateUnreachable, Backend: node.Backend{Name: "libvirt", Version: "1", Error: "down"}, LastHeartbeat: &hb}
		if err := s.Nodes().UpdateStatus(ctx, "n-s", st); err != nil {
			t.Fatal(err)
		}
		got, err := s.Nodes().Get(ctx, "n-s")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != node.StateUnreachable || got.Backend != st.Backend || !got.LastHeartbeat.Equal(hb.Truncate(time.Microsecond)) ||
			got.Name != "status" || got.Address != "10.0.0.1" || got.Host != n.Host || !got.CreatedAt.Equal(n.CreatedAt) || !got.UpdatedAt.After(n.CreatedAt.Add(-time.Nanosecond)) {
			t.Errorf("after UpdateStatus: %+v", got)
		}
		if err := s.Nodes().UpdateStatus(ctx, "ghost", st); !errors.Is(err, ErrNotFound) {
			t.Errorf("UpdateStatus(ghost) = %v, want ErrNotFound", err)
		}
	})
}

func TestEventsSince(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		if id, err := s.Events().LastID(ctx); err != nil || id != 0 {
			t.Fatalf("LastID of no events = %d, %v", id, err)
		}
		mustCreate(t, s, bareVM("s1", "s1"))
		mustCreate(t, s, bareVM("s2", "s2"))
		var all []*vm.Event
		for i := range 6 {
			e := &vm.Event{VMID: []string{"s1", "s2"}[i%2], Action: fmt.Sprint("a", i), Cause: vm.CauseHost}
			if err := s.Events().Append(ctx, e); err != nil {
				t.Fatal(err)
			}
			all = append(all, e)
		}
		got, err := s.Events().Since(ctx, all[1].ID, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || !reflect.DeepEqual(got, all[2:5]) {
			t.Errorf("Since(second, 3) = %v, want %v", got, all[2:5])
		}
		if got, _ := s.Events().Since(ctx, 0, 0); len(got) != 6 {
			t.Errorf("Since(0) = %d events, want 6", len(got))
		}
		if _, err := s.Events().Since(ctx, 0, maxPageSize+1); !errors.Is(err, ErrInvalid) {
			t.Errorf("Since(limit 1001) = %v, want ErrInvalid", err)
		}
		if id, err := s.Events().LastID(ctx); err != nil || id != all[5].ID {
			t.Errorf("LastID = %d, %v; want %d", id, err, all[5].ID)
		}
	})
}

// TestBatches: CreateMany and AppendMany write what Create and Append
// would, all or nothing.
func TestBatches(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		var vms []*vm.VM
		for i := range 1200 {
			v := discoveredVM(fmt.Sprintf("b-%04d", i), "same-name", "n1")
			if i == 7 {
				v = fullVM("b-0007", "labelled")
			}
			if i == 1199 {
				// Every time that may be NULL is set on one row.
				lost, observed := time.Now().Add(-time.Minute), time.Now().Add(-2*time.Minute)
				v.State, v.LostReason, v.LostAt, v.ObservedAt = vm.StateLost, "the host lost it", &lost, &observed
			}
			vms = append(vms, v)
		}
		if err := s.VMs().CreateMany(ctx, vms); err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 7, 1199} {
			got := mustGet(t, s, vms[i].ID)
			assertVMEqual(t, got, vms[i])
			if got.Version != 1 || got.CreatedAt.IsZero() {
				t.Errorf("%s: version %d created %v", got.ID, got.Version, got.CreatedAt)
			}
		}
		counts, _ := s.VMs().CountByNode(ctx)
		if counts["n1"] != 1199 || counts["node-1"] != 1 {
			t.Errorf("counts after CreateMany: %v", counts)
		}
		// One id taken: nothing of the batch is written.
		dup := []*vm.VM{discoveredVM("fresh-1", "x", "n2"), discoveredVM("b-0001", "x", "n2")}
		if err := s.VMs().CreateMany(ctx, dup); !errors.Is(err, ErrConflict) {
			t.Errorf("CreateMany with a taken id = %v, want ErrConflict", err)
		}
		if _, err := s.VMs().Get(ctx, "fresh-1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a failed batch left fresh-1: %v", err)
		}
		// The taken id comes after several statements' worth of rows: the
		// statements before it are undone too.
		dup = nil
		for i := range 3*sqliteBatchRows + 5 {
			dup = append(dup, discoveredVM(fmt.Sprintf("late-%04d", i), "x", "n2"))
		}
		dup = append(dup, discoveredVM("b-0001", "x", "n2"))
		if err := s.VMs().CreateMany(ctx, dup); !errors.Is(err, ErrConflict) {
			t.Errorf("CreateMany with a taken id at the end = %v, want ErrConflict", err)
		}
		if counts, _ := s.VMs().CountByNode(ctx); counts["n2"] != 0 {
			t.Errorf("a failed CreateMany left %d vms", counts["n2"])
		}
		if err := s.VMs().CreateMany(ctx, []*vm.VM{{}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateMany of a vm without id = %v", err)
		}

		var evs []*vm.Event
		for i := range 700 {
			evs = append(evs, &vm.Event{VMID: vms[i%3].ID, Action: fmt.Sprint("a", i), Cause: vm.CauseHost, Time: time.Now()})
		}
		if err := s.Events().AppendMany(ctx, evs); err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(evs); i++ {
			if evs[i].ID <= evs[i-1].ID {
				t.Fatalf("ids not increasing: %d after %d", evs[i].ID, evs[i-1].ID)
			}
		}
		stored, err := s.Events().List(ctx, vms[1].ID, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range stored {
			var want *vm.Event
			for _, x := range evs {
				if x.ID == e.ID {
					want = x
				}
			}
			if want == nil || !reflect.DeepEqual(e, want) {
				t.Fatalf("stored %+v, appended %+v", e, want)
			}
		}
		if len(stored) != 233 {
			t.Errorf("%d events of %s, want 233", len(stored), vms[1].ID)
		}
		if err := s.Events().AppendMany(ctx, []*vm.Event{{VMID: "ghost"}}); !errors.Is(err, ErrNotFound) {
			t.Errorf("AppendMany for a missing vm = %v, want ErrNotFound", err)
		}
	})
}

// TestVMListRestartable: only managed VMs down (STOPPED, CRASHED) with
// desired_state running and a restart policy, the longest down first.
func TestVMListRestartable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		old := time.Now().Add(-time.Hour)
		seed := []struct {
			id      string
			state   vm.State
			managed bool
			desired vm.DesiredState
			policy  vm.RestartPolicy
		}{
			{"r-a", vm.StateCrashed, true, vm.DesiredRunning, vm.RestartOnCrash},
			{"r-b", vm.StateStopped, true, vm.DesiredRunning, vm.RestartAlways},
			{"r-c", vm.StateRunning, true, vm.DesiredRunning, vm.RestartAlways},
			{"r-d", vm.StateCrashed, true, vm.DesiredStopped, vm.RestartAlways},
			{"r-e", vm.StateCrashed, true, vm.DesiredRunning, vm.RestartNever},
			{"r-f", vm.StateCrashed, false, vm.DesiredRunning, vm.RestartAlways},
		}
		for i, sd := range seed {
			v := discoveredVM(sd.id, sd.id, "n1")
			v.State, v.IsManaged, v.DesiredState, v.RestartPolicy = sd.state, sd.managed, sd.desired, sd.policy
			v.StateChangedAt = old.Add(-time.Duration(i) * time.Minute)
			mustCreate(t, s, v)
		}
		list, err := s.VMs().ListRestartable(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range list {
			got = append(got, v.ID)
		}
		if want := []string{"r-b", "r-a"}; !slices.Equal(got, want) {
			t.Errorf("ListRestartable = %v, want %v", got, want)
		}
		if _, err := s.VMs().ListRestartable(ctx, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("ListRestartable(limit 0) = %v, want ErrInvalid", err)
		}
	})
}
