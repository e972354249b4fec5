package controlplane

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/sdk/backend"
)

// Two servers (two store handles on one PostgreSQL database, a reconciler
// on each) apply at once the full syncs of two nodes that report the same
// new VMs, as when a VM moves between hosts while both agents list it. One
// full sync only discovers them; the other also has a record of its own
// node to change, so it writes an event of its own as well. Rows are
// written before the event order lock is taken, in every transaction:
// neither can hold that lock while it waits for a row the other inserted,
// so PostgreSQL never aborts one as a deadlock (40P01, after a second of
// deadlock_timeout), and every full sync succeeds. Each VM then has one
// record and one discovery event.
func TestTwoServersDiscoverTheSameVMs(t *testing.T) {
	ctx := context.Background()
	dsn := teststore.DSN(t, "postgres")
	newServer := func() (store.Store, *Reconciler) {
		s := teststore.OpenAt(t, "postgres", dsn)
		r, err := NewReconciler(ReconcilerOptions{Store: s, Logger: testlog.New(t, hclog.Warn)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		return s, r
	}
	s1, r1 := newServer()
	_, r2 := newServer()
	register := func(r *Reconciler, name string) string {
		id, err := r.Register(ctx, nodeapi.Registration{NodeName: name, Address: "10.0.0.1",
			Backend: node.Backend{Name: "sim", Version: "test", Healthy: true}})
		if err != nil {
			t.Fatalf("registering node %s: %v", name, err)
		}
		return id
	}
	const rounds, shared = 20, 40
	for round := range rounds {
		a := register(r1, fmt.Sprintf("race-a-%d", round))
		b := register(r2, fmt.Sprintf("race-b-%d", round))
		// b's own VM, STOPPED in the inventory and reported RUNNING.
		own := uuid.NewString()
		if err := s1.VMs().Create(ctx, rec(own, fmt.Sprintf("own-%d", round), vm.StateStopped, b, false)); err != nil {
			t.Fatal(err)
		}
		var ids []string
		var listA []*backend.VM
		for i := range shared {
			id := uuid.NewString()
			ids = append(ids, id)
			listA = append(listA, hostVM(id, fmt.Sprintf("moving-%d-%d", round, i), backend.StateRunning))
		}
		listB := append([]*backend.VM{hostVM(own, fmt.Sprintf("own-%d", round), backend.StateRunning)}, listA...)

		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, 2)
		took := make([]time.Duration, 2)
		for i, job := range []struct {
			r    *Reconciler
			node string
			list []*backend.VM
		}{{r1, a, listA}, {r2, b, listB}} {
			wg.Go(func() {
				<-start
				t0 := time.Now()
				errs[i] = job.r.FullSync(ctx, job.node, job.list)
				took[i] = time.Since(t0)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: the full sync through server %d failed after %s: %v", round, i+1, took[i], err)
			}
		}
		got, err := s1.VMs().GetMany(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != shared {
			t.Fatalf("round %d: %d records of the %d vms both nodes reported", round, len(got), shared)
		}
		for _, v := range got {
			if v.NodeID != a && v.NodeID != b {
				t.Fatalf("round %d: vm %s placed on node %s, neither of the nodes reporting it", round, v.ID, v.NodeID)
			}
			evs, err := s1.Events().List(ctx, v.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			discovered := 0
			for _, e := range evs {
				if e.Action == discoverAction {
					discovered++
				}
			}
			if discovered != 1 {
				t.Fatalf("round %d: vm %s has %d discovery events, want 1: %+v", round, v.ID, discovered, evs)
			}
		}
		if v, err := s1.VMs().Get(ctx, own); err != nil || v.State != vm.StateRunning {
			t.Fatalf("round %d: node b's own vm = %+v (%v), want RUNNING", round, v, err)
		}
	}
}
