package api

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quantixvm/quantix/internal/promreg"
)

// RouteUnmatched is the route label of a request that matched no route
// (answered 404, or 401 to a stranger): its raw path is never a label.
const RouteUnmatched = "unmatched"

// MethodOther is the method label of a request whose method the API does
// not serve on any route.
const MethodOther = "OTHER"

// RequestMetrics count the API's requests and time them, labelled by the
// route template (e.g. /api/vms/:id, never the path a client sent), the
// method and the status code sent: the label sets are bounded by the
// routes the server has and the codes it answers with.
type RequestMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewRequestMetrics makes the API's request metrics and registers them with
// reg; a nil reg keeps them unregistered.
func NewRequestMetrics(reg prometheus.Registerer) (*RequestMetrics, error) {
	m := &RequestMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quantix_api_requests_total",
			Help: "REST API requests answered, by method, route template (\"unmatched\" when none matched) and HTTP status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "quantix_api_request_duration_seconds",
			Help: "Time to answer a REST API request, by method and route template; for the streaming routes (events, logs/stream, logs/export) it is how long the stream stayed open.",
			// From a cached read to a graceful stop waiting on a guest.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 90},
		}, []string{"method", "route"}),
	}
	if reg == nil {
		return m, nil
	}
	if err := promreg.RegisterAll(reg, m.requests, m.duration); err != nil {
		return nil, fmt.Errorf("registering API request metrics: %w", err)
	}
	return m, nil
}

// routeObserver is what one route's requests are observed with, kept per
// route so that a request costs no label hashing. Its series are made on
// first use: a route never called has none.
type routeObserver struct {
	m             *RequestMetrics
	method, route string
	duration      atomic.Pointer[prometheus.Observer]
	// codes holds a prometheus.Counter per status code sent.
	codes sync.Map
}

// observe counts one answered request and its duration.
func (o *routeObserver) observe(code int, d time.Duration) {
	h := o.duration.Load()
	if h == nil {
		obs := o.m.duration.WithLabelValues(o.method, o.route)
		h = &obs
		o.duration.Store(h)
	}
	(*h).Observe(d.Seconds())
	c, ok := o.codes.Load(code)
	if !ok {
		c, _ = o.codes.LoadOrStore(code, o.m.requests.WithLabelValues(o.method, o.route, strconv.Itoa(code)))
	}
	c.(prometheus.Counter).Inc()
}

// metricsRoute finds a route's observer.
type metricsRoute struct{ method, path string }

// requestMetrics is the middleware observing every request: the
// route is echo's template of the route that matched. It runs outside
// every other middleware, so the code counted is the one sent (an error a
// handler returns is rendered by accessLog inside it) and the time
// includes authentication.
func (s *Server) requestMetrics(next echo.HandlerFunc) echo.HandlerFunc {
	// The observers are made once the routes are known (prepareMetrics);
	// the map is only read afterwards.
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		s.observeRequest(c, time.Since(start))
		return nil
	}
}

// observeRequest counts one answered request with its route's observer:
// that of the route that matched, else the unmatched one of its method.
func (s *Server) observeRequest(c echo.Context, d time.Duration) {
	method := c.Request().Method
	o, ok := s.observers[metricsRoute{method, c.Path()}]
	if !ok {
		o, ok = s.observers[metricsRoute{method, ""}]
		if !ok {
			o = s.observers[metricsRoute{MethodOther, ""}]
		}
	}
	o.observe(c.Response().Status, d)
}

func newRouteObserver(m *RequestMetrics, method, route string) *routeObserver {
	return &routeObserver{m: m, method: method, route: route}
}

// prepareMetrics makes an observer for every registered route, and one
// for unmatched requests of each method the API serves and of any other.
func (s *Server) prepareMetrics(m *RequestMetrics) {
	s.observers = map[metricsRoute]*routeObserver{}
	methods := map[string]bool{}
	for _, r := range s.echo.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		k := metricsRoute{r.Method, r.Path}
		if _, ok := s.observers[k]; !ok {
			s.observers[k] = newRouteObserver(m, r.Method, r.Path)
		}
		methods[r.Method] = true
	}
	for _, method := range []string{http.MethodOptions, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodPatch, http.MethodGet, http.MethodHead} {
		methods[method] = true
	}
	for method := range methods {
		s.observers[metricsRoute{method, ""}] = newRouteObserver(m, method, RouteUnmatched)
	}
	s.observers[metricsRoute{MethodOther, ""}] = newRouteObserver(m, MethodOther, RouteUnmatched)
}
