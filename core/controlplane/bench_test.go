package controlplane

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/sdk/backend"
)

// benchVMs is the size of one node in the benchmarks.
const benchVMs = 250

// benchReconciler is a reconciler on a fresh store of driver, counting
// writes, with a clock that stands still (so last_seen never falls due).
func benchReconciler(b *testing.B, driver string) (*Reconciler, *atomic.Int64) {
	b.Helper()
	writes := new(atomic.Int64)
	clk := newClock()
	r, err := NewReconciler(ReconcilerOptions{Store: countingStore{teststore.Open(b, driver), writes},
		Logger: testlog.New(b, hclog.Error), Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Close)
	return r, writes
}

// hostList is what the agent of node number n reports: benchVMs VMs.
func hostList(n int) []*backend.VM {
	out := make([]*backend.VM, benchVMs)
	for i := range out {
		id := fmt.Sprintf("5158ba6e-%04x-4000-8000-%012x", n, i)
		out[i] = hostVM(id, fmt.Sprintf("vm-%d-%d", n, i), backend.StateRunning)
	}
	return out
}

func registerBench(b *testing.B, r *Reconciler, name string) string {
	b.Helper()
	id, err := r.Register(context.Background(), nodeapi.Registration{NodeName: name, Backend: node.Backend{Name: "libvirt", Healthy: true}})
	if err != nil {
		b.Fatal(err)
	}
	return id
}

// BenchmarkFullSync: one node's full sync of 250 VMs, when nothing changed
// (the steady state: resyncs, reconnects) and when every VM is new (a host
// seen for the first time). writes/op counts store writes.
func BenchmarkFullSync(b *testing.B) {
	for _, driver := range teststore.Drivers {
		b.Run(driver+"/unchanged", func(b *testing.B) {
			r, writes := benchReconciler(b, driver)
			ctx := context.Background()
			id := registerBench(b, r, "bench-node")
			list := hostList(0)
			if err := r.FullSync(ctx, id, list); err != nil {
				b.Fatal(err)
			}
			writes.Store(0)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := r.FullSync(ctx, id, list); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(writes.Load())/float64(b.N), "writes/op")
		})
		b.Run(driver+"/all-new", func(b *testing.B) {
			r, writes := benchReconciler(b, driver)
			ctx := context.Background()
			var total int64
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				id := registerBench(b, r, fmt.Sprintf("bench-node-%d", i))
				list := hostList(i + 1)
				writes.Store(0)
				b.StartTimer()
				if err := r.FullSync(ctx, id, list); err != nil {
					b.Fatal(err)
				}
				total += writes.Load()
			}
			b.ReportMetric(float64(total)/float64(b.N), "writes/op")
		})
	}
}

// BenchmarkHeartbeat: a heartbeat whose hash matches the database, for a
// node of 250 VMs. It must write nothing.
func BenchmarkHeartbeat(b *testing.B) {
	for _, driver := range teststore.Drivers {
		b.Run(driver, func(b *testing.B) {
			r, writes := benchReconciler(b, driver)
			ctx := context.Background()
			id := registerBench(b, r, "bench-node")
			list := hostList(0)
			if err := r.FullSync(ctx, id, list); err != nil {
				b.Fatal(err)
			}
			states := make(map[string]vm.State, len(list))
			for _, v := range list {
				states[v.ID] = vm.HostState(string(v.State))
			}
			hb := nodeapi.HeartbeatReport{StateHash: vm.StateHash(states), VMCount: len(states), Backend: node.Backend{Name: "libvirt", Healthy: true}}
			writes.Store(0)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				full, err := r.Heartbeat(ctx, id, hb)
				if err != nil || full {
					b.Fatalf("heartbeat = %v, %v; want a match", full, err)
				}
			}
			b.StopTimer()
			if n := writes.Load(); n != 0 {
				b.Fatalf("%d matching heartbeats made %d writes, want 0", b.N, n)
			}
			b.ReportMetric(0, "writes/op")
		})
	}
}
