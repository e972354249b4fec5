package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/logs"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// benchClients is how many clients post at once in BenchmarkUIIngest.
const benchClients = 32

// uiBatch is the body of one POST of 100 entries shaped like the seed
// front end's, for a session of its own.
func uiBatch(session int) []byte {
	parts := make([]string, 100)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"timestamp":"2026-01-18T10:00:00.%03dZ","level":"info","action":"button.click","component":"vm","target":"start-button","message":"Clicked start on web-%d","metadata":{"vm":"web-%d","page":"/vms"},"correlationId":"corr-%d-%d","userId":"alice","sessionId":"session-%d","userAction":true}`,
			i, i, i, session, i, session)
	}
	return []byte(`{"logs":[` + strings.Join(parts, ",") + `]}`)
}

// BenchmarkUIIngest: entries per second accepted by POST /api/logs/ui in
// batches of 100 over loopback HTTP, each acknowledged only once it is
// fsynced in the spool, with the built-in store (SQLite) consuming at the
// same time; and the p50/p99 latency of one POST. The baseline is the
// spool itself: Pipeline.Append of the same batches from as many
// goroutines, measured in the same run.
func BenchmarkUIIngest(b *testing.B) {
	// Every batch comes with the one admin token: the rate limit, keyed on
	// the credential, is set out of the way.
	le := newLogEnv(b, "sqlite", logEnvOptions{rate: unlimitedUI})
	srv := httptest.NewServer(le.srv)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}
	hc := &http.Client{Transport: tokenTransport{token: le.token, base: tr}}
	bodies := make([][]byte, 4096)
	for i := range bodies {
		bodies[i] = uiBatch(i)
	}
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism((benchClients + 1) / 2)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			body := bodies[next.Add(1)%int64(len(bodies))]
			t0 := time.Now()
			res, err := hc.Post(srv.URL+"/api/logs/ui", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			mine = append(mine, time.Since(t0))
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	apiRate := float64(len(lat)*100) / elapsed.Seconds()
	slices.Sort(lat)

	// Baseline: the spool alone, same batches, same concurrency.
	entries := make([][]logsink.Entry, 64)
	for i := range entries {
		entries[i] = make([]logsink.Entry, 100)
		for j := range entries[i] {
			entries[i][j] = logsink.Entry{Level: logsink.LevelInfo, Source: logsink.SourceUI, Component: logsink.ComponentVM,
				Message: fmt.Sprintf("Clicked start on web-%d", j), Action: "button.click", Target: "start-button",
				SessionID: fmt.Sprintf("session-%d", i), CorrelationID: fmt.Sprintf("corr-%d-%d", i, j), UserID: "alice", UserAction: true}
		}
	}
	p, err := logs.Open(logs.Options{Dir: b.TempDir(), Logger: testlog.New(b, hclog.Warn)})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	total := max(len(lat), 2000)
	var done atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done.Add(1) <= int64(total) {
				batch := slices.Clone(entries[w%len(entries)])
				if err := p.Append(context.Background(), batch); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	spoolRate := float64(total*100) / time.Since(t0).Seconds()

	b.ReportMetric(apiRate, "entries/s")
	b.ReportMetric(percentile(lat, 50), "p50-ms")
	b.ReportMetric(percentile(lat, 99), "p99-ms")
	b.ReportMetric(spoolRate, "spool-entries/s")
	b.ReportMetric(apiRate/spoolRate, "x-spool")
	b.ReportMetric(float64(le.pipe.Stats().Syncs), "fsyncs")
}

// BenchmarkUIPost: the latency of one POST /api/logs/ui of 100 entries
// from a single client (nothing else posting), p50 and p99; the baseline
// is one Pipeline.Append of the same 100 entries (an fsync), measured in
// the same run.
func BenchmarkUIPost(b *testing.B) {
	le := newLogEnv(b, "sqlite", logEnvOptions{rate: unlimitedUI})
	srv := httptest.NewServer(le.srv)
	defer srv.Close()
	hc := le.client()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		body := uiBatch(i % 1000)
		i++
		t0 := time.Now()
		res, err := hc.Post(srv.URL+"/api/logs/ui", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		lat = append(lat, time.Since(t0))
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
	slices.Sort(lat)
	var base []time.Duration
	for range max(len(lat), 200) {
		batch := make([]logsink.Entry, 100)
		for j := range batch {
			batch[j] = logsink.Entry{Level: logsink.LevelInfo, Source: logsink.SourceUI, Component: logsink.ComponentVM,
				Message: "Clicked start", Action: "button.click", SessionID: "s", UserAction: true}
		}
		t0 := time.Now()
		if err := le.pipe.Append(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		base = append(base, time.Since(t0))
	}
	slices.Sort(base)
	b.ReportMetric(percentile(lat, 50), "p50-ms")
	b.ReportMetric(percentile(lat, 99), "p99-ms")
	b.ReportMetric(percentile(base, 50), "append-p50-ms")
	b.ReportMetric(percentile(base, 99), "append-p99-ms")
	b.ReportMetric(percentile(lat, 99)/percentile(base, 99), "p99-x-append")
}

// Sizes of BenchmarkQueryLogsByVM.
const (
	benchLogEntries = 1_000_000
	benchLogVMs     = 2000
	benchLogSeed    = 10_000
)

// seedLogs stores n entries spread over benchLogVMs VMs, a second apart,
// straight through the store.
func seedLogs(b *testing.B, le *logEnv, n int) {
	b.Helper()
	ctx := context.Background()
	base := time.Now().Add(-time.Duration(n) * time.Millisecond)
	batch := make([]logsink.Entry, 0, benchLogSeed)
	t0 := time.Now()
	for i := range n {
		batch = append(batch, logsink.Entry{
			ID: fmt.Sprintf("00000000-0000-7000-8000-%012d", i), Timestamp: base.Add(time.Duration(i) * time.Millisecond),
			Level: logsink.Levels[i%4], Source: logsink.Sources[i%4], Component: logsink.ComponentVM,
			Message: fmt.Sprintf("entry %d of vm-%04d", i, i%benchLogVMs), VMID: fmt.Sprintf("vm-%04d", i%benchLogVMs),
			NodeID: fmt.Sprintf("node-%d", i%20), SessionID: fmt.Sprintf("s-%d", i%5000),
		})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := le.store.Logs().Insert(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.Logf("seeded %d entries in %s", n, time.Since(t0).Round(time.Millisecond))
}

// BenchmarkQueryLogsByVM: GET /api/logs?vm_id=…&limit=100 with 1,000,000
// entries stored, walking the first pages of random VMs (target p99 at
// most 50 ms); the baseline is the store's Query of the same pages,
// measured in the same run. Then the whole million is exported as CSV
// (exportAll).
func BenchmarkQueryLogsByVM(b *testing.B) {
	for _, driver := range teststore.Drivers {
		b.Run(driver, func(b *testing.B) {
			le := newLogEnv(b, driver, logEnvOptions{})
			seedLogs(b, le, benchLogEntries)
			type pageRef struct{ vm, cursor string }
			var refs []pageRef
			for v := 0; v < 50; v++ {
				vmID := fmt.Sprintf("vm-%04d", (v*37)%benchLogVMs)
				q := storeLogQuery(vmID, "")
				for p := 0; p < 4; p++ {
					refs = append(refs, pageRef{vmID, q.Cursor})
					page, err := le.store.Logs().Query(context.Background(), q)
					if err != nil || len(page.Entries) != 100 {
						b.Fatalf("seeded page: %d entries, %v", len(page.Entries), err)
					}
					q.Cursor = page.NextCursor
				}
			}
			var api []time.Duration
			for i := 0; b.Loop(); i++ {
				ref := refs[i%len(refs)]
				req := le.authorize(httptest.NewRequest("GET", "/api/logs?limit=100&vm_id="+ref.vm+"&cursor="+ref.cursor, nil))
				rec := httptest.NewRecorder()
				t0 := time.Now()
				le.srv.ServeHTTP(rec, req)
				api = append(api, time.Since(t0))
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			var base []time.Duration
			for i := range max(len(api), minBaseline) {
				ref := refs[i%len(refs)]
				t0 := time.Now()
				page, err := le.store.Logs().Query(context.Background(), storeLogQuery(ref.vm, ref.cursor))
				base = append(base, time.Since(t0))
				if err != nil || len(page.Entries) != 100 {
					b.Fatalf("store query: %d entries, %v", len(page.Entries), err)
				}
			}
			slices.Sort(api)
			slices.Sort(base)
			b.ReportMetric(percentile(api, 50), "p50-ms")
			b.ReportMetric(percentile(api, 99), "p99-ms")
			b.ReportMetric(percentile(base, 50), "store-p50-ms")
			b.ReportMetric(percentile(base, 99), "store-p99-ms")
			b.ReportMetric(percentile(api, 99)/percentile(base, 99), "p99-x-store")
			exportAll(b, le)
		})
	}
}

// exportAll exports the 1,000,000 stored entries as CSV through the API on
// loopback HTTP, reading the reply as it comes, and reports how long it
// took, how big it was and how much the heap grew meanwhile (sampled every
// 5 ms): an export streamed a page at a time grows the heap by a small,
// fixed amount, one held in memory by about its size, which is the
// baseline (export-heap-x-size).
func exportAll(b *testing.B, le *logEnv) {
	b.Helper()
	srv := httptest.NewServer(le.srv)
	defer srv.Close()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	t0 := time.Now()
	resp, err := le.client().Get(srv.URL + "/api/logs/export?format=csv")
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(t0)
	close(stop)
	<-sampled
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("export: status %d, %d bytes, %v", resp.StatusCode, n, err)
	}
	grew := int64(peak.Load()) - int64(before.HeapInuse)
	b.Logf("csv export of %d entries: %d MiB in %s; heap grew by at most %.1f MiB", benchLogEntries, n>>20, took.Round(time.Millisecond), float64(grew)/(1<<20))
	b.ReportMetric(took.Seconds(), "export-1M-s")
	b.ReportMetric(float64(n)/(1<<20), "export-MiB")
	b.ReportMetric(float64(max(grew, 0))/(1<<20), "export-heap-MiB")
	b.ReportMetric(float64(max(grew, 0))/float64(n), "export-heap-x-size")
}

func storeLogQuery(vmID, cursor string) store.LogQuery {
	return store.LogQuery{LogFilter: store.LogFilter{VMID: vmID}, Limit: 100, Cursor: cursor}
}

// unlimitedUI is a UI rate limit no benchmark reaches.
var unlimitedUI = RateLimit{PerSecond: 1e9, Burst: 1 << 30}
