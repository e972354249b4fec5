package webhook_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/plugins/logsinks/webhook"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/logsink/logsinktest"
)

// harness runs the suite against a receiver of the test's own that checks
// every signature and takes bodies up to 1 MiB. Its outage answers 503 to
// every request, its refusal 400; an entry of 2 MiB is refused on its own
// once the sink has split its batch down to it.
func harness(t *testing.T, sink func(t *testing.T, settings map[string]any) logsink.Sink) logsinktest.Harness {
	r := newReceiver(t, "conformance-secret")
	r.maxBody = 1 << 20
	fault := func(status int) func(*testing.T) func() {
		return func(*testing.T) func() {
			r.setRespond(func(int, []byte) answer { return answer{status: status, body: http.StatusText(status)} })
			return func() { r.setRespond(nil) }
		}
	}
	return logsinktest.Harness{
		Sink:      func(t *testing.T) logsink.Sink { return sink(t, r.settings()) },
		Delivered: func(*testing.T) []logsink.Entry { return r.delivered() },
		Outage:    fault(http.StatusServiceUnavailable),
		Refusal:   fault(http.StatusBadRequest),
		Reject:    func(e *logsink.Entry) { e.Message = strings.Repeat("w", 2<<20) },
	}
}

// TestConformance runs the suite on the sink served in-process over gRPC.
func TestConformance(t *testing.T) {
	logsinktest.Run(t, harness(t, func(t *testing.T, settings map[string]any) logsink.Sink {
		return configured(t, settings)
	}))
}

// TestConformanceThroughPluginProcess runs the suite on the real plugin
// binary launched and supervised by the host: retryable and permanent
// results cross the plugin process boundary.
func TestConformanceThroughPluginProcess(t *testing.T) {
	logsinktest.Run(t, harness(t, func(t *testing.T, settings map[string]any) logsink.Sink {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := pluginhost.LaunchLogSink(ctx, pluginhost.Config{
			Name:     webhook.Name,
			Path:     pluginBinary(t),
			Settings: settings,
			Logger:   hclog.NewNullLogger(),
		})
		if err != nil {
			t.Fatalf("LaunchLogSink: %v", err)
		}
		t.Cleanup(func() { _ = s.Close(context.Background()) })
		return s
	}))
}
