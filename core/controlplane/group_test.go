package controlplane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
)

// gatedStore holds the first batch insert of VMs (CreateMany) until
// release is closed, and counts them all.
type gatedStore struct {
	store.Store
	inserts *atomic.Int64
	release chan struct{}
}

func (g gatedStore) VMs() store.VMRepo { return gatedVMs{g.Store.VMs(), g} }

func (g gatedStore) Tx(ctx context.Context, fn func(store.Store) error) error {
	return g.Store.Tx(ctx, func(tx store.Store) error {
		return fn(gatedStore{Store: tx, inserts: g.inserts, release: g.release})
	})
}

type gatedVMs struct {
	store.VMRepo
	g gatedStore
}

func (v gatedVMs) CreateMany(ctx context.Context, vms []*vm.VM) error {
	if v.g.inserts.Add(1) == 1 {
		<-v.g.release
	}
	return v.VMRepo.CreateMany(ctx, vms)
}

// Full syncs that arrive while another full sync's transaction runs are
// committed together, in one transaction, once it ends; each still
// succeeds or fails on its own: one whose deadline passed while it waited
// gets its error and writes nothing, the others are applied, each VM with
// one record and one discovery event.
func TestFullSyncsCommittedInGroups(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		g := gatedStore{Store: teststore.Open(t, driver), inserts: new(atomic.Int64), release: make(chan struct{})}
		r, err := NewReconciler(ReconcilerOptions{Store: g, Logger: testlog.New(t, hclog.Warn)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		e := &env{store: g, rec: r}
		const nodes, perNode, cancelled = 12, 30, 5
		ids := make([]string, nodes)
		lists := make([][]*backend.VM, nodes)
		for i := range nodes {
			ids[i] = e.register(t, fmt.Sprintf("group-%d", i), 0)
			for k := range perNode {
				lists[i] = append(lists[i], hostVM(uuid.NewString(), fmt.Sprintf("g%d-vm%d", i, k), backend.StateRunning))
			}
		}
		queued := func() int {
			r.groups.mu.Lock()
			defer r.groups.mu.Unlock()
			return len(r.groups.queue)
		}
		errs := make([]error, nodes)
		var wg sync.WaitGroup
		// The first full sync's transaction holds at its insert.
		wg.Go(func() { errs[0] = r.FullSync(ctx, ids[0], lists[0]) })
		wait.Until(t, 10*time.Second, "the first full sync inserting", func() bool { return g.inserts.Load() == 1 })
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for i := 1; i < nodes; i++ {
			c := ctx
			if i == cancelled {
				c = cctx
			}
			wg.Go(func() { errs[i] = r.FullSync(c, ids[i], lists[i]) })
		}
		wait.Until(t, 10*time.Second, "the other full syncs waiting", func() bool { return queued() == nodes-1 })
		cancel()
		close(g.release)
		wg.Wait()

		if n := g.inserts.Load(); n != 2 {
			t.Errorf("%d batch inserts of vms, want 2: the first full sync's, then one for those that waited", n)
		}
		for i, err := range errs {
			switch {
			case i == cancelled && !errors.Is(err, context.Canceled):
				t.Errorf("the full sync whose context ended while it waited returned %v, want %v", err, context.Canceled)
			case i != cancelled && err != nil:
				t.Errorf("full sync %d: %v", i, err)
			}
		}
		for i, list := range lists {
			for _, o := range list {
				v, err := g.VMs().Get(ctx, o.ID)
				if i == cancelled {
					if !errors.Is(err, store.ErrNotFound) {
						t.Fatalf("vm %s of the cancelled full sync: %+v (%v), want no record", o.ID, v, err)
					}
					continue
				}
				if err != nil || v.NodeID != ids[i] || v.State != vm.StateRunning || v.Origin != vm.OriginHostDiscovered {
					t.Fatalf("vm %s of node %d = %+v (%v), want discovered RUNNING on it", o.ID, i, v, err)
				}
				evs, err := g.Events().List(ctx, o.ID, 0, 10)
				if err != nil || len(evs) != 1 || evs[0].Action != discoverAction {
					t.Fatalf("events of vm %s = %+v (%v), want its discovery", o.ID, evs, err)
				}
			}
		}
		if n := queued(); n != 0 {
			t.Errorf("%d full syncs left waiting", n)
		}
	})
}
