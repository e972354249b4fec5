package pluginhost

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
)

// BenchmarkSupervisionOverhead measures what the supervised wrapper adds to
// a call on top of go-plugin's gRPC client: GetVM of one VM on the real
// plugin (test driver), once through SupervisedBackend and once through the
// plain client of the same process, interleaved so both see the same
// machine.
func BenchmarkSupervisionOverhead(b *testing.B) {
	sup := launch(b, testConfig(b))
	raw := sup.cur.backend
	ctx := context.Background()
	vm, err := sup.CreateVM(ctx, backend.VMSpec{Name: "pluginhost-bench", VCPUs: 1, MemoryMiB: 64})
	if err != nil {
		b.Fatal(err)
	}
	var direct, wrapped []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := raw.GetVM(ctx, vm.ID); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := sup.GetVM(ctx, vm.ID); err != nil {
			b.Fatal(err)
		}
		direct = append(direct, t1.Sub(t0))
		wrapped = append(wrapped, time.Since(t1))
	}
	b.StopTimer()
	d, w := p50(direct), p50(wrapped)
	b.ReportMetric(float64(d.Nanoseconds())/1e3, "grpc-p50-µs")
	b.ReportMetric(float64(w.Nanoseconds())/1e3, "supervised-p50-µs")
	b.ReportMetric(float64((w-d).Nanoseconds())/1e3, "added-p50-µs")
}

// p50 returns the median of ds.
func p50(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
