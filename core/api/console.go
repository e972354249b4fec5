package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// The close codes of GET /api/vms/{id}/console (docs/api.md). The standard
// ones: 1000 the client left, 1001 the server is shutting down, 1008 the
// caller's credential was revoked or expired, 1011 an internal fault. An
// open the control plane refused closes with 4000 + its HTTP status
// (CloseRefusedBase + 409: another user holds the console). A console that
// ended closes with one of the 41xx codes below. The reason always says
// why in words.
const (
	// CloseRefusedBase + an HTTP status: the console could not be opened
	// (4404 no such VM, 4409 not running or held by another user, 4501 the
	// backend has no console, 4503 the node is unavailable, 4502 the
	// backend failed, 4500 an internal fault).
	CloseRefusedBase = 4000
	// CloseVMStopped: the VM stopped (or left RUNNING).
	CloseVMStopped = 4100
	// CloseTakenOver: another user opened the console with force=true.
	CloseTakenOver = 4101
	// CloseNodeGone: the VM's node went away.
	CloseNodeGone = 4102
	// CloseTooSlow: the client did not take what the console sent within
	// ConsoleWriteTimeout.
	CloseTooSlow = 4103
	// CloseEnded: the node ended the console for another reason.
	CloseEnded = 4104
)

// Console timings.
const (
	// ConsoleWriteTimeout bounds one write to the client: a client that
	// takes longer to accept a frame is dropped (CloseTooSlow), so that it
	// holds neither the console nor the node's stream.
	ConsoleWriteTimeout = 10 * time.Second
	// ConsolePingInterval is how often the server pings an open console's
	// client; a client that does not answer within ConsolePingTimeout is
	// gone.
	ConsolePingInterval = 20 * time.Second
	ConsolePingTimeout  = 15 * time.Second
	// consoleReadLimit bounds one message from the client (keystrokes and
	// pastes).
	consoleReadLimit = 64 << 10
	// consoleChunk is the most read from the console per frame sent.
	consoleChunk = 32 << 10
)

// consoleSessions are the consoles this server's API has open: shutting
// down closes them all (CloseConsoles).
type consoleSessions struct {
	mu       sync.Mutex
	all      map[*consoleSession]struct{}
	shutdown bool
}

// consoleSession is one open console.
type consoleSession struct {
	vmID, vmName, who string
	since             time.Time
	// end, once closed, ends the session; endCode and endReason (under
	// consoleSessions.mu) are why, when the server decided it.
	end       chan struct{}
	endOnce   sync.Once
	endCode   websocket.StatusCode
	endReason string
}

// finish ends the session with code and reason unless it has ended.
func (cs *consoleSessions) finish(s *consoleSession, code websocket.StatusCode, reason string) {
	cs.mu.Lock()
	if s.endCode == 0 {
		s.endCode, s.endReason = code, reason
	}
	cs.mu.Unlock()
	s.endOnce.Do(func() { close(s.end) })
}

// CloseConsoles ends every open console with 1001 "the server is shutting
// down" and refuses new ones; the daemon calls it when it shuts down
// (http.Server.RegisterOnShutdown), since hijacked connections outlive
// Shutdown.
func (s *Server) CloseConsoles() {
	cs := &s.consoles
	cs.mu.Lock()
	cs.shutdown = true
	open := make([]*consoleSession, 0, len(cs.all))
	for sess := range cs.all {
		open = append(open, sess)
	}
	cs.mu.Unlock()
	for _, sess := range open {
		cs.finish(sess, websocket.StatusGoingAway, "the server is shutting down")
	}
}

// vmConsole: GET /api/vms/{id or name}/console?force=, upgraded to a
// WebSocket carrying the VM's serial console (docs/api.md). Binary frames
// carry raw bytes both ways (a text frame from the client is taken as its
// UTF-8 bytes). What is wrong with the request itself (no WebSocket
// handshake 426, a foreign Origin 403, a bad force 400) is answered before
// the upgrade; a console the control plane will not open is a close with
// CloseRefusedBase + its status, so that a browser, which cannot read a
// refused handshake's reply, learns why as well.
func (s *Server) vmConsole(c echo.Context) error {
	req := c.Request()
	start := time.Now()
	force, err := boolParam(c, "force")
	if err != nil {
		s.auditConsoleRefused(c, classify(c, err))
		return err
	}
	if !isWebSocketRequest(req) {
		err := &apiError{status: http.StatusUpgradeRequired, code: "upgrade_required",
			message: "GET /api/vms/{id}/console is a WebSocket: send the WebSocket handshake (Connection: Upgrade, Upgrade: websocket)"}
		s.auditConsoleRefused(c, err)
		return err
	}
	if err := checkOrigin(req); err != nil {
		s.auditConsoleRefused(c, classify(c, err))
		return err
	}
	who := consoleUser(c)
	ref := c.Param("id")
	ws, err := websocket.Accept(c.Response(), req, &websocket.AcceptOptions{
		// checkOrigin above has let through only the server's own origin
		// or none (a client that is not a browser).
		InsecureSkipVerify: true,
	})
	if err != nil {
		// Accept has answered the client.
		s.log.Debug("a console handshake failed", "request_id", requestID(c), "error", err)
		return nil
	}
	c.Response().Committed = true
	ws.SetReadLimit(consoleReadLimit)

	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()

	// Resolve the VM for its id (take-over, audit) and name (messages).
	v, _ := s.svc.Get(ctx, ref)
	vmID, vmName := ref, ref
	if v != nil {
		vmID, vmName = v.ID, v.Name
		setAuditVM(c, v.ID)
		setAuditNode(c, v.NodeID)
	}
	cs := &s.consoles
	cs.mu.Lock()
	if cs.shutdown {
		cs.mu.Unlock()
		_ = ws.Close(websocket.StatusGoingAway, "the server is shutting down")
		return nil
	}
	cs.mu.Unlock()

	// Who held the console before a forced open, for the take-over's
	// audit entry (the holder of a console open through this server).
	prev, held := s.svc.ConsoleHolderOf(vmID)
	con, err := s.svc.OpenConsole(ctx, ref, who, force)
	if err != nil {
		ae := classify(c, err)
		s.auditConsole(c, "open", ae.status, time.Since(start), fmt.Sprintf("%s was refused the console of vm %q: %s", who, vmName, ae.message),
			map[string]any{"force": force})
		_ = ws.Close(websocket.StatusCode(CloseRefusedBase+ae.status), closeReason(ae.message))
		return nil
	}
	sess := &consoleSession{vmID: vmID, vmName: vmName, who: who, since: time.Now(), end: make(chan struct{})}
	cs.mu.Lock()
	if cs.all == nil {
		cs.all = map[*consoleSession]struct{}{}
	}
	cs.all[sess] = struct{}{}
	shutdown := cs.shutdown
	cs.mu.Unlock()
	if shutdown {
		cs.finish(sess, websocket.StatusGoingAway, "the server is shutting down")
	}
	s.auditConsole(c, "open", http.StatusSwitchingProtocols, time.Since(start), fmt.Sprintf("%s opened the console of vm %q", who, vmName),
		map[string]any{"force": force})
	if force && held {
		s.auditConsole(c, "takeover", http.StatusSwitchingProtocols, 0,
			fmt.Sprintf("%s took over the console of vm %q from %s (who had it since %s)", who, vmName, prev.Who, prev.Since.UTC().Format(time.RFC3339)),
			map[string]any{"previous_user": prev.Who, "previous_since": prev.Since.UTC().Format(time.RFC3339)})
	}

	code, reason, in, out := s.serveConsole(ctx, ws, con, sess)

	cs.mu.Lock()
	delete(cs.all, sess)
	cs.mu.Unlock()
	took := time.Since(sess.since)
	s.auditConsole(c, "close", http.StatusSwitchingProtocols, took,
		fmt.Sprintf("%s's console of vm %q closed after %s: %s", who, vmName, took.Round(time.Millisecond), reason),
		map[string]any{"bytes_in": in, "bytes_out": out, "close_code": int(code), "reason": reason, "session_ms": took.Milliseconds()})
	return nil
}

// serveConsole copies between ws and con until one of them ends, closes
// both, and returns the close code and reason sent and the bytes taken
// from the client (in) and sent to it (out).
func (s *Server) serveConsole(ctx context.Context, ws *websocket.Conn, con nodeapi.Console, sess *consoleSession) (websocket.StatusCode, string, int64, int64) {
	cs := &s.consoles
	var in, out atomic.Int64
	var wg sync.WaitGroup
	// The node's side: console → client, a frame per read.
	consoleDone := make(chan error, 1)
	wg.Go(func() {
		buf := make([]byte, consoleChunk)
		for {
			n, err := con.Read(buf)
			if n > 0 {
				wctx, cancel := context.WithTimeout(ctx, ConsoleWriteTimeout)
				werr := ws.Write(wctx, websocket.MessageBinary, buf[:n])
				timedOut := wctx.Err() != nil && ctx.Err() == nil
				cancel()
				if werr != nil {
					if timedOut {
						cs.finish(sess, CloseTooSlow, fmt.Sprintf("the client did not take the console's output within %s", ConsoleWriteTimeout))
					} else {
						cs.finish(sess, websocket.StatusNormalClosure, "the client went away")
					}
					return
				}
				out.Add(int64(n))
			}
			if err != nil {
				consoleDone <- err
				return
			}
		}
	})
	// The client's side: client → console.
	clientDone := make(chan error, 1)
	wg.Go(func() {
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				clientDone <- err
				return
			}
			if len(data) == 0 {
				continue
			}
			if _, err := con.Write(data); err != nil {
				consoleDone <- err
				return
			}
			in.Add(int64(len(data)))
		}
	})
	// Keepalive.
	wg.Go(func() {
		t := time.NewTicker(ConsolePingInterval)
		defer t.Stop()
		for {
			select {
			case <-sess.end:
				return
			case <-t.C:
				pctx, cancel := context.WithTimeout(ctx, ConsolePingTimeout)
				err := ws.Ping(pctx)
				cancel()
				if err != nil {
					cs.finish(sess, websocket.StatusNormalClosure, fmt.Sprintf("the client did not answer a ping within %s", ConsolePingTimeout))
					return
				}
			}
		}
	})

	select {
	case <-sess.end:
	case err := <-clientDone:
		code := websocket.CloseStatus(err)
		switch {
		case code == websocket.StatusNormalClosure || code == websocket.StatusGoingAway:
			cs.finish(sess, websocket.StatusNormalClosure, "the client closed the console")
		case ctx.Err() != nil:
			// The request's context ends when the caller's credential is
			// revoked or expires (Server.authenticate's Watch).
			cs.finish(sess, websocket.StatusPolicyViolation, "the caller's credential was revoked or expired")
		default:
			cs.finish(sess, websocket.StatusNormalClosure, "the client went away")
		}
	case err := <-consoleDone:
		code, reason := consoleEnd(con, err)
		cs.finish(sess, code, reason)
	case <-ctx.Done():
		cs.finish(sess, websocket.StatusPolicyViolation, "the caller's credential was revoked or expired")
	}
	cs.mu.Lock()
	code, reason := sess.endCode, sess.endReason
	cs.mu.Unlock()
	_ = con.Close()
	// Close waits a little for the client's close frame; a client gone
	// makes it return at once with an error.
	_ = ws.Close(code, closeReason(reason))
	wg.Wait()
	return code, reason, in.Load(), out.Load()
}

// consoleEnd says why the node ended a console (nodeapi.EndOf): taken
// over, the VM stopped, the node gone, the server shutting down, or what
// the error says.
func consoleEnd(con nodeapi.Console, err error) (websocket.StatusCode, string) {
	end := nodeapi.EndOf(con)
	switch end.Cause {
	case nodeapi.ConsoleTakenOver:
		return CloseTakenOver, end.Reason
	case nodeapi.ConsoleVMStopped:
		return CloseVMStopped, end.Reason
	case nodeapi.ConsoleNodeGone:
		return CloseNodeGone, end.Reason
	case nodeapi.ConsoleServerShutdown:
		return websocket.StatusGoingAway, end.Reason
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, nodeapi.ErrConsoleClosed) {
		if errors.Is(err, nodeapi.ErrNodeUnavailable) || controlplane.KindOf(err) == controlplane.KindUnavailable {
			return CloseNodeGone, "the node went away: " + err.Error()
		}
		return CloseEnded, "the console ended: " + err.Error()
	}
	return CloseEnded, "the console ended on the node: " + end.Reason
}

// consoleUser names the caller of c for the console's messages.
func consoleUser(c echo.Context) string {
	if p, _ := principalOf(c); p.User != "" {
		return p.User
	}
	return "an unnamed caller"
}

// auditConsoleRefused audits a console open refused before the upgrade (the
// caller's role, the origin, the request itself) as vm.console.open with
// the refusal's status, as a refusal after the upgrade is: every refused
// open is audited, whatever the caller's role.
func (s *Server) auditConsoleRefused(c echo.Context, refusal *apiError) {
	if s.logs == nil {
		return
	}
	ref := c.Param("id")
	vmName := ref
	if v, _ := s.svc.Get(c.Request().Context(), ref); v != nil {
		vmName = v.Name
		setAuditVM(c, v.ID)
		setAuditNode(c, v.NodeID)
	}
	force, _ := boolParam(c, "force")
	s.auditConsole(c, "open", refusal.status, 0,
		fmt.Sprintf("%s was refused the console of vm %q: %s", consoleUser(c), vmName, refusal.message),
		map[string]any{"force": force})
}

// auditConsole appends an audit entry of a console event (open, close,
// takeover) of the request c: action vm.console.<what>.
func (s *Server) auditConsole(c echo.Context, what string, status int, took time.Duration, msg string, extra map[string]any) {
	if s.logs == nil {
		return
	}
	e := s.auditEntry(c, status, took)
	e.Action = "vm.console." + what
	e.Message = msg
	if e.Level == logsink.LevelInfo && what == "takeover" {
		e.Level = logsink.LevelWarn
	}
	if len(extra) > 0 {
		fields := map[string]any{}
		_ = json.Unmarshal(e.Fields, &fields)
		for k, v := range extra {
			fields[k] = v
		}
		if raw, err := json.Marshal(fields); err == nil {
			e.Fields = raw
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), auditAppendWait)
	defer cancel()
	if err := s.logs.Append(ctx, []logsink.Entry{e}); err != nil {
		s.log.Error("an audit entry could not be spooled", "request_id", requestID(c), "action", e.Action, "error", err)
	}
}

// isWebSocketRequest reports whether r asks for a WebSocket upgrade.
func isWebSocketRequest(r *http.Request) bool {
	return headerHas(r.Header, "Connection", "upgrade") && headerHas(r.Header, "Upgrade", "websocket")
}

func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// checkOrigin lets through a request without Origin (a client that is not
// a browser: a browser always sends it on a WebSocket) and one whose
// Origin is the server's own (its host as the request names it); a page
// of another origin cannot open a console with the user's cookie.
func checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return forbidden("Origin %q is not a URL; a console opens only from this server's own pages", cut(origin))
	}
	if !strings.EqualFold(u.Host, r.Host) {
		return forbidden("Origin %q is not this server's (%s); a console opens only from this server's own pages", cut(origin), cut(r.Host))
	}
	return nil
}

// closeReason cuts reason to what a close frame holds (123 bytes), at a
// rune boundary.
func closeReason(reason string) string {
	const max = 123
	if len(reason) <= max {
		return reason
	}
	cut := max - len("…")
	for cut > 0 && !utf8RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
