package store

import (
	"context"
	"reflect"
	"testing"

	"github.com/quantixvm/quantix/core/vm"
)

func TestCountByNodeState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		ctx := context.Background()
		if counts, err := s.VMs().CountByNodeState(ctx); err != nil || len(counts) != 0 {
			t.Fatalf("CountByNodeState of no VM = %v, %v", counts, err)
		}
		for _, sd := range []struct {
			id, node string
			state    vm.State
		}{
			{"c-1", "n1", vm.StateRunning}, {"c-2", "n1", vm.StateRunning}, {"c-3", "n1", vm.StateStopped},
			{"c-4", "n2", vm.StateRunning}, {"c-5", "n2", vm.StateTerminated}, {"c-6", "", vm.StateCreating},
		} {
			v := discoveredVM(sd.id, sd.id, sd.node)
			v.State = sd.state
			mustCreate(t, s, v)
		}
		counts, err := s.VMs().CountByNodeState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []VMCount{
			{"", vm.StateCreating, 1},
			{"n1", vm.StateRunning, 2}, {"n1", vm.StateStopped, 1},
			{"n2", vm.StateRunning, 1}, {"n2", vm.StateTerminated, 1},
		}
		if !reflect.DeepEqual(counts, want) {
			t.Errorf("CountByNodeState = %v, want %v", counts, want)
		}
	})
}

// BenchmarkCountByNodeState: the grouped count the inventory metrics read,
// over 50,000 VMs on 20 nodes (20 node and state pairs, as seedVMs places them).
func BenchmarkCountByNodeState(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s, _ := openFresh(b, be)
			seedVMs(b, s, 50000)
			ctx := context.Background()
			for b.Loop() {
				counts, err := s.VMs().CountByNodeState(ctx)
				if err != nil || len(counts) != 20 {
					b.Fatalf("CountByNodeState: %d rows, %v; want 20", len(counts), err)
				}
			}
		})
	}
}
