package sim

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/pluginhost"
)

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPluginProcessLogsLatencyAsDuration: the plugin binary, launched by
// the plugin host as the agent launches it, logs its configured latency as
// a duration in the host's log ("latency=2ms"), not as the number of
// nanoseconds its JSON log line carried.
func TestPluginProcessLogsLatencyAsDuration(t *testing.T) {
	var out syncBuffer
	host := hclog.New(&hclog.LoggerOptions{Name: "quantixd", Level: hclog.Info, Output: &out})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := pluginhost.LaunchBackend(ctx, pluginhost.Config{
		Name: Name, Path: pluginBinary(t), Logger: host,
		Settings: map[string]any{"hostname": "slow-1", "log_dir": t.TempDir(), "latency": "2ms"},
	})
	if err != nil {
		t.Fatalf("LaunchBackend: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("closing the plugin: %v", err)
	}
	var line string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "configured") && strings.Contains(l, "hostname=slow-1") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("the plugin's \"configured\" line is not in the host's log:\n%s", out.String())
	}
	if !strings.Contains(line, "latency=2ms") {
		t.Errorf("the plugin logged its latency as %q, want latency=2ms", line)
	}
}
