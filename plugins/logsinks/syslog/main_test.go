package syslog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/plugins/logsinks/syslog"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// binaryName is the plugin binary the process tests run.
var binaryName = plugin.BinaryName(plugin.TypeLogSink, syslog.Name)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// pluginBinary returns quantix-logsink-syslog from $QUANTIX_BIN_DIR/plugins
// when `make test` built it there, and otherwise builds it once.
func pluginBinary(t testing.TB) string {
	t.Helper()
	return testbin.Plugin(t, binaryName)
}

// configured returns a syslog sink configured with cfg, closed when t ends.
func configured(t testing.TB, cfg map[string]any) *syslog.Sink {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := syslog.New()
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

// settingsFor is the config block sending to r over network.
func settingsFor(r *rsyslogd, network string) map[string]any {
	addr := map[string]string{"udp": r.udp, "tcp": r.tcp, "unix": r.sock}[network]
	return map[string]any{"network": network, "address": addr, "hostname": "qx-test-host", "timeout": "3s"}
}

// entry returns an ordinary entry with id.
func entry(id string) logsink.Entry {
	return logsink.Entry{
		ID:        id,
		Timestamp: time.Date(2026, 1, 18, 10, 0, 0, 123456789, time.UTC),
		Level:     logsink.LevelInfo,
		Source:    logsink.SourceAudit,
		Component: logsink.ComponentVM,
		Message:   "vm started",
		VMID:      "6809e7d9-0c5b-4d6f-9a4e-2f0e1c3b5a7d",
	}
}

// await waits until every id shows up at r and returns the records by id.
func await(t testing.TB, r *rsyslogd, ids ...string) map[string]record {
	t.Helper()
	var got map[string]record
	wait.UntilNil(t, 10*time.Second, fmt.Sprintf("%d entries to reach rsyslogd", len(ids)), func() error {
		got = recordsByID(t, r.read(t))
		missing := 0
		for _, id := range ids {
			if _, ok := got[id]; !ok {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of them are missing", missing)
		}
		return nil
	})
	return got
}
