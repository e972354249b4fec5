package api

import (
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/controlplane"
)

// Options configure a Server.
type Options struct {
	// Service answers the VM and node routes.
	Service *controlplane.Service
	// Logger receives the access log and errors; nil discards.
	Logger hclog.Logger
	// Version is what GET /api/health reports.
	Version string
	// KeepAlive is how often an idle GET /api/events stream gets a comment
	// line; zero is DefaultKeepAlive. The daemon ends open streams at
	// shutdown with Service.Broker().Close (http.Server.RegisterOnShutdown).
	KeepAlive time.Duration
}

// Server is the REST API as an http.Handler.
type Server struct {
	echo      *echo.Echo
	svc       *controlplane.Service
	log       hclog.Logger
	version   string
	keepAlive time.Duration
}

var _ http.Handler = (*Server)(nil)

// New returns the API serving opts.Service.
func New(opts Options) *Server {
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	s := &Server{echo: echo.New(), svc: opts.Service, log: logger.Named("api"), version: opts.Version, keepAlive: opts.KeepAlive}
	if s.keepAlive <= 0 {
		s.keepAlive = DefaultKeepAlive
	}
	e := s.echo
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(withRequestID, accessLog(s.log), recoverPanics(s.log))
	s.routes()
	return s
}

func (s *Server) routes() {
	g := s.echo.Group("/api")
	g.GET("/health", s.health)
	g.GET("/vms", s.listVMs)
	g.POST("/vms", s.createVM)
	g.GET("/vms/:id", s.getVM)
	g.PATCH("/vms/:id", s.patchVM)
	g.DELETE("/vms/:id", s.deleteVM)
	g.POST("/vms/:id/start", s.startVM)
	g.POST("/vms/:id/stop", s.stopVM)
	g.POST("/vms/:id/reboot", s.rebootVM)
	g.POST("/vms/:id/pause", s.pauseVM)
	g.POST("/vms/:id/resume", s.resumeVM)
	g.POST("/vms/:id/reset_state", s.resetState)
	g.POST("/vms/:id/adopt", s.adoptVM)
	g.GET("/vms/:id/logs", s.vmLogs)
	g.GET("/vms/:id/events", s.vmEvents)
	g.GET("/events", s.streamEvents)
	g.GET("/nodes", s.listNodes)
	g.GET("/nodes/:id", s.getNode)
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }
