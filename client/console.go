package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
)

// The close codes of a console that the client tells apart
// (docs/api.md, "The serial console").
const (
	// ConsoleRefusedBase + an HTTP status: the console could not be
	// opened (4409: not running, or held by another user).
	ConsoleRefusedBase = 4000
	ConsoleVMStopped   = 4100
	ConsoleTakenOver   = 4101
	ConsoleNodeGone    = 4102
	ConsoleTooSlow     = 4103
	ConsoleEnded       = 4104
)

// ConsoleClosedError is how a console ended: the WebSocket close code and
// reason the server sent (docs/api.md), or 1006 with the cause when the
// connection broke without one.
type ConsoleClosedError struct {
	Code   int
	Reason string
}

func (e *ConsoleClosedError) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	return fmt.Sprintf("the console closed (code %d)", e.Code)
}

// Refused reports whether the console was never opened, and the HTTP status
// the server gave for it (409 held or not running, 501 no console, ...).
func (e *ConsoleClosedError) Refused() (int, bool) {
	if e.Code >= ConsoleRefusedBase+400 && e.Code < ConsoleRefusedBase+600 {
		return e.Code - ConsoleRefusedBase, true
	}
	return 0, false
}

// Console is an open serial console of a VM: Read returns what the guest
// writes, Write sends keystrokes. Read returns a *ConsoleClosedError once
// the console has ended (the server closed it) and io.EOF after Close.
type Console struct {
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool

	rmu sync.Mutex
	r   io.Reader
	err error
}

// OpenConsole opens the serial console of the VM ref (name or id), taking
// it over from whoever holds it when force is set: GET
// /api/vms/{id}/console as a WebSocket. A refusal before the upgrade (no
// credentials 401, a viewer 403) is an *APIError; one after (not running,
// held by another user, no console) is a *ConsoleClosedError from the
// first Read.
func (c *Client) OpenConsole(ctx context.Context, ref string, force bool) (*Console, error) {
	base, err := c.base()
	if err != nil {
		return nil, err
	}
	u := base + "/api/vms/" + url.PathEscape(ref) + "/console"
	if force {
		u += "?force=true"
	}
	h := http.Header{}
	if c.Token != "" {
		h.Set("Authorization", "Bearer "+c.Token)
	}
	if c.UserAgent != "" {
		h.Set("User-Agent", c.UserAgent)
	}
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c.httpClient(), HTTPHeader: h})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, readAPIError(resp)
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, &UnreachableError{Address: base, Err: err}
	}
	// A console's bytes come in frames of at most 32 KiB; leave room.
	ws.SetReadLimit(1 << 20)
	cctx, cancel := context.WithCancel(context.Background())
	return &Console{ws: ws, ctx: cctx, cancel: cancel}, nil
}

// Read reads what the guest wrote.
func (c *Console) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.err != nil {
			return 0, c.err
		}
		if c.r == nil {
			_, r, err := c.ws.Reader(c.ctx)
			if err != nil {
				c.err = c.closedError(err)
				return 0, c.err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			err = nil
		}
		if n > 0 || err != nil {
			if err != nil {
				c.err = c.closedError(err)
			}
			return n, err
		}
	}
}

// Write sends p to the console as one frame.
func (c *Console) Write(p []byte) (int, error) {
	if err := c.ws.Write(c.ctx, websocket.MessageBinary, p); err != nil {
		return 0, c.closedError(err)
	}
	return len(p), nil
}

// Close leaves the console (close code 1000).
func (c *Console) Close() error {
	c.closed.Store(true)
	err := c.ws.Close(websocket.StatusNormalClosure, "the client left")
	c.cancel()
	return err
}

// closedError turns a WebSocket error into a *ConsoleClosedError, or io.EOF
// once the console was closed here.
func (c *Console) closedError(err error) error {
	if c.closed.Load() {
		return io.EOF
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return &ConsoleClosedError{Code: int(ce.Code), Reason: ce.Reason}
	}
	return &ConsoleClosedError{Code: int(websocket.StatusAbnormalClosure), Reason: "the connection to the server broke: " + err.Error()}
}
