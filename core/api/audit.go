package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/auth"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// auditAppendWait bounds waiting for an audit entry to be durable; it runs
// even when the client has gone.
const auditAppendWait = 10 * time.Second

// auditVMKey is where a handler leaves the id of the VM it acted on, for
// its audit entry.
const auditVMKey = "audit_vm_id"

// setAuditVM records the VM a mutating call acted on.
func setAuditVM(c echo.Context, id string) {
	if id != "" {
		c.Set(auditVMKey, id)
	}
}

// auditLoginUserKey is where the login route leaves the user name tried,
// so that the audit entry of a failed login names it.
const auditLoginUserKey = "audit_login_user"

// auditNodeKey is where a handler leaves the id of the node it acted on.
const auditNodeKey = "audit_node_id"

// setAuditNode records the node a mutating call acted on.
func setAuditNode(c echo.Context, id string) {
	if id != "" {
		c.Set(auditNodeKey, id)
	}
}

// audited wraps a mutating route: once the handler has answered, an audit
// entry is appended to the log pipeline (route, VM, result, duration,
// caller; the principal: its user id as user_id, its credential id
// ("token:<id>", "session:<id>") as session_id, user name, role and token
// or session id in fields, never a secret; the client's correlation id as
// the correlation id, else the request id, which is in fields either way),
// and only when it is durable is the reply released to the client, so that
// a change the client saw acknowledged is audited even if the daemon dies
// right after.
func (s *Server) audited(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.logs == nil {
			return next(c)
		}
		res := c.Response()
		real := res.Writer
		buf := &heldResponse{header: real.Header()}
		res.Writer = buf
		start := time.Now()
		if err := s.runAudited(c, next); err != nil {
			c.Error(err)
		}
		took := time.Since(start)
		res.Writer = real
		e := s.auditEntry(c, res.Status, took)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), auditAppendWait)
		if err := s.logs.Append(ctx, []logsink.Entry{e}); err != nil {
			s.log.Error("an audit entry could not be spooled", "request_id", requestID(c), "route", c.Path(), "error", err)
		}
		cancel()
		buf.release(real)
		return nil
	}
}

// runAudited runs the handler, turning a panic into an error here (the
// reply is held, so the panic must not skip its release).
func (s *Server) runAudited(c echo.Context, next echo.HandlerFunc) error {
	return recoverPanics(s.log)(next)(c)
}

// auditEntry describes one mutating call.
func (s *Server) auditEntry(c echo.Context, status int, took time.Duration) logsink.Entry {
	req := c.Request()
	route := c.Path()
	vmID, _ := c.Get(auditVMKey).(string)
	nodeID, _ := c.Get(auditNodeKey).(string)
	target := cut(c.Param("id"))
	if target == "" {
		target = cut(c.Param("name"))
	}
	if target == "" {
		target = route
	}
	level := logsink.LevelInfo
	switch {
	case status >= 500:
		level = logsink.LevelError
	case status >= 400:
		level = logsink.LevelWarn
	}
	fields := map[string]any{
		"method":      req.Method,
		"route":       route,
		"path":        cut(req.URL.Path),
		"status":      status,
		"duration_ms": float64(took.Microseconds()) / 1000,
		"remote_addr": req.RemoteAddr,
		"request_id":  requestID(c),
	}
	if req.URL.RawQuery != "" {
		fields["query"] = cut(req.URL.RawQuery)
	}
	if u, _ := c.Get(auditLoginUserKey).(string); u != "" {
		fields["login_user"] = cut(u)
	}
	p, authenticated := principalOf(c)
	if authenticated {
		fields["user"], fields["role"], fields["via"] = p.User, string(p.Role), string(p.Via)
		switch p.Via {
		case auth.MethodToken:
			fields["token_id"] = p.TokenID
		case auth.MethodSession:
			fields["session_id"] = p.SessionID
		}
	}
	raw, _ := json.Marshal(fields)
	e := logsink.Entry{
		Level:         level,
		Source:        logsink.SourceAudit,
		Component:     auditComponent(route),
		Message:       fmt.Sprintf("%s %s answered %d %s in %s", req.Method, cut(req.URL.Path), status, http.StatusText(status), took.Round(time.Microsecond)),
		Fields:        raw,
		VMID:          vmID,
		NodeID:        nodeID,
		CorrelationID: correlationID(c),
		Action:        auditAction(req.Method, route),
		Target:        target,
	}
	if authenticated {
		e.UserID, e.SessionID = p.UserID, p.CredentialID()
	}
	return e
}

// auditAction names a mutating call after its route: POST /api/vms is
// vm.create, POST /api/vms/:id/start vm.start, PATCH /api/vms/:id
// vm.update, DELETE /api/vms/:id vm.delete.
func auditAction(method, route string) string {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(route, "/api"), "/"), "/")
	resource := strings.TrimSuffix(parts[0], "s")
	if last := parts[len(parts)-1]; len(parts) > 1 && !strings.HasPrefix(last, ":") {
		return resource + "." + last
	}
	switch method {
	case http.MethodPost:
		return resource + ".create"
	case http.MethodPatch, http.MethodPut:
		return resource + ".update"
	case http.MethodDelete:
		return resource + ".delete"
	}
	return resource + "." + strings.ToLower(method)
}

// auditComponent is the component of a route.
func auditComponent(route string) logsink.Component {
	switch {
	case strings.HasPrefix(route, "/api/vms"):
		return logsink.ComponentVM
	case strings.HasPrefix(route, "/api/nodes"):
		return logsink.ComponentNode
	case strings.HasPrefix(route, "/api/logs"):
		return logsink.ComponentLogs
	case strings.HasPrefix(route, "/api/auth"), strings.HasPrefix(route, "/api/users"), strings.HasPrefix(route, "/api/tokens"):
		return logsink.ComponentAuth
	}
	return logsink.ComponentSystem
}

// heldResponse holds a reply (status and body; headers go to the real
// writer's map) until release.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

func (h *heldResponse) Write(p []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.body.Write(p)
}

// release sends the held reply.
func (h *heldResponse) release(w http.ResponseWriter) {
	if h.status == 0 {
		return
	}
	w.WriteHeader(h.status)
	_, _ = w.Write(h.body.Bytes())
}
