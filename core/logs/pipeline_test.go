package logs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// fastBatch and fastRetry keep the tests quick.
var (
	fastBatch = BatchOptions{MaxEntries: 100, MaxWait: 20 * time.Millisecond}
	fastRetry = RetryOptions{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}
)

// openPipeline opens a pipeline on dir with opts (fast batching and
// retries unless set), closed when the test ends.
func openPipeline(t testing.TB, dir string, opts Options) *Pipeline {
	t.Helper()
	opts.Dir = dir
	if opts.Batch == (BatchOptions{}) {
		opts.Batch = fastBatch
	}
	if opts.Retry == (RetryOptions{}) {
		opts.Retry = fastRetry
	}
	if opts.Logger == nil {
		opts.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
	}
	if opts.Spool.CursorSyncInterval == 0 {
		opts.Spool.CursorSyncInterval = 20 * time.Millisecond
	}
	p, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}

// entries makes n valid entries whose messages are prefix-i; sources
// cycle through every source.
func entries(prefix string, n int) []logsink.Entry {
	out := make([]logsink.Entry, n)
	for i := range out {
		out[i] = logsink.Entry{
			Level: logsink.LevelInfo, Source: logsink.Sources[i%len(logsink.Sources)], Component: logsink.ComponentVM,
			Message: fmt.Sprintf("%s-%04d", prefix, i), VMID: fmt.Sprintf("vm-%d", i%3),
		}
	}
	return out
}

func mustAppend(t testing.TB, p *Pipeline, es []logsink.Entry) {
	t.Helper()
	if err := p.Append(context.Background(), es); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func storeCount(t testing.TB, s store.Store) int {
	t.Helper()
	n, err := s.Logs().Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	code := m.Run()
	teststore.Cleanup()
	os.Exit(code)
}

func TestPipelineDeliversToStoreAndSinks(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			st := teststore.Open(t, driver)
			uiOnly, all := &fakeSink{}, &fakeSink{}
			reg := prometheus.NewRegistry()
			p := openPipeline(t, t.TempDir(), Options{
				Store: st.Logs(), Registerer: reg,
				Sinks: []Sink{
					{Name: "ui-only", Sources: []logsink.Source{logsink.SourceUI}, Writer: uiOnly},
					{Name: "all", Writer: all},
				},
			})
			es := entries("d", 400)
			mustAppend(t, p, es[:150])
			mustAppend(t, p, es[150:])
			for i := range es {
				if es[i].ID == "" || es[i].Timestamp.IsZero() {
					t.Fatalf("entry %d has no id or timestamp after Append", i)
				}
			}
			// A consumer counts a batch once its Write returned: the counts
			// follow the entries a moment later.
			counted := func(sink string, want float64) bool {
				n := 0.0
				for _, src := range logsink.Sources {
					n += testutil.ToFloat64(p.m.delivered.WithLabelValues(string(src), sink))
				}
				return n == want
			}
			wait.Until(t, settle, "delivery to the store and both sinks", func() bool {
				return storeCount(t, st) == 400 && all.count() == 400 && uiOnly.count() == 100 &&
					counted("store", 400) && counted("all", 400) && counted("ui-only", 100)
			})
			for _, m := range uiOnly.delivered() {
				var i int
				fmt.Sscanf(m, "d-%d", &i)
				if es[i].Source != logsink.SourceUI {
					t.Fatalf("the ui-only sink got %s from source %s", m, es[i].Source)
				}
			}
			if got := all.delivered(); !slices.IsSorted(got) {
				t.Error("a sink got entries out of order")
			}
			for _, src := range logsink.Sources {
				if v := testutil.ToFloat64(p.m.accepted.WithLabelValues(string(src))); v != 100 {
					t.Errorf("accepted{%s} = %v, want 100", src, v)
				}
				if v := testutil.ToFloat64(p.m.delivered.WithLabelValues(string(src), "all")); v != 100 {
					t.Errorf("delivered{%s, all} = %v, want 100", src, v)
				}
				if v := testutil.ToFloat64(p.m.delivered.WithLabelValues(string(src), "store")); v != 100 {
					t.Errorf("delivered{%s, store} = %v, want 100", src, v)
				}
			}
			if v := testutil.ToFloat64(p.m.delivered.WithLabelValues("audit", "ui-only")); v != 0 {
				t.Errorf("delivered{audit, ui-only} = %v, want 0", v)
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, mf := range mfs {
				names = append(names, mf.GetName())
			}
			for _, want := range []string{"quantix_logs_accepted_total", "quantix_logs_delivered_total", "quantix_logs_retried_total",
				"quantix_logs_dropped_total", "quantix_logs_spool_bytes", "quantix_logs_spool_lag_entries"} {
				if !slices.Contains(names, want) {
					t.Errorf("metric %s is not registered (have %v)", want, names)
				}
			}
		})
	}
}

// TestPipelineSinkDownDelaysNeverLoses: entries appended while a sink is
// down are retried with backoff and all arrive once it is back.
func TestPipelineSinkDownDelaysNeverLoses(t *testing.T) {
	sink := &fakeSink{down: true}
	p := openPipeline(t, t.TempDir(), Options{Sinks: []Sink{{Name: "flaky", Writer: sink}}})
	es := entries("down", 300)
	// The first batch makes the sink fail; the others are appended while
	// its deliveries are being retried.
	mustAppend(t, p, es[:30])
	wait.Until(t, settle, "retries while the sink is down", func() bool { return testutil.ToFloat64(p.m.retried.WithLabelValues("ui", "flaky")) > 0 })
	for i := 30; i < 300; i += 30 {
		mustAppend(t, p, es[i:i+30])
	}
	if sink.count() != 0 {
		t.Fatalf("a down sink got %d entries", sink.count())
	}
	sink.setDown(false)
	wait.Until(t, settle, "delivery once the sink is back", func() bool { return sink.count() >= 300 })
	got := sink.delivered()
	slices.Sort(got)
	got = slices.Compact(got)
	if len(got) != 300 {
		t.Fatalf("%d distinct entries delivered, want 300", len(got))
	}
	// The counts are made before the cursor moves: once the lag is 0
	// they are all there.
	wait.Until(t, settle, "the sink's lag to reach 0", func() bool { return p.Stats().Lag[consumerOfSink("flaky")] == 0 })
	var delivered float64
	for _, src := range logsink.Sources {
		delivered += testutil.ToFloat64(p.m.delivered.WithLabelValues(string(src), "flaky"))
	}
	if delivered != 300 {
		t.Errorf("delivered counters sum to %v, want 300", delivered)
	}
}

func TestPipelinePermanentResultsAreDropped(t *testing.T) {
	var logs logBuffer
	sink := &fakeSink{refuse: func(e *logsink.Entry) bool { return strings.HasSuffix(e.Message, "7") }}
	p := openPipeline(t, t.TempDir(), Options{Sinks: []Sink{{Name: "picky", Writer: sink}}, Logger: bufLogger(&logs)})
	mustAppend(t, p, entries("p", 100))
	wait.Until(t, settle, "the batch to be acknowledged", func() bool { return p.Stats().Lag[consumerOfSink("picky")] == 0 })
	if sink.count() != 90 {
		t.Fatalf("%d delivered, want 90", sink.count())
	}
	var dropped float64
	for _, src := range logsink.Sources {
		dropped += testutil.ToFloat64(p.m.dropped.WithLabelValues(string(src), "picky", DropPermanent))
	}
	if dropped != 10 {
		t.Errorf("dropped{permanent} sums to %v, want 10", dropped)
	}
	if !strings.Contains(logs.String(), "refused entries for good") {
		t.Errorf("dropping was not logged:\n%s", logs.String())
	}
	if sink.calls != 1 {
		t.Errorf("%d Write calls, want 1: permanent results are not retried", sink.calls)
	}
}

func TestPipelineBatchesBySizeAndTime(t *testing.T) {
	sink := &fakeSink{}
	p := openPipeline(t, t.TempDir(), Options{
		Sinks: []Sink{{Name: "b", Writer: sink}},
		Batch: BatchOptions{MaxEntries: 10, MaxWait: 150 * time.Millisecond},
	})
	mustAppend(t, p, entries("s", 25))
	wait.Until(t, settle, "25 entries", func() bool { return sink.count() == 25 })
	sink.mu.Lock()
	batches := slices.Clone(sink.batches)
	sink.mu.Unlock()
	if !slices.Equal(batches, []int{10, 10, 5}) {
		t.Fatalf("batches %v, want [10 10 5]", batches)
	}
	start := time.Now()
	mustAppend(t, p, entries("one", 1))
	wait.Until(t, settle, "the single entry", func() bool { return sink.count() == 26 })
	if took := time.Since(start); took < 120*time.Millisecond {
		t.Errorf("a lone entry was delivered after %s; a batch waits up to MaxWait (150ms) for more", took)
	}
}

// TestPipelineRestartRedelivers: what a sink did not get before the
// pipeline closed is delivered after it opens again.
func TestPipelineRestartRedelivers(t *testing.T) {
	dir := t.TempDir()
	down := &fakeSink{down: true}
	p := openPipeline(t, dir, Options{Sinks: []Sink{{Name: "s", Writer: down}}})
	mustAppend(t, p, entries("r", 50))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Append(context.Background(), entries("late", 1)); err == nil {
		t.Fatal("Append after Close: no error")
	}
	up := &fakeSink{}
	openPipeline(t, dir, Options{Sinks: []Sink{{Name: "s", Writer: up}}})
	wait.Until(t, settle, "redelivery after the restart", func() bool { return up.count() == 50 })
}

// TestPipelineSpoolBoundCounted: a retention bound that discards entries a
// sink never got counts them as dropped for that sink.
func TestPipelineSpoolBoundCounted(t *testing.T) {
	sink := &fakeSink{down: true}
	p := openPipeline(t, t.TempDir(), Options{
		Sinks: []Sink{{Name: "gone", Writer: sink}},
		Spool: SpoolOptions{SegmentBytes: 2048, MaxBytes: 8192},
	})
	for range 20 {
		mustAppend(t, p, entries("b", 20))
	}
	wait.Until(t, settle, "an eviction", func() bool { return testutil.ToFloat64(p.m.evictions.WithLabelValues(ReasonMaxBytes)) > 0 })
	defer sink.setDown(false)
	dropped := func() float64 {
		var n float64
		for _, src := range logsink.Sources {
			n += testutil.ToFloat64(p.m.dropped.WithLabelValues(string(src), "gone", DropSpoolMaxBytes))
		}
		return n
	}
	wait.Until(t, settle, "entries discarded by max_bytes counted as dropped for the sink", func() bool { return dropped() > 0 })
}

func TestPipelineRefusesInvalidEntries(t *testing.T) {
	sink := &fakeSink{}
	p := openPipeline(t, t.TempDir(), Options{Sinks: []Sink{{Name: "s", Writer: sink}}})
	es := entries("v", 3)
	es[1].Level = "loud"
	if err := p.Append(context.Background(), es); err == nil || !strings.Contains(err.Error(), "log entry 1") {
		t.Fatalf("Append with an invalid entry: %v", err)
	}
	if p.Stats().End != 0 {
		t.Fatal("an Append with an invalid entry wrote something")
	}
	for _, bad := range []Options{
		{Sinks: []Sink{{Name: "store", Writer: sink}}},
		{Sinks: []Sink{{Name: "a", Writer: sink}, {Name: "a", Writer: sink}}},
		{Sinks: []Sink{{Name: "a"}}},
		{Sinks: []Sink{{Name: "a", Writer: sink, Sources: []logsink.Source{"kernel"}}}},
	} {
		bad.Dir = t.TempDir()
		if _, err := Open(bad); err == nil {
			t.Errorf("Open(%+v): no error", bad.Sinks)
		}
	}
}

func TestSubscriptionFiltersAndGaps(t *testing.T) {
	p := openPipeline(t, t.TempDir(), Options{})
	sub := p.Subscribe(store.LogFilter{VMID: "vm-1", MinLevel: logsink.LevelInfo}, 5)
	defer sub.Close()
	mustAppend(t, p, entries("f", 9))
	got, dropped, err := sub.Next(context.Background())
	if err != nil || dropped != 0 || len(got) != 3 {
		t.Fatalf("Next: %d entries, %d dropped, %v; want 3, 0", len(got), dropped, err)
	}
	for _, e := range got {
		if e.VMID != "vm-1" {
			t.Fatalf("got an entry of %s", e.VMID)
		}
	}
	mustAppend(t, p, entries("g", 60))
	got, dropped, err = sub.Next(context.Background())
	if err != nil || len(got) != 5 || dropped != 15 {
		t.Fatalf("slow reader: %d entries, %d dropped, %v; want 5 then a gap of 15", len(got), dropped, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := sub.Next(ctx); err == nil {
		t.Fatal("Next with nothing appended returned")
	}
	done := make(chan error, 1)
	go func() { _, _, err := sub.Next(context.Background()); done <- err }()
	cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
	defer ccancel()
	_ = p.Close(cctx)
	select {
	case err := <-done:
		if err != ErrClosed {
			t.Fatalf("Next after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not end with the pipeline")
	}
}

func TestMatchText(t *testing.T) {
	e := logsink.Entry{Level: logsink.LevelWarn, Message: "VM Start failed", Action: "Button.Click", Target: "x"}
	for text, want := range map[string]bool{"start": true, "VM START": true, "button.c": true, "nope": false, "": true} {
		if got := Match(&store.LogFilter{Text: text}, &e); got != want {
			t.Errorf("text %q: %v, want %v", text, got, want)
		}
	}
	if Match(&store.LogFilter{MinLevel: logsink.LevelError}, &e) {
		t.Error("a warn entry passed min level error")
	}
}

// openTestStore opens a SQLite store for the test.
func openTestStore(t testing.TB) store.Store { return teststore.Open(t, "sqlite") }

// TestPipelineOpenFailureUnregisters: a pipeline that fails to open leaves
// nothing registered, so that opening it again with the same registry
// works, and its spool gauges are served.
func TestPipelineOpenFailureUnregisters(t *testing.T) {
	reg := prometheus.NewRegistry()
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: filepath.Join(notDir, "spool"), Registerer: reg}); err == nil {
		t.Fatal("a spool under a file opened")
	}
	p := openPipeline(t, t.TempDir(), Options{Registerer: reg})
	mustAppend(t, p, entries("m", 3))
	n, err := testutil.GatherAndCount(reg, "quantix_logs_accepted_total")
	if err != nil || n == 0 {
		t.Fatalf("metrics after a failed open and a good one: %d series, %v", n, err)
	}
}
