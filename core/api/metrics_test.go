package api

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/quantixvm/quantix/core/controlplane"
)

// newMetricsEnv is an env whose server observes its requests into a
// registry of its own, which GET /metrics serves.
func newMetricsEnv(t testing.TB, withBackend bool) (*env, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewRequestMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, "sqlite", withBackend, controlplane.ReconcilerOptions{}, 0, func(_ *env, o *Options) {
		o.RequestMetrics, o.Metrics = m, reg
	})
	return e, reg
}

func TestRequestMetricsByRouteTemplateAndCode(t *testing.T) {
	e, reg := newMetricsEnv(t, true)
	id := e.create(t, "metrics-a")
	e.do(t, "GET", "/api/vms/"+id, "").want(t, http.StatusOK, "")
	e.do(t, "GET", "/api/vms/"+id, "").want(t, http.StatusOK, "")
	e.do(t, "GET", "/api/vms/no-such-vm", "").want(t, http.StatusNotFound, "")
	e.do(t, "GET", "/api/no/such/route/"+id, "").want(t, http.StatusNotFound, "")
	e.doAs(t, cred{token: "qx_wrong"}, "GET", "/api/vms", nil).want(t, http.StatusUnauthorized, "")
	req := httptest.NewRequest("BREW", "/api/vms", nil)
	e.authorize(req)
	e.srv.ServeHTTP(httptest.NewRecorder(), req)

	requests := func(method, route, code string) float64 {
		return testutil.ToFloat64(e.srv.observers[metricsRoute{method, ""}].m.requests.WithLabelValues(method, route, code))
	}
	for _, c := range []struct {
		method, route, code string
		want                float64
	}{
		{"POST", "/api/vms", "201", 1},
		{"GET", "/api/vms/:id", "200", 2},
		{"GET", "/api/vms/:id", "404", 1},
		{"GET", RouteUnmatched, "404", 1},
		{"GET", "/api/vms", "401", 1},
		{MethodOther, RouteUnmatched, "405", 1},
	} {
		if got := requests(c.method, c.route, c.code); got != c.want {
			t.Errorf("quantix_api_requests_total{method=%q,route=%q,code=%q} = %v, want %v", c.method, c.route, c.code, got, c.want)
		}
	}
	// No label holds a raw path or an id.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var histCount uint64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), id) || strings.Contains(l.GetValue(), "no-such") || strings.Contains(l.GetValue(), "BREW") {
					t.Errorf("%s has label %s=%q: a raw path, id or method", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
			if mf.GetName() == "quantix_api_request_duration_seconds" && labelIs(m, "route", "/api/vms/:id") {
				histCount += m.GetHistogram().GetSampleCount()
			}
		}
	}
	if histCount != 3 {
		t.Errorf("quantix_api_request_duration_seconds{route=/api/vms/:id} counted %d requests, want 3", histCount)
	}
	// GET /metrics serves them, to a reader.
	body := e.raw(t, "GET", "/metrics")
	if !strings.Contains(body, `quantix_api_requests_total{code="201",method="POST",route="/api/vms"} 1`) {
		t.Errorf("GET /metrics lacks the create's counter:\n%s", body)
	}
}

func labelIs(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// TestRequestMetricsSeriesMadeOnUse: a route never called has no series,
// so that /metrics does not list every route times every code.
func TestRequestMetricsSeriesMadeOnUse(t *testing.T) {
	e, reg := newMetricsEnv(t, false)
	e.do(t, "GET", "/api/health", "").want(t, http.StatusOK, "")
	n, err := testutil.GatherAndCount(reg, "quantix_api_requests_total", "quantix_api_request_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d series after one request, want 2 (its counter and its histogram)", n)
	}
}

func TestRequestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewRequestMetrics(reg); err != nil {
		t.Fatal(err)
	}
	_, err := NewRequestMetrics(reg)
	if err == nil || !strings.Contains(err.Error(), "registering API request metrics") {
		t.Fatalf("registering twice: %v, want an error saying what was registered", err)
	}
}

// BenchmarkRequestMetricsOverhead: what the request metrics add to an
// authenticated request, served by two servers in one process on one
// service, with and without the metrics, interleaved: the cheapest request,
// GET /api/logs/components (a constant reply), and a VM read, GET
// /api/vms/:id on SQLite. p50-x-off is the ratio of their medians,
// added-p50-ns the difference.
func BenchmarkRequestMetricsOverhead(b *testing.B) {
	e := newEnv(b, "sqlite", false)
	seedVMs(b, e.store, 1)
	m, err := NewRequestMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	on := New(Options{Service: e.svc, Auth: e.auth, Version: "quantixd bench", RequestMetrics: m})
	for _, c := range []struct{ name, path string }{
		{"components", "/api/logs/components"},
		{"vm", "/api/vms/00000000-0000-4000-8000-000000000000"},
	} {
		b.Run(c.name, func(b *testing.B) {
			timeRequest(b, e.srv, "GET", c.path, e.adminCred())
			timeRequest(b, on, "GET", c.path, e.adminCred())
			var with, without []time.Duration
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					with = append(with, timeRequest(b, on, "GET", c.path, e.adminCred()))
					without = append(without, timeRequest(b, e.srv, "GET", c.path, e.adminCred()))
				} else {
					without = append(without, timeRequest(b, e.srv, "GET", c.path, e.adminCred()))
					with = append(with, timeRequest(b, on, "GET", c.path, e.adminCred()))
				}
			}
			slices.Sort(with)
			slices.Sort(without)
			ns := func(d []time.Duration, p float64) float64 { return percentile(d, p) * 1e6 }
			b.ReportMetric(ns(with, 50), "metrics-p50-ns")
			b.ReportMetric(ns(without, 50), "off-p50-ns")
			b.ReportMetric(ns(with, 50)-ns(without, 50), "added-p50-ns")
			b.ReportMetric(ns(with, 50)/ns(without, 50), "p50-x-off")
			b.ReportMetric(ns(with, 99)/ns(without, 99), "p99-x-off")
		})
	}
}

// BenchmarkRequestMetricsMiddleware: the middleware alone around a
// handler that does nothing, per request.
func BenchmarkRequestMetricsMiddleware(b *testing.B) {
	m, err := NewRequestMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	e := newEnv(b, "sqlite", false)
	s := New(Options{Service: e.svc, Auth: e.auth, RequestMetrics: m})
	h := s.requestMetrics(func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	req := httptest.NewRequest("GET", "/api/vms/x", nil)
	rec := httptest.NewRecorder()
	c := s.echo.NewContext(req, rec)
	c.SetPath("/api/vms/:id")
	for b.Loop() {
		c.Response().Committed = false
		if err := h(c); err != nil {
			b.Fatal(err)
		}
	}
}
