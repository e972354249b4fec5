package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/controlplane"
)

// listVMs: GET /api/vms?state=&node_id=&origin=&label=k=v&limit=&cursor=;
// node_id is a node's id or name, and an unknown node is a 400.
func (s *Server) listVMs(c echo.Context) error {
	q, err := listQuery(c)
	if err != nil {
		return err
	}
	// node_id takes a node's id or name, as VM routes take a VM's.
	if q.NodeID != "" {
		n, err := s.svc.Node(c.Request().Context(), q.NodeID)
		if controlplane.KindOf(err) == controlplane.KindNotFound {
			return badRequest("node_id: node %q not found", q.NodeID)
		}
		if err != nil {
			return err
		}
		q.NodeID = n.ID
	}
	page, err := s.svc.List(c.Request().Context(), q)
	if err != nil {
		return err
	}
	out := listReply{VMs: make([]*vmReply, len(page.VMs)), NextCursor: page.NextCursor}
	for i, v := range page.VMs {
		out.VMs[i] = toVMReply(v)
	}
	return c.JSON(http.StatusOK, out)
}

// createVM: POST /api/vms, 201 with the VM.
func (s *Server) createVM(c echo.Context) error {
	var req createRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	v, err := s.svc.Create(c.Request().Context(), req.toService())
	if err != nil {
		return err
	}
	setAuditVM(c, v.ID)
	c.Response().Header().Set(echo.HeaderLocation, "/api/vms/"+v.ID)
	return c.JSON(http.StatusCreated, toVMReply(v))
}

// getVM: GET /api/vms/{id or name}.
func (s *Server) getVM(c echo.Context) error {
	v, err := s.svc.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toVMReply(v))
}

// patchVM: PATCH /api/vms/{id}.
func (s *Server) patchVM(c echo.Context) error {
	var req patchRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	v, err := s.svc.Patch(c.Request().Context(), c.Param("id"), req.toService())
	if err != nil {
		return err
	}
	setAuditVM(c, v.ID)
	return c.JSON(http.StatusOK, toVMReply(v))
}

// deleteVM: DELETE /api/vms/{id}?force=true, replying like an action.
func (s *Server) deleteVM(c echo.Context) error {
	force, err := boolParam(c, "force")
	if err != nil {
		return s.actionFailed(c, err)
	}
	res, err := s.svc.Delete(c.Request().Context(), c.Param("id"), force)
	return s.actionReply(c, res, err)
}
