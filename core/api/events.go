package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/vm"
)

// eventReply is one entry of a VM's history.
type eventReply struct {
	ID       int64     `json:"id"`
	VMID     string    `json:"vm_id"`
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	OldState vm.State  `json:"old_state"`
	NewState vm.State  `json:"new_state"`
	Cause    vm.Cause  `json:"cause"`
	Message  string    `json:"message"`
}

func toEventReply(e *vm.Event) eventReply {
	return eventReply{ID: e.ID, VMID: e.VMID, Time: e.Time, Action: e.Action, OldState: e.OldState, NewState: e.NewState, Cause: e.Cause, Message: e.Message}
}

// eventsReply is the reply of GET /api/vms/{id}/events.
type eventsReply struct {
	VMID       string       `json:"vm_id"`
	Events     []eventReply `json:"events"`
	NextCursor string       `json:"next_cursor"`
}

// vmEvents: GET /api/vms/{id}/events?cursor=&limit=, oldest first.
func (s *Server) vmEvents(c echo.Context) error {
	limit, err := intParam(c, "limit", controlplane.DefaultEventPage, 1, controlplane.MaxEventPage)
	if err != nil {
		return err
	}
	page, err := s.svc.VMEvents(c.Request().Context(), c.Param("id"), strings.TrimSpace(c.QueryParam("cursor")), limit)
	if err != nil {
		return err
	}
	out := eventsReply{VMID: page.VM.ID, Events: make([]eventReply, len(page.Events)), NextCursor: page.NextCursor}
	for i, e := range page.Events {
		out.Events[i] = toEventReply(e)
	}
	return c.JSON(http.StatusOK, out)
}

// adoptVM: POST /api/vms/{id}/adopt.
func (s *Server) adoptVM(c echo.Context) error {
	res, err := s.svc.Adopt(c.Request().Context(), c.Param("id"))
	return s.actionReply(c, res, err)
}
