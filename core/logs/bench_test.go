package logs

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// gatedWriter holds every Write until open is closed.
type gatedWriter struct {
	w    logsink.Writer
	open chan struct{}
}

func (g *gatedWriter) Write(ctx context.Context, es []logsink.Entry) ([]logsink.Result, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.w.Write(ctx, es)
}

// benchEntries makes n entries of a typical size.
func benchEntries(n int) []logsink.Entry {
	out := make([]logsink.Entry, n)
	for i := range out {
		out[i] = logsink.Entry{Level: logsink.LevelInfo, Source: logsink.SourceUI, Component: logsink.ComponentVM,
			Message: fmt.Sprintf("Clicked start on web-%d", i), Action: "button.click", Target: "start-button",
			SessionID: "session-1", CorrelationID: fmt.Sprintf("corr-%d", i), UserID: "alice", UserAction: true,
			Fields: []byte(`{"vm":"web-1","page":"/vms"}`)}
	}
	return out
}

// BenchmarkFileSinkDelivery: entries per second the pipeline delivers from
// the spool to the real file sink plugin process (batches of 500, at least
// once, cursor acknowledged per batch), timed from the moment the sink
// opens until the spool is drained. The baseline is the plugin's Write
// called directly with the same batches, measured in the same run.
func BenchmarkFileSinkDelivery(b *testing.B) {
	const perOp = 10_000
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{b}})
	dir := b.TempDir()
	sink := launchFileSink(b, filepath.Join(dir, "pipeline.log"), logger)
	gate := &gatedWriter{w: sink, open: make(chan struct{})}
	p := openPipeline(b, b.TempDir(), Options{
		Sinks: []Sink{{Name: "file", Writer: gate}}, Logger: logger,
		Batch: BatchOptions{MaxEntries: 500, MaxWait: 50 * time.Millisecond},
	})
	total := 0
	for b.Loop() {
		es := benchEntries(perOp)
		for i := 0; i < perOp; i += 1000 {
			if err := p.Append(context.Background(), es[i:i+1000]); err != nil {
				b.Fatal(err)
			}
		}
		total += perOp
	}
	t0 := time.Now()
	close(gate.open)
	// Polled at most every wait.MaxInterval: a few percent of a drain
	// that takes seconds.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := wait.Poll(ctx, func() error {
		if lag := p.Stats().Lag[consumerOfSink("file")]; lag > 0 {
			return fmt.Errorf("%d entries not delivered", lag)
		}
		return nil
	}); err != nil {
		b.Fatalf("draining the spool into the file sink: %v", err)
	}
	rate := float64(total) / time.Since(t0).Seconds()

	direct := launchFileSink(b, filepath.Join(dir, "direct.log"), logger)
	es := benchEntries(max(total, 50_000))
	for i := range es {
		if err := Prepare(&es[i], time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	t0 = time.Now()
	for i := 0; i < len(es); i += 500 {
		res, err := direct.Write(context.Background(), es[i:min(i+500, len(es))])
		if err != nil || !res[0].Delivered() {
			b.Fatalf("direct write: %v %v", res, err)
		}
	}
	directRate := float64(len(es)) / time.Since(t0).Seconds()
	b.ReportMetric(rate, "entries/s")
	b.ReportMetric(directRate, "direct-entries/s")
	b.ReportMetric(rate/directRate, "x-direct")
}

// BenchmarkSpoolAppend: entries per second through Pipeline.Append in
// batches of 100 from 32 goroutines (group commit); the baseline is one
// goroutine appending the same batches, measured in the same run.
func BenchmarkSpoolAppend(b *testing.B) {
	p := openPipeline(b, b.TempDir(), Options{})
	batch := benchEntries(100)
	b.SetParallelism(16)
	t0 := time.Now()
	n := 0
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			es := append([]logsink.Entry(nil), batch...)
			if err := p.Append(context.Background(), es); err != nil {
				b.Error(err)
				return
			}
		}
	})
	n = b.N
	rate := float64(n*100) / time.Since(t0).Seconds()
	t0 = time.Now()
	single := max(n/10, 100)
	for range single {
		es := append([]logsink.Entry(nil), batch...)
		if err := p.Append(context.Background(), es); err != nil {
			b.Fatal(err)
		}
	}
	singleRate := float64(single*100) / time.Since(t0).Seconds()
	b.ReportMetric(rate, "entries/s")
	b.ReportMetric(singleRate, "one-goroutine-entries/s")
	b.ReportMetric(rate/singleRate, "x-one-goroutine")
}
