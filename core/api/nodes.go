package api

import (
	"fmt"
	"net/http"
	"strings"
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
	Nodes      []*nodeReply `json:"nodes"`
	NextCursor string       `json:"next_cursor"`
}

// listNodes: GET /api/nodes?limit=&cursor=, in name order, paged as
// GET /api/vms is.
func (s *Server) listNodes(c echo.Context) error {
	limit, err := intParam(c, "limit", controlplane.DefaultPageSize, 1, controlplane.MaxPageSize)
	if err != nil {
		return err
	}
	page, err := s.svc.NodesPage(c.Request().Context(), limit, strings.TrimSpace(c.QueryParam("cursor")))
	if err != nil {
		return err
	}
	out := nodesReply{Nodes: make([]*nodeReply, len(page.Nodes)), NextCursor: page.NextCursor}
	for i, n := range page.Nodes {
		out.Nodes[i] = toNodeReply(n)
	}
	return c.JSON(http.StatusOK, out)
}

// nodeRemovedReply is the reply of DELETE /api/nodes/{id}.
type nodeRemovedReply struct {
	Success bool       `json:"success"`
	Message string     `json:"message"`
	Node    *nodeReply `json:"node"`
}

// deleteNode: DELETE /api/nodes/{id or name}[?force=true], 200 with the
// node as it was; refused (409) while it holds VMs unless forced, and
// while it holds managed VMs even when forced. The node's certificates
// are revoked and its agent's session ended (controlplane.RemoveNode).
func (s *Server) deleteNode(c echo.Context) error {
	force, err := boolParam(c, "force")
	if err != nil {
		return err
	}
	n, err := s.svc.RemoveNode(c.Request().Context(), c.Param("id"), force)
	if err != nil {
		return err
	}
	setAuditNode(c, n.ID)
	return c.JSON(http.StatusOK, nodeRemovedReply{Success: true, Message: fmt.Sprintf("node %s removed", n.Name), Node: toNodeReply(n)})
}

// getNode: GET /api/nodes/{id or name}.
func (s *Server) getNode(c echo.Context) error {
	n, err := s.svc.Node(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toNodeReply(n))
}
