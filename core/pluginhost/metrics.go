package pluginhost

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/quantixvm/quantix/internal/promreg"
)

// Metrics are the plugin host's Prometheus metrics: plugin process
// launches, exits and relaunches per plugin name and type, and the
// duration of every unary call to a backend plugin per operation. Labels
// are the configured plugin names and the RPC method names of the backend
// protocol: bounded by the configuration and the protocol.
type Metrics struct {
	launches   *prometheus.CounterVec
	exits      *prometheus.CounterVec
	relaunches *prometheus.CounterVec
	calls      *prometheus.HistogramVec
}

// NewMetrics makes the plugin host's metrics and registers them with reg;
// a nil reg keeps them unregistered. Give them to every plugin through
// Config.Metrics.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		launches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantix_plugin_launches_total",
			Help: "Plugin processes started (the first launch and every relaunch), by plugin name, type (backend, logsink) and result (ok, error).",
		}, []string{"plugin", "type", "result"}),
		exits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantix_plugin_exits_total",
			Help: "Plugin processes that exited without being asked to (a crash), by plugin name and type; each is relaunched.",
		}, []string{"plugin", "type"}),
		relaunches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantix_plugin_relaunches_total",
			Help: "Plugins relaunched and serving again after their process exited, by plugin name and type.",
		}, []string{"plugin", "type"}),
		calls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "quantix_backend_call_duration_seconds",
			Help: "Duration of unary calls to a backend plugin, by plugin name, operation (the RPC method, e.g. CreateVM) and result (ok, error); streams (WatchEvents, StreamLog) are not timed.",
			// From a cached state read to a graceful stop waiting on a guest.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"plugin", "operation", "result"}),
	}
	if reg == nil {
		return m, nil
	}
	if err := promreg.RegisterAll(reg, m.launches, m.exits, m.relaunches, m.calls); err != nil {
		return nil, fmt.Errorf("registering plugin host metrics: %w", err)
	}
	return m, nil
}

// started makes the series of a plugin known, so that they read 0 before
// anything happens to it.
func (m *Metrics) started(kind pluginKind, name string) {
	if m == nil {
		return
	}
	typ := string(kind.typ)
	m.launches.WithLabelValues(name, typ, "ok")
	m.launches.WithLabelValues(name, typ, "error")
	m.exits.WithLabelValues(name, typ)
	m.relaunches.WithLabelValues(name, typ)
}

// launched counts one launch of a plugin process.
func (m *Metrics) launched(kind pluginKind, name string, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.launches.WithLabelValues(name, string(kind.typ), result).Inc()
}

// exited counts a plugin process that exited on its own.
func (m *Metrics) exited(kind pluginKind, name string) {
	if m != nil {
		m.exits.WithLabelValues(name, string(kind.typ)).Inc()
	}
}

// relaunched counts a plugin serving again after its process exited.
func (m *Metrics) relaunched(kind pluginKind, name string) {
	if m != nil {
		m.relaunches.WithLabelValues(name, string(kind.typ)).Inc()
	}
}

// callTimer is the gRPC client interceptor timing the unary calls of the
// Quantix protocols to plugin name (go-plugin's own calls are left out).
func (m *Metrics) callTimer(name string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if !strings.HasPrefix(method, "/quantix.") {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		start := time.Now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		result := "ok"
		if err != nil {
			result = "error"
		}
		m.calls.WithLabelValues(name, method[strings.LastIndexByte(method, '/')+1:], result).Observe(time.Since(start).Seconds())
		return err
	}
}

// dialOptions are the gRPC dial options of a plugin process: the SDK's,
// with calls timed for a backend when metrics are kept.
func (m *Metrics) dialOptions(kind pluginKind, name string, base []grpc.DialOption) []grpc.DialOption {
	if m == nil || kind.typ != backendKind.typ {
		return base
	}
	return append(base, grpc.WithChainUnaryInterceptor(m.callTimer(name)))
}
