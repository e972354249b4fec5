package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/node"
)

// nodeReply is a node as the API shows it.
type nodeReply struct {
	ID             string        `json:"id"`
	Name           string        `json:"name"`
	State          node.State    `json:"state"`
	Address        string        `json:"address"`
	ClaimedAddress string        `json:"claimed_address"`
	Connected      bool          `json:"connected"`
	LastHeartbeat  *time.Time    `json:"last_heartbeat"`
	VMCount        int           `json:"vm_count"`
	Host           node.HostInfo `json:"host"`
	Backend        node.Backend  `json:"backend"`
	CreatedAt      time.Time     `json:"created_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
}

func toNodeReply(n *controlplane.NodeInfo) *nodeReply {
	return &nodeReply{
		ID: n.ID, Name: n.Name, State: n.State, Address: n.Address, ClaimedAddress: n.ClaimedAddress, Connected: n.Connected,
		LastHeartbeat: n.LastHeartbeat, VMCount: n.VMCount, Host: n.Host, Backend: n.Backend,
		CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt,
	}
}

// nodesReply is the reply of GET /api/nodes.
type nodesReply struct {
	Nodes []*nodeReply `json:"nodes"`
}

func (s *Server) listNodes(c echo.Context) error {
	list, err := s.svc.Nodes(c.Request().Context())
	if err != nil {
		return err
	}
	out := nodesReply{Nodes: make([]*nodeReply, len(list))}
	for i, n := range list {
		out.Nodes[i] = toNodeReply(n)
	}
	return c.JSON(http.StatusOK, out)
}

// getNode: GET /api/nodes/{id or name}.
func (s *Server) getNode(c echo.Context) error {
	n, err := s.svc.Node(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toNodeReply(n))
}
