package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/quantixvm/quantix/core/vm"
)

// StateHashByNode is vm.StateHash over vm.HostView of the node's VMs, the
// hash the node's agent computes, on both databases (PostgreSQL computes
// it itself): every state, with and without a last known state, ignored
// UUIDs, ids that sort differently byte by byte than in a locale, VMs of
// other nodes, and a node without VMs.
func TestStateHashByNode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		ctx := context.Background()
		want := map[string]vm.State{}
		add := func(id, node string, state, last vm.State) {
			t.Helper()
			v := discoveredVM(id, "vm-"+id, node)
			v.State, v.LastKnownState = state, last
			mustCreate(t, s, v)
			if node != "n1" {
				return
			}
			if st, ok := vm.HostView(id, state, last); ok {
				want[id] = st
			}
		}
		for i, st := range vm.States {
			add(fmt.Sprintf("0000000%x-aaaa-4aaa-8aaa-%012d", i%16, i), "n1", st, "")
			add(fmt.Sprintf("1000000%x-aaaa-4aaa-8aaa-%012d", i%16, i), "n1", st, vm.StateRunning)
			add(fmt.Sprintf("2000000%x-aaaa-4aaa-8aaa-%012d", i%16, i), "n2", st, vm.StateStopped)
		}
		for _, id := range []string{
			"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
			"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "-",
			// Upper case sorts before lower case byte by byte, and a dash
			// before digits; a locale's collation may not.
			"B-Upper", "a-lower", "a_under", "A-upper", "a-1", "a1",
		} {
			add(id, "n1", vm.StateRunning, vm.StateRunning)
		}
		if len(want) < len(vm.States) {
			t.Fatalf("only %d vms seeded on n1 count for its hash", len(want))
		}
		got, err := s.VMs().StateHashByNode(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if w := vm.StateHash(want); got != w {
			t.Errorf("StateHashByNode(n1) = %s, want %s (vm.StateHash of %v)", got, w, want)
		}
		got, err = s.VMs().StateHashByNode(ctx, "none")
		if err != nil {
			t.Fatal(err)
		}
		if w := vm.StateHash(nil); got != w {
			t.Errorf("StateHashByNode(none) = %s, want the hash of nothing %s", got, w)
		}
	})
}
