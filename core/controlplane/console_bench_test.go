package controlplane

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"
)

// BenchmarkConsoleRoundTrip measures a keystroke's echo through the
// control plane's console, the agent server, the agent and the sim
// plugin process (which echoes): one byte written, the same byte read
// back. It reports the p50 and p99 round trips.
func BenchmarkConsoleRoundTrip(b *testing.B) {
	e := newPluginEnv(b, "quantix-backend-sim", "./plugins/sim/cmd/quantix-backend-sim")
	e.runningVM(b, "bench")
	c, err := e.svc.OpenConsole(context.Background(), "bench", "bench", false)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	key, got := []byte{'k'}, make([]byte, 1)
	rtts := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := c.Write(key); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(rtts)
	b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "p99-µs")
}
