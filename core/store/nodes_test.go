package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/vm"
)

// TestNodeListPage: pages of nodes in name order cover every node once;
// a bad limit or cursor is ErrInvalid.
func TestNodeListPage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		var want []string
		for i := range 7 {
			n := &node.Node{ID: fmt.Sprintf("id-%d", 6-i), Name: fmt.Sprintf("n%02d", i), State: node.StateReady}
			if err := s.Nodes().Upsert(ctx, n); err != nil {
				t.Fatal(err)
			}
			want = append(want, n.Name)
		}
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			list, next, err := s.Nodes().ListPage(ctx, NodeListOptions{Limit: 3, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range list {
				got = append(got, n.Name)
			}
			if next == "" {
				break
			}
			if pages > 3 {
				t.Fatalf("more pages than 7 nodes at 3 a page fill: %v", got)
			}
			cursor = next
		}
		if !slices.Equal(got, want) {
			t.Errorf("paged names %v, want %v", got, want)
		}
		if _, _, err := s.Nodes().ListPage(ctx, NodeListOptions{Limit: 1001}); !errors.Is(err, ErrInvalid) {
			t.Errorf("limit 1001: %v", err)
		}
		if _, _, err := s.Nodes().ListPage(ctx, NodeListOptions{Cursor: "!!"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad cursor: %v", err)
		}
		if _, _, err := s.Nodes().ListPage(ctx, NodeListOptions{Cursor: encodeCursor(time.Now(), "x")}); !errors.Is(err, ErrInvalid) {
			t.Errorf("a VM cursor: %v", err)
		}
	})
}

// TestNodeDelete: a node goes with the unmanaged VM records on it; managed
// VMs that are not TERMINATED keep it (ErrConflict, nothing removed), and
// TERMINATED ones stay as history.
func TestNodeDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		if err := s.Nodes().Upsert(ctx, &node.Node{ID: "nd", Name: "doomed", State: node.StateReady}); err != nil {
			t.Fatal(err)
		}
		managed := bareVM("m1", "managed")
		managed.NodeID = "nd"
		mustCreate(t, s, managed)
		mustCreate(t, s, discoveredVM("d1", "found", "nd"))
		gone := bareVM("t1", "gone")
		gone.NodeID, gone.State = "nd", vm.StateTerminated
		mustCreate(t, s, gone)

		if err := s.Nodes().Delete(ctx, "nd"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "1 managed vms") {
			t.Fatalf("delete with a managed vm: %v", err)
		}
		if _, err := s.VMs().Get(ctx, "d1"); err != nil {
			t.Errorf("a refused delete removed a vm: %v", err)
		}
		managed = mustGet(t, s, "m1")
		managed.State = vm.StateTerminated
		if err := s.VMs().UpdateStatus(ctx, managed); err != nil {
			t.Fatal(err)
		}
		if err := s.Nodes().Delete(ctx, "nd"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Nodes().Get(ctx, "nd"); !errors.Is(err, ErrNotFound) {
			t.Errorf("node after delete: %v", err)
		}
		if _, err := s.VMs().Get(ctx, "d1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unmanaged vm after delete: %v", err)
		}
		for _, id := range []string{"m1", "t1"} {
			if v := mustGet(t, s, id); v.State != vm.StateTerminated {
				t.Errorf("vm %s after delete: %s", id, v.State)
			}
		}
		if err := s.Nodes().Delete(ctx, "nd"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleting again: %v", err)
		}
	})
}

// TestNodeHeartbeats: TouchHeartbeats sets the last heartbeat of the nodes
// named, on the database's clock, in one statement, returns their stored
// states and leaves other nodes alone; Heartbeats reads them back with the
// database's time.
func TestNodeHeartbeats(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		old := time.Now().Add(-time.Hour)
		for i, st := range []node.State{node.StateReady, node.StateUnreachable, node.StateReady} {
			n := &node.Node{ID: fmt.Sprintf("hb-%d", i), Name: fmt.Sprintf("hb%d", i), State: st, LastHeartbeat: &old}
			if err := s.Nodes().Upsert(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		states, err := s.Nodes().TouchHeartbeats(ctx, []string{"hb-0", "hb-1", "no-such-node"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]node.State{"hb-0": node.StateReady, "hb-1": node.StateUnreachable}
		if fmt.Sprint(states) != fmt.Sprint(want) {
			t.Errorf("TouchHeartbeats returned %v, want %v", states, want)
		}
		if got, err := s.Nodes().TouchHeartbeats(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("TouchHeartbeats(nil) = %v, %v", got, err)
		}
		beats, now, err := s.Nodes().Heartbeats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(beats) != 3 {
			t.Fatalf("%d heartbeats, want 3", len(beats))
		}
		for _, hb := range beats {
			if hb.LastHeartbeat == nil {
				t.Fatalf("node %s has no last heartbeat", hb.ID)
			}
			age := now.Sub(*hb.LastHeartbeat)
			fresh := hb.ID != "hb-2"
			if fresh && (age < 0 || age > 10*time.Second) {
				t.Errorf("node %s was touched %s before the database's now", hb.ID, age)
			}
			if !fresh && age < 59*time.Minute {
				t.Errorf("node %s, not touched, has a heartbeat %s old", hb.ID, age)
			}
		}
		if beats[1].State != node.StateUnreachable {
			t.Errorf("node hb-1 is %s, want its state unchanged", beats[1].State)
		}
	})
}
