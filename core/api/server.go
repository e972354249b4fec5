package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/enroll"
	"github.com/quantixvm/quantix/core/logs"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/ratelimit"
)

// Options configure a Server.
type Options struct {
	// Service answers the VM and node routes.
	Service *controlplane.Service
	// Logger receives the access log and errors; nil discards.
	Logger hclog.Logger
	// Version is what GET /api/health reports.
	Version string
	// Enroll answers the join token routes; nil answers them 503.
	Enroll *enroll.Service
	// KeepAlive is how often an idle GET /api/events or /api/logs/stream
	// stream gets a comment line; zero is DefaultKeepAlive. The daemon ends
	// open streams at shutdown with Service.Broker().Close and
	// Logs.EndSubscriptions (http.Server.RegisterOnShutdown).
	KeepAlive time.Duration
	// Logs is the log pipeline: POST /api/logs/ui and the audit entries of
	// every mutating call go into it, GET /api/logs/stream follows it. Nil
	// answers those routes 503 and audits nothing.
	Logs *logs.Pipeline
	// LogStore answers GET /api/logs and its export; nil answers 503.
	LogStore store.LogRepo
	// UIRate limits POST /api/logs/ui per session and per client address;
	// zero fields take their defaults (RateLimit).
	UIRate RateLimit
	// Metrics is served on GET /metrics in the Prometheus format; nil
	// leaves the route out.
	Metrics prometheus.Gatherer
	// LogStreamBuffer is how many entries a GET /api/logs/stream client
	// may fall behind by before entries are dropped for it and a gap is
	// sent; zero is DefaultLogStreamBuffer.
	LogStreamBuffer int
}

// Server is the REST API as an http.Handler.
type Server struct {
	echo      *echo.Echo
	svc       *controlplane.Service
	log       hclog.Logger
	version   string
	enroll    *enroll.Service
	keepAlive time.Duration
	logs      *logs.Pipeline
	logStore  store.LogRepo
	uiLimit   *ratelimit.Limiter
	metrics   prometheus.Gatherer
	streamBuf int
}

var _ http.Handler = (*Server)(nil)

// New returns the API serving opts.Service.
func New(opts Options) *Server {
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	s := &Server{echo: echo.New(), svc: opts.Service, log: logger.Named("api"), version: opts.Version, keepAlive: opts.KeepAlive,
		logs: opts.Logs, logStore: opts.LogStore, uiLimit: newLimiter(opts.UIRate), metrics: opts.Metrics, streamBuf: opts.LogStreamBuffer}
	if s.streamBuf <= 0 {
		s.streamBuf = DefaultLogStreamBuffer
	}
	if s.keepAlive <= 0 {
		s.keepAlive = DefaultKeepAlive
	}
	s.enroll = opts.Enroll
	e := s.echo
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(withRequestID, accessLog(s.log), recoverPanics(s.log))
	s.routes()
	return s
}

// routes registers every route. Mutating routes are audited (audited);
// POST /api/logs/ui is not: what it takes is a log itself. Every GET route
// answers HEAD as well (get).
func (s *Server) routes() {
	g := s.echo.Group("/api")
	get(g, "/health", s.health)
	get(g, "/vms", s.listVMs)
	g.POST("/vms", s.createVM, s.audited)
	get(g, "/vms/:id", s.getVM)
	g.PATCH("/vms/:id", s.patchVM, s.audited)
	g.DELETE("/vms/:id", s.deleteVM, s.audited)
	g.POST("/vms/:id/start", s.startVM, s.audited)
	g.POST("/vms/:id/stop", s.stopVM, s.audited)
	g.POST("/vms/:id/reboot", s.rebootVM, s.audited)
	g.POST("/vms/:id/pause", s.pauseVM, s.audited)
	g.POST("/vms/:id/resume", s.resumeVM, s.audited)
	g.POST("/vms/:id/reset_state", s.resetState, s.audited)
	g.POST("/vms/:id/adopt", s.adoptVM, s.audited)
	get(g, "/vms/:id/logs", s.vmLogs)
	get(g, "/vms/:id/events", s.vmEvents)
	get(g, "/events", s.streamEvents)
	get(g, "/nodes", s.listNodes)
	get(g, "/nodes/:id", s.getNode)
	g.DELETE("/nodes/:id", s.deleteNode, s.audited)
	get(g, "/logs", s.queryLogs)
	g.POST("/logs/ui", s.ingestUILogs)
	get(g, "/logs/sources", s.logSources)
	get(g, "/logs/components", s.logComponents)
	get(g, "/logs/export", s.exportLogs)
	get(g, "/logs/stream", s.streamLogs)
	if s.metrics != nil {
		get(s.echo.Group(""), "/metrics", echo.WrapHandler(promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{ErrorLog: metricsLog{s.log}})))
	}
	s.joinTokenRoutes(g)
}

// get registers h for GET path and for HEAD path. A HEAD reply is the GET
// reply without its body: the same status and headers, the body left
// unwritten (headOnly); streams and exports end once their headers are
// sent (isHead).
func get(g *echo.Group, path string, h echo.HandlerFunc) {
	g.GET(path, h)
	g.HEAD(path, h, headOnly)
}

// headOnly drops what a handler writes as the body of a HEAD reply.
func headOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res := c.Response()
		res.Writer = headWriter{res.Writer}
		return next(c)
	}
}

// isHead tells a handler whose reply does not end by itself (a stream) or
// costs to make (an export) that only its headers are wanted.
func isHead(c echo.Context) bool { return c.Request().Method == http.MethodHead }

// headWriter is a ResponseWriter that takes no body.
type headWriter struct{ http.ResponseWriter }

func (w headWriter) Write(p []byte) (int, error) { return len(p), nil }

// Unwrap lets http.ResponseController reach the writer's Flush.
func (w headWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// metricsLog passes promhttp's errors to the API's log.
type metricsLog struct{ log hclog.Logger }

// Println logs one promhttp error.
func (l metricsLog) Println(v ...any) { l.log.Error("serving metrics", "error", fmt.Sprint(v...)) }

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }
