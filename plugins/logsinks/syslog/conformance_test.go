package syslog_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/plugins/logsinks/syslog"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/logsink/logsinktest"
)

// harness runs the suite against a fresh rsyslogd of the test's own over
// network. Its outage stops the daemon and its restore starts it again on
// the same ports and socket; over udp, where a sender cannot notice an
// outage, there is none. Over udp and unix an entry too large for one
// datagram must be refused.
func harness(t *testing.T, network string, sink func(t *testing.T, settings map[string]any) logsink.Sink) logsinktest.Harness {
	r := startRsyslogd(t)
	h := logsinktest.Harness{
		Sink:          func(t *testing.T) logsink.Sink { return sink(t, settingsFor(r, network)) },
		Delivered:     func(t *testing.T) []logsink.Entry { return r.entries(t) },
		TimePrecision: time.Microsecond,
	}
	if network != "udp" {
		h.Outage = func(t *testing.T) func() {
			r.stop(t)
			return func() { r.start(t) }
		}
	}
	switch network {
	case "udp":
		h.Reject = func(e *logsink.Entry) { e.Message = strings.Repeat("u", 70000) }
	case "unix":
		// More than the kernel's default socket send buffer (208 KiB).
		h.Reject = func(e *logsink.Entry) { e.Message = strings.Repeat("x", 300000) }
	}
	return h
}

func inProcess(t *testing.T, settings map[string]any) logsink.Sink { return configured(t, settings) }

func TestConformanceUDP(t *testing.T)  { logsinktest.Run(t, harness(t, "udp", inProcess)) }
func TestConformanceTCP(t *testing.T)  { logsinktest.Run(t, harness(t, "tcp", inProcess)) }
func TestConformanceUnix(t *testing.T) { logsinktest.Run(t, harness(t, "unix", inProcess)) }

// TestConformanceThroughPluginProcess runs the suite over tcp on the real
// plugin binary launched and supervised by the host.
func TestConformanceThroughPluginProcess(t *testing.T) {
	logsinktest.Run(t, harness(t, "tcp", func(t *testing.T, settings map[string]any) logsink.Sink {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := pluginhost.LaunchLogSink(ctx, pluginhost.Config{
			Name:     syslog.Name,
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
