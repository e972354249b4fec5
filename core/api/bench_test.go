package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/sdk/backend"
)

const (
	benchVMs    = 10000
	seedBatch   = 500
	benchPages  = 20
	benchLimit  = 100
	minBaseline = 200
)

// seedVMs stores n VMs through the store, in transactions of seedBatch.
func seedVMs(b *testing.B, s store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	base := time.Now().Add(-time.Hour)
	for start := 0; start < n; start += seedBatch {
		err := s.Tx(ctx, func(tx store.Store) error {
			for i := start; i < min(start+seedBatch, n); i++ {
				v := &vm.VM{
					ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Name: fmt.Sprintf("bench-%05d", i),
					Labels: map[string]string{"env": []string{"prod", "dev", "test"}[i%3], "team": fmt.Sprintf("t%d", i%10)},
					Origin: vm.OriginControlPlane, IsManaged: true, NodeID: "bench-node", State: vm.StateStopped,
					DesiredState: vm.DesiredStopped, RestartPolicy: vm.RestartNever,
					Spec:      vm.Spec{VCPUs: 1, MemoryMiB: 64, Disks: []vm.Disk{{Name: "disk0", SizeGiB: 10, Path: "/var/lib/quantix/images/x.qcow2"}}, NICs: []vm.NIC{{Type: "user"}}, Boot: []string{"hd"}},
					CreatedAt: base.Add(time.Duration(i) * time.Millisecond),
				}
				if err := tx.VMs().Create(ctx, v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("seeding: %v", err)
		}
	}
}

// percentile returns the p-th percentile (0..100) of sorted durations, in
// milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return float64(sorted[i]) / float64(time.Millisecond)
}

// BenchmarkListVMs: GET /api/vms?limit=100 over 10,000 stored VMs, walking
// the first pages; the baseline is the store's List of the same pages,
// measured in the same run.
func BenchmarkListVMs(b *testing.B) {
	for _, driver := range teststore.Drivers {
		b.Run(driver, func(b *testing.B) {
			e := newEnv(b, driver, false)
			seedVMs(b, e.store, benchVMs)
			ctx := context.Background()
			cursors := []string{""}
			for len(cursors) < benchPages {
				_, next, err := e.store.VMs().List(ctx, store.ListOptions{Limit: benchLimit, Cursor: cursors[len(cursors)-1]})
				if err != nil {
					b.Fatal(err)
				}
				cursors = append(cursors, next)
			}
			var api []time.Duration
			for i := 0; b.Loop(); i++ {
				req := httptest.NewRequest("GET", fmt.Sprintf("/api/vms?limit=%d&cursor=%s", benchLimit, cursors[i%len(cursors)]), nil)
				rec := httptest.NewRecorder()
				t0 := time.Now()
				e.srv.ServeHTTP(rec, req)
				api = append(api, time.Since(t0))
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			var base []time.Duration
			for i := range max(len(api), minBaseline) {
				t0 := time.Now()
				vms, _, err := e.store.VMs().List(ctx, store.ListOptions{Limit: benchLimit, Cursor: cursors[i%len(cursors)]})
				base = append(base, time.Since(t0))
				if err != nil || len(vms) != benchLimit {
					b.Fatalf("store list: %d vms, %v", len(vms), err)
				}
			}
			slices.Sort(api)
			slices.Sort(base)
			b.ReportMetric(percentile(api, 50), "p50-ms")
			b.ReportMetric(percentile(api, 99), "p99-ms")
			b.ReportMetric(percentile(base, 50), "store-p50-ms")
			b.ReportMetric(percentile(base, 99), "store-p99-ms")
			b.ReportMetric(percentile(api, 50)/percentile(base, 50), "p50-x-store")
			b.ReportMetric(percentile(api, 99)/percentile(base, 99), "p99-x-store")
		})
	}
}

// BenchmarkCreateVM: creates per second through POST /api/vms, the agent
// server and the agent of a simulated host; the baseline is the host's
// CreateVM called directly, measured in the same run.
func BenchmarkCreateVM(b *testing.B) {
	for _, driver := range teststore.Drivers {
		b.Run(driver, func(b *testing.B) {
			e := newEnv(b, driver, true)
			n := 0
			for b.Loop() {
				req := httptest.NewRequest("POST", "/api/vms", strings.NewReader(fmt.Sprintf(`{"name":"api-%06d","vcpus":1,"memory_mib":64}`, n)))
				rec := httptest.NewRecorder()
				e.srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusCreated {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				n++
			}
			apiRate := float64(n) / b.Elapsed().Seconds()
			ctx := context.Background()
			count := max(n, 50)
			t0 := time.Now()
			for i := range count {
				if _, err := e.b.CreateVM(ctx, backend.VMSpec{Name: fmt.Sprintf("direct-%06d", i), VCPUs: 1, MemoryMiB: 64}); err != nil {
					b.Fatal(err)
				}
			}
			directRate := float64(count) / time.Since(t0).Seconds()
			b.ReportMetric(apiRate, "creates/s")
			b.ReportMetric(directRate, "backend-creates/s")
			b.ReportMetric(apiRate/directRate, "x-backend")
		})
	}
}
