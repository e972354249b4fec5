package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/vm"
)

// DefaultKeepAlive is how often an idle event stream gets a comment line,
// so that proxies and clients see it is alive.
const DefaultKeepAlive = 15 * time.Second

// streamVMEvent is the data of a "vm" event of GET /api/events.
type streamVMEvent struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// EventID is the id of the VM event in GET /api/vms/{id}/events; 0 for
	// the last event of a record that was removed.
	EventID  int64     `json:"event_id"`
	VMID     string    `json:"vm_id"`
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	OldState vm.State  `json:"old_state"`
	NewState vm.State  `json:"new_state"`
	Cause    vm.Cause  `json:"cause"`
	Message  string    `json:"message"`
}

// streamNodeEvent is the data of a "node" event of GET /api/events.
type streamNodeEvent struct {
	Kind           string     `json:"kind"`
	ID             string     `json:"id"`
	NodeID         string     `json:"node_id"`
	NodeName       string     `json:"node_name"`
	Time           time.Time  `json:"time"`
	Action         string     `json:"action"`
	OldState       node.State `json:"old_state"`
	NewState       node.State `json:"new_state"`
	BackendHealthy bool       `json:"backend_healthy"`
	Message        string     `json:"message"`
}

// streamGap is the data of a "gap" event of GET /api/events.
type streamGap struct {
	Kind        string `json:"kind"`
	Dropped     int    `json:"dropped"`
	ResumeSince string `json:"resume_since"`
	Message     string `json:"message"`
}

// sseFrame renders one stream event as a server-sent event. Gap markers
// carry no id, so that a client reconnecting after one resumes from the
// last event it really got.
func sseFrame(ev events.StreamEvent) ([]byte, error) {
	var data any
	id := ev.Pos.String()
	switch ev.Kind {
	case events.StreamVM:
		e := ev.VM
		data = streamVMEvent{Kind: ev.Kind, ID: id, EventID: e.ID, VMID: e.VMID, Time: e.Time, Action: e.Action,
			OldState: e.OldState, NewState: e.NewState, Cause: e.Cause, Message: e.Message}
	case events.StreamNode:
		n := ev.Node
		data = streamNodeEvent{Kind: ev.Kind, ID: id, NodeID: n.NodeID, NodeName: n.NodeName, Time: n.Time, Action: n.Action,
			OldState: n.OldState, NewState: n.NewState, BackendHealthy: n.Healthy, Message: n.Message}
	case events.StreamGap:
		data = streamGap{Kind: ev.Kind, Dropped: ev.Gap.Dropped, ResumeSince: ev.Gap.Resume.String(), Message: ev.Gap.Message}
		id = ""
	default:
		return nil, fmt.Errorf("unknown stream event kind %q", ev.Kind)
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encoding a stream event: %w", err)
	}
	var sb strings.Builder
	if id != "" {
		sb.WriteString("id: " + id + "\n")
	}
	sb.WriteString("event: " + ev.Kind + "\ndata: ")
	sb.Write(b)
	sb.WriteString("\n\n")
	return []byte(sb.String()), nil
}

// streamEvents: GET /api/events[?since=ID], server-sent events of VM and
// node changes. Last-Event-ID, which browsers send when they reconnect,
// wins over since.
//
// With latest=N it is not a stream but a JSON list: latestEvents.
func (s *Server) streamEvents(c echo.Context) error {
	if c.QueryParams().Has("latest") {
		return s.latestEvents(c)
	}
	for _, k := range latestFilters {
		if c.QueryParams().Has(k) {
			return badRequest("%s: filters the list of the latest events (latest=N); the event stream has no filters", k)
		}
	}
	since := strings.TrimSpace(c.Request().Header.Get("Last-Event-ID"))
	if since == "" {
		since = strings.TrimSpace(c.QueryParam("since"))
	}
	ctx := c.Request().Context()
	es, err := s.svc.Subscribe(ctx, since)
	if err != nil {
		return err
	}
	defer es.Close()
	w, ok := startStream(c)
	if !ok {
		return nil
	}
	for {
		nctx, cancel := context.WithTimeout(ctx, s.keepAlive)
		ev, err := es.Next(nctx)
		cancel()
		var frame []byte
		switch {
		case err == nil:
			if frame, err = sseFrame(ev); err != nil {
				s.log.Error("event stream", "request_id", requestID(c), "error", err)
				continue
			}
		case ctx.Err() != nil, errors.Is(err, events.ErrStreamClosed):
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			frame = []byte(": keep-alive\n\n")
		default:
			s.log.Error("event stream failed", "request_id", requestID(c), "error", err)
			return nil
		}
		if _, err := w.Write(frame); err != nil {
			return nil
		}
		w.Flush()
	}
}

// startStream starts the reply of a server-sent event stream: its headers
// and a first comment, flushed. ok is false when the client is gone
// already, or asked with HEAD: the headers are then all it gets.
func startStream(c echo.Context) (w *echo.Response, ok bool) {
	w = c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if isHead(c) {
		w.Flush()
		return w, false
	}
	if _, err := w.Write([]byte(": connected\n\n")); err != nil {
		return w, false
	}
	w.Flush()
	return w, true
}
