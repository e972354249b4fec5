package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/events"
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

// latestEventsReply is the reply of GET /api/events?latest=N.
type latestEventsReply struct {
	// Events are newest first, in the form of the stream's "vm" events.
	Events []streamVMEvent `json:"events"`
	// ResumeSince is where GET /api/events?since= carries on after them.
	ResumeSince string `json:"resume_since"`
	// NextBefore pages back: before=<it> gives the older events; "" at
	// the start of the history.
	NextBefore string `json:"next_before"`
}

// latestFilters are the query parameters of GET /api/events?latest=N
// besides latest.
var latestFilters = []string{"vm_id", "node_id", "action", "cause", "before", "kind"}

// latestEvents: GET /api/events?latest=N[&vm_id=&node_id=&action=&cause=
// &before=], the newest N stored VM events (1..1000) that match, newest
// first, and the stream position to follow them from.
//
// With kind=node it lists the stored node events instead (latestNodeEvents);
// kind=vm, the default, the VM events.
func (s *Server) latestEvents(c echo.Context) error {
	n, err := intParam(c, "latest", controlplane.DefaultEventPage, 1, controlplane.MaxEventPage)
	if err != nil {
		return err
	}
	switch kind := strings.TrimSpace(c.QueryParam("kind")); kind {
	case "", events.StreamVM:
	case events.StreamNode:
		for _, k := range []string{"vm_id", "action", "cause"} {
			if c.QueryParams().Has(k) {
				return badRequest("%s: filters VM events; kind=node lists node events, filtered by node_id only", k)
			}
		}
		return s.latestNodeEvents(c, strings.TrimSpace(c.QueryParam("node_id")), "node_id", n)
	default:
		return badRequest("kind: %q is not %s or %s", cut(kind), events.StreamVM, events.StreamNode)
	}
	q := controlplane.LatestQuery{
		VM:     strings.TrimSpace(c.QueryParam("vm_id")),
		Node:   strings.TrimSpace(c.QueryParam("node_id")),
		Action: strings.TrimSpace(c.QueryParam("action")),
		Cause:  vm.Cause(strings.TrimSpace(c.QueryParam("cause"))),
		Before: strings.TrimSpace(c.QueryParam("before")),
		Limit:  n,
	}
	if len(q.Action) > 64 {
		return badRequest("action: %d bytes, at most 64", len(q.Action))
	}
	page, err := s.svc.LatestEvents(c.Request().Context(), q)
	if err != nil {
		return err
	}
	out := latestEventsReply{Events: make([]streamVMEvent, len(page.Events)), ResumeSince: page.ResumeSince, NextBefore: page.NextBefore}
	for i, e := range page.Events {
		out.Events[i] = streamVMEvent{Kind: events.StreamVM, ID: strconv.FormatInt(e.ID, 10), EventID: e.ID, VMID: e.VMID, Time: e.Time,
			Action: e.Action, OldState: e.OldState, NewState: e.NewState, Cause: e.Cause, Message: e.Message}
	}
	return c.JSON(http.StatusOK, out)
}

// adoptVM: POST /api/vms/{id}/adopt.
func (s *Server) adoptVM(c echo.Context) error {
	res, err := s.svc.Adopt(c.Request().Context(), c.Param("id"))
	return s.actionReply(c, res, err)
}

// storedNodeEvent is a stored node event in a list: the form of the
// stream's "node" events, with the stored event's id.
type storedNodeEvent struct {
	streamNodeEvent
	// EventID is the stored node event's id, what before= pages back from.
	EventID int64 `json:"event_id"`
}

// nodeEventsReply is the reply of GET /api/nodes/{id}/events and of
// GET /api/events?latest=N&kind=node.
type nodeEventsReply struct {
	// Events are newest first.
	Events []storedNodeEvent `json:"events"`
	// ResumeSince is where GET /api/events?since= carries on after them
	// (it may carry the newest of them again, with the same id).
	ResumeSince string `json:"resume_since"`
	// NextBefore pages back: before=<it> gives the older events; "" at
	// the start of the history.
	NextBefore string `json:"next_before"`
}

// nodeEvents: GET /api/nodes/{id}/events?latest=N&before=, the newest N
// stored events of one node (by id or name; a removed node's by its id).
func (s *Server) nodeEvents(c echo.Context) error {
	n, err := intParam(c, "latest", controlplane.DefaultEventPage, 1, controlplane.MaxEventPage)
	if err != nil {
		return err
	}
	return s.latestNodeEvents(c, c.Param("id"), "", n)
}

// latestNodeEvents replies with the newest n stored node events of ref
// (every node's when ref is ""), before= paging back. When param is set,
// ref came from that query parameter: an unknown node is a bad request
// naming it rather than not found.
func (s *Server) latestNodeEvents(c echo.Context, ref, param string, n int) error {
	page, err := s.svc.LatestNodeEvents(c.Request().Context(), controlplane.NodeEventQuery{
		Node: ref, Before: strings.TrimSpace(c.QueryParam("before")), Limit: n})
	if param != "" && controlplane.KindOf(err) == controlplane.KindNotFound {
		return badRequest("%s: node %q not found", param, cut(ref))
	}
	if err != nil {
		return err
	}
	out := nodeEventsReply{Events: make([]storedNodeEvent, len(page.Events)), ResumeSince: page.ResumeSince, NextBefore: page.NextBefore}
	for i, e := range page.Events {
		id := ""
		if e.StreamVMEvent > 0 || e.StreamSeq > 0 {
			id = events.Position{VMEvent: e.StreamVMEvent, Seq: e.StreamSeq}.String()
		}
		out.Events[i] = storedNodeEvent{EventID: e.ID, streamNodeEvent: streamNodeEvent{Kind: events.StreamNode, ID: id,
			NodeID: e.NodeID, NodeName: e.NodeName, Time: e.Time, Action: e.Action, OldState: e.OldState, NewState: e.NewState,
			BackendHealthy: e.Healthy, Message: e.Message}}
	}
	return c.JSON(http.StatusOK, out)
}
