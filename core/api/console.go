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
	"github.com/quantixvm/quantix/core/vm"
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
	// consoleEndWait bounds how long, after the node ended a console, the
	// server looks for the VM leaving RUNNING to say so in the reason.
	consoleEndWait = 3 * time.Second
)

// consoleOpener is what the console route needs of the control plane.
type consoleOpener interface {
	OpenConsole(ctx context.Context, ref, who string, force bool) (nodeapi.Console, error)
}

// consoleSessions are the consoles this server has open, by VM id: a
// forced open through this server names who took the console over, and
// shutting down closes them all (CloseConsoles).
type consoleSessions struct {
	mu       sync.Mutex
	byVM     map[string]*consoleSession
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
	// takenBy is set when a forced open through this server is ending
	// this session.
	takenBy string
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
	force, err := boolParam(c, "force")
	if err != nil {
		return err
	}
	if !isWebSocketRequest(req) {
		return &apiError{status: http.StatusUpgradeRequired, code: "upgrade_required",
			message: "GET /api/vms/{id}/console is a WebSocket: send the WebSocket handshake (Connection: Upgrade, Upgrade: websocket)"}
	}
	if err := checkOrigin(req); err != nil {
		return err
	}
	p, _ := principalOf(c)
	who := p.User
	if who == "" {
		who = "an unnamed caller"
	}
	opener, ok := any(s.svc).(consoleOpener)
	if !ok || s.svc == nil {
		return &apiError{status: http.StatusNotImplemented, code: codeUnsupported, message: "this server has no console support"}
	}
	ref := c.Param("id")
	start := time.Now()
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
	prev := cs.byVM[vmID]
	if force && prev != nil {
		prev.takenBy = who
	}
	cs.mu.Unlock()

	con, err := opener.OpenConsole(ctx, ref, who, force)
	if err != nil {
		cs.mu.Lock()
		if prev != nil && prev.takenBy == who {
			prev.takenBy = ""
		}
		cs.mu.Unlock()
		ae := classify(c, err)
		s.auditConsole(c, "open", ae.status, time.Since(start), fmt.Sprintf("%s was refused the console of vm %q: %s", who, vmName, ae.message),
			map[string]any{"force": force})
		_ = ws.Close(websocket.StatusCode(CloseRefusedBase+ae.status), closeReason(ae.message))
		return nil
	}
	sess := &consoleSession{vmID: vmID, vmName: vmName, who: who, since: time.Now(), end: make(chan struct{})}
	cs.mu.Lock()
	if cs.byVM == nil {
		cs.byVM, cs.all = map[string]*consoleSession{}, map[*consoleSession]struct{}{}
	}
	cs.byVM[vmID] = sess
	cs.all[sess] = struct{}{}
	shutdown := cs.shutdown
	cs.mu.Unlock()
	if shutdown {
		cs.finish(sess, websocket.StatusGoingAway, "the server is shutting down")
	}
	s.auditConsole(c, "open", http.StatusSwitchingProtocols, time.Since(start), fmt.Sprintf("%s opened the console of vm %q", who, vmName),
		map[string]any{"force": force})
	if force && prev != nil {
		s.auditConsole(c, "takeover", http.StatusSwitchingProtocols, 0,
			fmt.Sprintf("%s took over the console of vm %q from %s (who had it since %s)", who, vmName, prev.who, prev.since.UTC().Format(time.RFC3339)),
			map[string]any{"previous_user": prev.who, "previous_since": prev.since.UTC().Format(time.RFC3339)})
	} else if force {
		s.auditConsole(c, "takeover", http.StatusSwitchingProtocols, 0,
			fmt.Sprintf("%s opened the console of vm %q with force, ending any other holder's", who, vmName), nil)
	}

	code, reason, in, out := s.serveConsole(ctx, ws, con, sess)

	cs.mu.Lock()
	if cs.byVM[vmID] == sess {
		delete(cs.byVM, vmID)
	}
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
		code, reason := s.consoleEnd(ctx, sess, err)
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

// consoleEnd says why the node ended a console: taken over through this
// server, the VM stopped (looked for up to consoleEndWait, as the node's
// report may arrive after the console's end), the node gone, or what the
// error says.
func (s *Server) consoleEnd(ctx context.Context, sess *consoleSession, err error) (websocket.StatusCode, string) {
	cs := &s.consoles
	cs.mu.Lock()
	takenBy := sess.takenBy
	cs.mu.Unlock()
	if takenBy != "" {
		return CloseTakenOver, fmt.Sprintf("taken over by %s", takenBy)
	}
	if errors.Is(err, nodeapi.ErrNodeUnavailable) || controlplane.KindOf(err) == controlplane.KindUnavailable {
		return CloseNodeGone, fmt.Sprintf("the node of vm %q went away", sess.vmName)
	}
	deadline := time.Now().Add(consoleEndWait)
	for {
		v, gerr := s.svc.Get(context.WithoutCancel(ctx), sess.vmID)
		if gerr == nil && v.State != vm.StateRunning {
			return CloseVMStopped, fmt.Sprintf("vm %q is %s", sess.vmName, v.State)
		}
		cs.mu.Lock()
		takenBy = sess.takenBy
		cs.mu.Unlock()
		if takenBy != "" {
			return CloseTakenOver, fmt.Sprintf("taken over by %s", takenBy)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return CloseEnded, "the console ended: " + err.Error()
	}
	return CloseEnded, "the console was ended on the node (taken over through another server, or closed by the host)"
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
