package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/quantixvm/quantix/core/auth"
	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/enroll"
	"github.com/quantixvm/quantix/core/logs"
	"github.com/quantixvm/quantix/core/stats"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/ratelimit"
)

// Options configure a Server.
type Options struct {
	// Service answers the VM and node routes.
	Service *controlplane.Service
	// Auth authenticates every request but GET /api/health and POST
	// /api/auth/login and keeps users, tokens and sessions. Nil serves
	// nothing but GET /api/health: every other route answers 503, so that
	// a server wired without it never serves unauthenticated.
	Auth *auth.Service
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
	// UIRate limits POST /api/logs/ui per credential and per client address;
	// zero fields take their defaults (RateLimit).
	UIRate RateLimit
	// Metrics is served on GET /metrics in the Prometheus format; nil
	// leaves the route out.
	Metrics prometheus.Gatherer
	// RequestMetrics, when set, counts and times every request
	// (NewRequestMetrics); nil observes nothing.
	RequestMetrics *RequestMetrics
	// LogStreamBuffer is how many entries a GET /api/logs/stream client
	// may fall behind by before entries are dropped for it and a gap is
	// sent; zero is DefaultLogStreamBuffer.
	LogStreamBuffer int
	// Console, when set, is the web console (core/webui): served to anyone,
	// without credentials, for GET and HEAD of every path outside /api and
	// /metrics. A path under /api that is no route stays an unknown route
	// (401 to a stranger, else 404). Nil serves no console.
	Console http.Handler
	// Stats answers GET /api/vms/{id}/stats, /api/nodes/{id}/stats and
	// /api/stats/top from the statistics this server holds; nil answers
	// them 503. StatsHistory is the history every server shares.
	Stats        *stats.Collector
	StatsHistory store.StatsRepo
	// Cluster is this server's membership: GET /api/cluster reads it, and
	// while it is not Healthy writes answer 503. Nil: GET /api/cluster
	// answers 501 and writes are not held back.
	Cluster Cluster

	// withoutAuth builds the server with no authentication at all, for the
	// benchmarks that measure what authentication costs; only this
	// package's tests can set it.
	withoutAuth bool
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
	console   http.Handler
	streamBuf int
	auth      *auth.Service
	cluster   Cluster
	// stats and statsHistory answer the stats routes (stats.go).
	stats        *stats.Collector
	statsHistory store.StatsRepo
	// access is the access each route declares (add), by method and path;
	// registered is every route echo has (noteRegistered).
	access     map[string]access
	registered map[string]bool
	// consoles are the open consoles (console.go).
	consoles consoleSessions
	// observers observe each route's requests (metrics.go); nil without
	// Options.RequestMetrics.
	observers map[metricsRoute]*routeObserver
}

var _ http.Handler = (*Server)(nil)

// New returns the API serving opts.Service.
func New(opts Options) *Server {
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	s := &Server{echo: echo.New(), svc: opts.Service, log: logger.Named("api"), version: opts.Version, keepAlive: opts.KeepAlive,
		logs: opts.Logs, logStore: opts.LogStore, uiLimit: newLimiter(opts.UIRate), metrics: opts.Metrics, console: opts.Console, streamBuf: opts.LogStreamBuffer,
		auth: opts.Auth, cluster: opts.Cluster, access: map[string]access{},
		stats: opts.Stats, statsHistory: opts.StatsHistory}
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
	if opts.RequestMetrics != nil {
		e.Use(s.requestMetrics)
	}
	e.Use(withRequestID, accessLog(s.log), recoverPanics(s.log))
	if s.cluster != nil {
		e.Use(s.requireDatabase)
	}
	if !opts.withoutAuth {
		e.Use(s.authenticate)
		if s.auth == nil {
			s.log.Error("the API has no authentication configured (api.Options.Auth): every route but GET /api/health answers 503")
		}
	}
	s.routes()
	s.noteRegistered()
	if opts.RequestMetrics != nil {
		s.prepareMetrics(opts.RequestMetrics)
	}
	return s
}

// routes registers every route with the access it needs (access.go).
// Users and tokens are administered, reads of them included.
// Mutating routes are audited (audited); POST /api/logs/ui is not: what it
// takes is a log itself. Every GET route answers HEAD as well (get).
func (s *Server) routes() {
	g := s.echo.Group("/api")
	s.get(g, "/health", public, s.health)
	s.add(g, http.MethodPost, "/auth/login", public, s.login, s.audited)
	s.add(g, http.MethodPost, "/auth/logout", read, s.logout, s.audited)
	s.get(g, "/auth/whoami", read, s.whoami)
	s.get(g, "/users", administer, s.listUsers)
	s.add(g, http.MethodPost, "/users", administer, s.createUser, s.audited)
	s.get(g, "/users/:name", administer, s.getUser)
	s.add(g, http.MethodPatch, "/users/:name", administer, s.patchUser, s.audited)
	s.add(g, http.MethodDelete, "/users/:name", administer, s.deleteUser, s.audited)
	s.get(g, "/tokens", administer, s.listTokens)
	s.add(g, http.MethodPost, "/tokens", administer, s.createToken, s.audited)
	s.add(g, http.MethodPatch, "/tokens/:id", administer, s.patchToken, s.audited)
	s.add(g, http.MethodDelete, "/tokens/:id", administer, s.deleteToken, s.audited)
	s.get(g, "/vms", read, s.listVMs)
	s.add(g, http.MethodPost, "/vms", operate, s.createVM, s.audited)
	s.get(g, "/vms/:id", read, s.getVM)
	s.add(g, http.MethodPatch, "/vms/:id", operate, s.patchVM, s.audited)
	s.add(g, http.MethodDelete, "/vms/:id", operate, s.deleteVM, s.audited)
	for _, action := range []struct {
		name string
		h    echo.HandlerFunc
	}{{"start", s.startVM}, {"stop", s.stopVM}, {"reboot", s.rebootVM}, {"pause", s.pauseVM}, {"resume", s.resumeVM},
		{"reset_state", s.resetState}, {"adopt", s.adoptVM}} {
		s.add(g, http.MethodPost, "/vms/:id/"+action.name, operate, action.h, s.audited)
	}
	s.get(g, "/vms/:id/logs", read, s.vmLogs)
	// The console is a WebSocket: GET only, audited by the handler itself
	// (open, close, take-over), since a hijacked reply cannot be held.
	s.add(g, http.MethodGet, "/vms/:id/console", operateStream, s.vmConsole)
	s.get(g, "/vms/:id/events", readStream, s.vmEvents)
	s.get(g, "/vms/:id/stats", read, s.vmStats)
	s.get(g, "/stats/top", read, s.topVMs)
	s.get(g, "/events", readStream, s.streamEvents)
	s.get(g, "/nodes", read, s.listNodes)
	s.get(g, "/nodes/:id", read, s.getNode)
	s.get(g, "/nodes/:id/stats", read, s.nodeStats)
	s.get(g, "/nodes/:id/events", read, s.nodeEvents)
	s.add(g, http.MethodDelete, "/nodes/:id", administer, s.deleteNode, s.audited)
	s.get(g, "/logs", read, s.queryLogs)
	s.add(g, http.MethodPost, "/logs/ui", operate, s.ingestUILogs)
	s.get(g, "/logs/sources", read, s.logSources)
	s.get(g, "/logs/components", read, s.logComponents)
	s.get(g, "/logs/export", readStream, s.exportLogs)
	s.get(g, "/logs/stream", readStream, s.streamLogs)
	s.get(g, "/cluster", read, s.clusterStatus)
	if s.metrics != nil {
		s.get(s.echo.Group(""), "/metrics", read, echo.WrapHandler(promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{ErrorLog: metricsLog{s.log}})))
	}
	s.joinTokenRoutes(g)
	if s.console != nil {
		root := s.echo.Group("")
		h := echo.WrapHandler(s.console)
		s.get(root, "/", console, h)
		s.get(root, "/*", console, h)
	}
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
