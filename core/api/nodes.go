package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/node"
)

// nodesReply is the reply of GET /api/nodes.
type nodesReply struct {
	Nodes []*node.Node `json:"nodes"`
}

func (s *Server) listNodes(c echo.Context) error {
	list, err := s.svc.Nodes(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, nodesReply{Nodes: list})
}

// getNode: GET /api/nodes/{id or name}.
func (s *Server) getNode(c echo.Context) error {
	n, err := s.svc.Node(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, n)
}
