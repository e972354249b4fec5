package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/cluster"
)

// Cluster is what the API asks of this server's membership in the cluster
// (*cluster.Cluster).
type Cluster interface {
	// ID is this server's id.
	ID() string
	// Healthy is false while this server has lost its database: writes
	// answer 503.
	Healthy() bool
	// Status reads the servers, the leader and the nodes each holds.
	Status(ctx context.Context) (cluster.Status, error)
}

// errDatabaseLost answers writes while this server cannot reach its
// database.
var errDatabaseLost = &apiError{
	status: http.StatusServiceUnavailable, code: codeUnavailable, retryAfter: time.Second,
	message: "this server has lost its database and cannot make changes until it reaches it again; " +
		"send the request to another server of the cluster, or retry",
}

// requireDatabase answers every request under /api that is not a read
// (GET, HEAD, OPTIONS) with 503 while the cluster says this server has
// lost its database; reads still try.
func (s *Server) requireDatabase(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		switch req.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		if strings.HasPrefix(req.URL.Path, "/api/") && !s.cluster.Healthy() {
			setRetryAfter(c, errDatabaseLost.retryAfter)
			return errDatabaseLost
		}
		return next(c)
	}
}

// clusterReply is the reply of GET /api/cluster.
type clusterReply struct {
	// Server is the id of the server that answered.
	Server string `json:"server"`
	// Now is the database's clock when the status was read.
	Now     time.Time            `json:"now"`
	Servers []clusterServerReply `json:"servers"`
	// Leader is null while no server holds a live lease.
	Leader *clusterLeaderReply `json:"leader"`
	// Epoch is the lease's epoch as stored.
	Epoch int64 `json:"epoch"`
}

type clusterServerReply struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	APIAddr     string             `json:"api_addr"`
	RPCAddr     string             `json:"rpc_addr"`
	Version     string             `json:"version"`
	StartedAt   time.Time          `json:"started_at"`
	HeartbeatAt time.Time          `json:"heartbeat_at"`
	StoppedAt   *time.Time         `json:"stopped_at"`
	Alive       bool               `json:"alive"`
	Leader      bool               `json:"leader"`
	Nodes       []clusterNodeReply `json:"nodes"`
}

type clusterNodeReply struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type clusterLeaderReply struct {
	ServerID   string    `json:"server_id"`
	Name       string    `json:"name"`
	Epoch      int64     `json:"epoch"`
	AcquiredAt time.Time `json:"acquired_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// clusterStatus: GET /api/cluster, the servers sharing the database, the
// leader and its epoch, and the nodes whose agent each server holds.
func (s *Server) clusterStatus(c echo.Context) error {
	if s.cluster == nil {
		return &apiError{status: http.StatusNotImplemented, code: codeUnsupported,
			message: "this server runs without cluster membership (api.Options.Cluster is nil)"}
	}
	st, err := s.cluster.Status(c.Request().Context())
	if err != nil {
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, cause: err, retryAfter: time.Second,
			message: "reading the cluster's status from the database: " + err.Error()}
	}
	r := clusterReply{Server: s.cluster.ID(), Now: st.Now, Epoch: st.Epoch, Servers: make([]clusterServerReply, 0, len(st.Servers))}
	if l := st.Leader; l != nil {
		r.Leader = &clusterLeaderReply{ServerID: l.ServerID, Name: l.Name, Epoch: l.Epoch, AcquiredAt: l.AcquiredAt, ExpiresAt: l.ExpiresAt}
	}
	for _, sv := range st.Servers {
		nodes := make([]clusterNodeReply, len(sv.Nodes))
		for i, n := range sv.Nodes {
			nodes[i] = clusterNodeReply{ID: n.ID, Name: n.Name}
		}
		r.Servers = append(r.Servers, clusterServerReply{
			ID: sv.ID, Name: sv.Name, APIAddr: sv.APIAddr, RPCAddr: sv.RPCAddr, Version: sv.Version,
			StartedAt: sv.StartedAt, HeartbeatAt: sv.HeartbeatAt, StoppedAt: sv.StoppedAt,
			Alive: sv.Alive, Leader: sv.Leader, Nodes: nodes,
		})
	}
	return c.JSON(http.StatusOK, r)
}
