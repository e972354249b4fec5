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
				req := e.authorize(httptest.NewRequest("GET", fmt.Sprintf("/api/vms?limit=%d&cursor=%s", benchLimit, cursors[i%len(cursors)]), nil))
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
				req := e.authorize(httptest.NewRequest("POST", "/api/vms", strings.NewReader(fmt.Sprintf(`{"name":"api-%06d","vcpus":1,"memory_mib":64}`, n))))
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

// withoutAuth returns a server on e's service with no authentication at
// all: what the benchmarks compare authentication against.
func (e *env) withoutAuth() *Server {
	return New(Options{Service: e.svc, Version: "quantixd bench", withoutAuth: true})
}

// timeRequest serves one request and returns how long it took, failing
// the benchmark unless it is 200.
func timeRequest(b *testing.B, h http.Handler, method, path string, c cred) time.Duration {
	req := httptest.NewRequest(method, path, nil)
	c.apply(req)
	rec := httptest.NewRecorder()
	t0 := time.Now()
	h.ServeHTTP(rec, req)
	d := time.Since(t0)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s %s: status %d: %s", method, path, rec.Code, rec.Body)
	}
	return d
}

// BenchmarkAuthOverhead: what authentication and authorization add to a
// request: GET /api/logs/components (a constant reply) served with auth
// off, with a bearer token and with a session cookie, interleaved in one
// run; the added latency is the p50 of each minus the p50 with auth off.
func BenchmarkAuthOverhead(b *testing.B) {
	e := newEnv(b, "sqlite", false)
	off := e.withoutAuth()
	sess, r, _ := e.login(b, "admin", adminPassword)
	if r.status != http.StatusOK {
		b.Fatalf("login: %d %s", r.status, r.raw)
	}
	session := cred{cookie: sess.cookie}
	const path = "/api/logs/components"
	// Warm the credential caches: only a credential's first use reads the
	// store.
	timeRequest(b, e.srv, "GET", path, e.adminCred())
	timeRequest(b, e.srv, "GET", path, session)
	var base, tok, ses []time.Duration
	for b.Loop() {
		base = append(base, timeRequest(b, off, "GET", path, cred{}))
		tok = append(tok, timeRequest(b, e.srv, "GET", path, e.adminCred()))
		ses = append(ses, timeRequest(b, e.srv, "GET", path, session))
	}
	for _, d := range [][]time.Duration{base, tok, ses} {
		slices.Sort(d)
	}
	us := func(d []time.Duration, p float64) float64 { return percentile(d, p) * 1000 }
	b.ReportMetric(us(base, 50), "off-p50-us")
	b.ReportMetric(us(tok, 50), "bearer-p50-us")
	b.ReportMetric(us(ses, 50), "session-p50-us")
	b.ReportMetric(us(tok, 50)-us(base, 50), "bearer-added-p50-us")
	b.ReportMetric(us(ses, 50)-us(base, 50), "session-added-p50-us")
	b.ReportMetric(us(tok, 99)-us(base, 99), "bearer-added-p99-us")
}

// BenchmarkListVMsAuth: GET /api/vms?limit=100 over 10,000 stored VMs
// with authentication (a bearer token) and without, interleaved in one
// run over the same pages; p99-x-off is the ratio of their p99s.
func BenchmarkListVMsAuth(b *testing.B) {
	for _, driver := range teststore.Drivers {
		b.Run(driver, func(b *testing.B) {
			e := newEnv(b, driver, false)
			off := e.withoutAuth()
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
			timeRequest(b, e.srv, "GET", "/api/vms?limit=1", e.adminCred())
			var on, without []time.Duration
			for i := 0; b.Loop(); i++ {
				path := fmt.Sprintf("/api/vms?limit=%d&cursor=%s", benchLimit, cursors[i%len(cursors)])
				// Alternate which goes first, so that neither always
				// finds the other's pages in the caches.
				if i%2 == 0 {
					on = append(on, timeRequest(b, e.srv, "GET", path, e.adminCred()))
					without = append(without, timeRequest(b, off, "GET", path, cred{}))
				} else {
					without = append(without, timeRequest(b, off, "GET", path, cred{}))
					on = append(on, timeRequest(b, e.srv, "GET", path, e.adminCred()))
				}
			}
			slices.Sort(on)
			slices.Sort(without)
			b.ReportMetric(percentile(on, 50), "on-p50-ms")
			b.ReportMetric(percentile(on, 99), "on-p99-ms")
			b.ReportMetric(percentile(without, 50), "off-p50-ms")
			b.ReportMetric(percentile(without, 99), "off-p99-ms")
			b.ReportMetric(percentile(on, 50)/percentile(without, 50), "p50-x-off")
			b.ReportMetric(percentile(on, 99)/percentile(without, 99), "p99-x-off")
		})
	}
}
