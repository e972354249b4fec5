package file_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// benchEntries returns n entries shaped like UI action entries, about 400
// bytes each as a JSON line.
func benchEntries(n int) []logsink.Entry {
	out := make([]logsink.Entry, n)
	now := time.Now()
	for i := range out {
		out[i] = logsink.Entry{
			ID:            fmt.Sprintf("0193c5d2-7f1a-7c3e-9d4b-%012d", i),
			Timestamp:     now.Add(time.Duration(i) * time.Microsecond),
			Level:         logsink.LevelInfo,
			Source:        logsink.SourceUI,
			Component:     logsink.ComponentVM,
			Message:       "User clicked Start on VM first-vm",
			Fields:        json.RawMessage(`{"page":"/vms/first-vm","button":"start","duration_ms":12}`),
			VMID:          "6809e7d9-0c5b-4d6f-9a4e-2f0e1c3b5a7d",
			NodeID:        "node-1",
			UserID:        "admin",
			SessionID:     "sess-4f1c2a9e",
			CorrelationID: "req-8c1d3e5f7a9b",
			Action:        "click",
			Target:        "button.start",
			UserAction:    true,
		}
	}
	return out
}

// BenchmarkWrite measures the entries per second the file sink writes in
// batches of 100 and 1000: linked in-process (Write called directly) and as
// the plugin process the host launches (gRPC over a unix socket with mutual
// TLS, through pluginhost.SupervisedLogSink). Both write to files in the
// same directory, interleaved batch by batch so that both see the same
// machine; plugin/inproc is the plugin's throughput as a fraction of the
// in-process one.
func BenchmarkWrite(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			settings := func(name string) map[string]any {
				return map[string]any{"path": filepath.Join(dir, name), "max_size": "64MiB", "max_files": 1}
			}
			sinks := []logsink.Sink{configured(b, settings("inproc.log")), launch(b, settings("plugin.log"))}
			batch := benchEntries(n)
			ctx := context.Background()
			write := func(s logsink.Sink) time.Duration {
				t0 := time.Now()
				results, err := s.Write(ctx, batch)
				d := time.Since(t0)
				if err != nil || len(results) != n || !results[n-1].Delivered() {
					b.Fatalf("Write of %d: %d results, %v", n, len(results), err)
				}
				return d
			}
			for range 3 {
				write(sinks[0])
				write(sinks[1])
			}
			var spent [2]time.Duration
			iterations := 0
			for b.Loop() {
				spent[0] += write(sinks[0])
				spent[1] += write(sinks[1])
				iterations++
			}
			written := float64(n * iterations)
			b.ReportMetric(written/spent[0].Seconds(), "inproc-entries/s")
			b.ReportMetric(written/spent[1].Seconds(), "plugin-entries/s")
			b.ReportMetric(spent[0].Seconds()/spent[1].Seconds(), "plugin/inproc")
		})
	}
}
