package file_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/plugins/logsinks/file"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// binaryName is the plugin binary the process tests run.
var binaryName = plugin.BinaryName(plugin.TypeLogSink, file.Name)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// pluginBinary returns quantix-logsink-file from $QUANTIX_BIN_DIR/plugins
// when `make test` built it there, and otherwise builds it once.
func pluginBinary(t testing.TB) string {
	t.Helper()
	return testbin.Plugin(t, binaryName)
}

// configured returns a file sink configured with cfg, closed when t ends.
func configured(t testing.TB, cfg map[string]any) *file.Sink {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := file.New()
	if err := s.Configure(context.Background(), raw, logsink.APIVersion); err != nil {
		t.Fatalf("Configure(%s): %v", raw, err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// entries returns n entries with ids prefix-from … prefix-(from+n-1) and
// messages of about size bytes.
func entries(prefix string, from, n, size int) []logsink.Entry {
	out := make([]logsink.Entry, n)
	for i := range out {
		msg := fmt.Sprintf("entry %d ", from+i)
		for len(msg) < size {
			msg += "abcdefghij"
		}
		out[i] = logsink.Entry{
			ID:        fmt.Sprintf("%s-%d", prefix, from+i),
			Timestamp: time.Date(2026, 1, 18, 10, 0, 0, i, time.UTC),
			Level:     logsink.LevelInfo,
			Source:    logsink.SourceUI,
			Component: logsink.ComponentVM,
			Message:   msg[:size],
			Fields:    json.RawMessage(`{"button":"start"}`),
			VMID:      "6809e7d9-0c5b-4d6f-9a4e-2f0e1c3b5a7d",
		}
	}
	return out
}

// mustWrite writes batch and fails t unless every entry is delivered.
func mustWrite(t testing.TB, s logsink.Sink, batch []logsink.Entry) {
	t.Helper()
	results, err := s.Write(context.Background(), batch)
	if err != nil {
		t.Fatalf("Write of %d entries: %v", len(batch), err)
	}
	if len(results) != len(batch) {
		t.Fatalf("Write of %d entries answered %d results", len(batch), len(results))
	}
	for i, r := range results {
		if !r.Delivered() {
			t.Fatalf("entry %s: %s, want delivered", batch[i].ID, r)
		}
	}
}

// readAll reads the log at path back, failing t on a line that is not an
// entry.
func readAll(t testing.TB, path string) []logsink.Entry {
	t.Helper()
	got, err := file.ReadEntries(path)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// readOne reads one file of the log, failing t on a line that is not an
// entry.
func readOne(t testing.TB, name string) []logsink.Entry {
	t.Helper()
	got, err := file.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
