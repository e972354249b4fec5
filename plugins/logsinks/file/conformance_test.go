package file_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/plugins/logsinks/file"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/logsink/logsinktest"
)

// conformanceSettings make the suite rotate the file many times while
// keeping every line.
func conformanceSettings(path string) map[string]any {
	return map[string]any{"path": path, "max_size": "64KiB", "max_files": 1000}
}

// harness reads the log at dir/quantix.log back. Its outage replaces the
// directory with a plain file, so the path cannot be opened, and puts the
// directory back on restore.
func harness(t *testing.T, sink func(t *testing.T, path string) logsink.Sink) logsinktest.Harness {
	dir := filepath.Join(t.TempDir(), "logs")
	path := filepath.Join(dir, "quantix.log")
	return logsinktest.Harness{
		Sink: func(t *testing.T) logsink.Sink { return sink(t, path) },
		Delivered: func(t *testing.T) []logsink.Entry {
			got, err := file.ReadEntries(path)
			if err != nil {
				t.Fatalf("reading the log back: %v", err)
			}
			return got
		},
		Outage: func(t *testing.T) func() {
			away := dir + ".away"
			if err := os.Rename(dir, away); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir, []byte("not a directory\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := os.Remove(dir); err != nil {
					t.Error(err)
				}
				if err := os.Rename(away, dir); err != nil {
					t.Error(err)
				}
			}
		},
	}
}

// TestConformance runs the suite on the sink served in-process over gRPC.
func TestConformance(t *testing.T) {
	logsinktest.Run(t, harness(t, func(t *testing.T, path string) logsink.Sink {
		return configured(t, conformanceSettings(path))
	}))
}

// launch starts the plugin binary under the host's supervision, closed when
// t ends.
func launch(t testing.TB, settings map[string]any) *pluginhost.SupervisedLogSink {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := pluginhost.LaunchLogSink(ctx, pluginhost.Config{
		Name:     file.Name,
		Path:     pluginBinary(t),
		Settings: settings,
		Logger:   hclog.NewNullLogger(),
	})
	if err != nil {
		t.Fatalf("LaunchLogSink: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("closing the plugin: %v", err)
		}
	})
	return s
}

// TestConformanceThroughPluginProcess runs the suite on the real plugin
// binary launched and supervised by the host, as the daemon runs it.
func TestConformanceThroughPluginProcess(t *testing.T) {
	logsinktest.Run(t, harness(t, func(t *testing.T, path string) logsink.Sink {
		return launch(t, conformanceSettings(path))
	}))
}
