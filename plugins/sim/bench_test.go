package sim

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/backend/backendtest"
)

// benchVMs is the inventory of one simulated host in the scale tests.
const benchVMs = 250

// BenchmarkListVMs250 lists a host of 250 VMs three ways, interleaved in
// the same loop so that all see the same machine: the sim linked
// in-process (the baseline), served over an in-process gRPC connection,
// and as a plugin process launched by pluginhost.LaunchBackend (gRPC over a
// unix socket with mutual TLS). It reports each one's median and the
// ratios to the baseline.
func BenchmarkListVMs250(b *testing.B) {
	benchPair(b, func(ctx context.Context, be backend.Backend) error {
		vms, err := be.ListVMs(ctx)
		if err == nil && len(vms) != benchVMs {
			b.Fatalf("listed %d VMs, want %d", len(vms), benchVMs)
		}
		return err
	})
}

// BenchmarkGetVM is BenchmarkListVMs250 for one GetVM on the same host.
func BenchmarkGetVM(b *testing.B) {
	id := PopulatedID("bench", benchVMs/2)
	benchPair(b, func(ctx context.Context, be backend.Backend) error {
		_, err := be.GetVM(ctx, id)
		return err
	})
}

func benchPair(b *testing.B, call func(context.Context, backend.Backend) error) {
	cfg := Config{Hostname: "bench", VMs: VMsConfig{Count: benchVMs}}
	in := newSim(b, cfg)
	grpc := backendtest.Serve(b, in)
	settings := cfg.Settings()
	settings["log_dir"] = b.TempDir()
	plug := launch(b, pluginBinary(b), settings)
	sides := []backend.Backend{in, grpc, plug}
	ctx := context.Background()
	for range 5 {
		for _, s := range sides {
			if err := call(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
	}
	times := make([][]time.Duration, len(sides))
	for b.Loop() {
		for i, s := range sides {
			start := time.Now()
			if err := call(ctx, s); err != nil {
				b.Fatal(err)
			}
			times[i] = append(times[i], time.Since(start))
		}
	}
	p := make([]time.Duration, len(sides))
	for i := range sides {
		p[i] = p50(times[i])
	}
	b.ReportMetric(micros(p[0]), "inproc-p50-µs")
	b.ReportMetric(micros(p[1]), "grpc-p50-µs")
	b.ReportMetric(micros(p[2]), "plugin-p50-µs")
	b.ReportMetric(float64(p[1])/float64(p[0]), "grpc/inproc")
	b.ReportMetric(float64(p[2])/float64(p[0]), "plugin/inproc")
}

func p50(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
