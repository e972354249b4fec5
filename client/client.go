package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// DefaultAddress is where quantixd serves the API unless told otherwise.
const DefaultAddress = "http://127.0.0.1:8080"

// maxReplyBytes bounds a JSON reply read into memory (exports and streams
// are read as they come and have no bound).
const maxReplyBytes = 64 << 20

// Client calls the Quantix REST API. Its fields may be set directly; New
// checks the address first. A Client is safe for concurrent use once its
// fields are no longer changed.
type Client struct {
	// Address is the base URL of the API server, e.g.
	// "http://127.0.0.1:8080"; routes are joined to it ("/api/vms").
	Address string
	// Token, when set, is sent as "Authorization: Bearer <token>".
	Token string
	// HTTPClient makes the requests; nil is http.DefaultClient. Streams
	// and exports last as long as their context, so it should have no
	// overall Timeout.
	HTTPClient *http.Client
	// UserAgent is sent as User-Agent when set.
	UserAgent string
}

// New returns a client of the API at address (NormalizeAddress) that sends
// token, when not empty, as a bearer token.
func New(address, token string) (*Client, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	return &Client{Address: addr, Token: token}, nil
}

// NormalizeAddress checks an API address and returns it as a base URL: a
// bare "host:port" gets "http://", a trailing slash is dropped. Only http
// and https URLs with a host are accepted.
func NormalizeAddress(address string) (string, error) {
	a := strings.TrimSpace(address)
	if a == "" {
		return "", errors.New("the API address is empty")
	}
	if !strings.Contains(a, "://") {
		a = "http://" + a
	}
	u, err := url.Parse(a)
	if err != nil {
		return "", fmt.Errorf("address %q is not a URL: %w", address, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("address %q: the scheme must be http or https", address)
	}
	if u.Host == "" {
		return "", fmt.Errorf("address %q has no host", address)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("address %q must not have a query or a fragment", address)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// APIError is an error reply of the API: its HTTP status and the code and
// message of the body ({"code", "message"}).
type APIError struct {
	// StatusCode is the HTTP status of the reply.
	StatusCode int
	// Code is the API's error code, e.g. "not_found" or "conflict"; empty
	// when the reply did not come from the API.
	Code string
	// Message is the API's message, e.g. `vm "x" not found`.
	Message string
	// VM is the VM as a failed action left it, when the reply carried one.
	VM *VM
	// RequestID is the X-Request-Id of the reply, for the daemon's log.
	RequestID string
	// Body is the reply as it came.
	Body []byte
}

func (e *APIError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("the API answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// IsNotFound reports whether err is an API reply saying 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound
}

// UnreachableError says that no reply came from the server: it could not be
// connected to, or the connection failed before a reply.
type UnreachableError struct {
	// Address is the base URL that was tried.
	Address string
	Err     error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the quantix API at %s: %v", e.Address, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// request is one call of the API.
type request struct {
	method string
	path   string // under the address, starting with "/api/"
	query  url.Values
	body   any    // encoded as JSON when not nil
	accept string // "" is application/json
}

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return http.DefaultClient
}

func (c *Client) base() (string, error) {
	if c.Address == "" {
		return "", errors.New("the client has no API address")
	}
	return strings.TrimRight(c.Address, "/"), nil
}

// send makes the request and returns the reply when its status is 2xx;
// otherwise the reply is read and returned as an *APIError.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	base, err := c.base()
	if err != nil {
		return nil, err
	}
	u := base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("encoding the request of %s %s: %w", r.method, r.path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("making the request %s %s: %w", r.method, r.path, err)
	}
	accept := r.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &UnreachableError{Address: base, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, readAPIError(resp)
	}
	return resp, nil
}

// readAPIError turns an error reply into an *APIError, with the API's
// message when the body is one of its JSON errors.
func readAPIError(resp *http.Response) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	ae := &APIError{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id"), Body: b}
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		VM      *VM    `json:"vm"`
	}
	if json.Unmarshal(b, &body) == nil && body.Message != "" {
		ae.Code, ae.Message, ae.VM = body.Code, body.Message, body.VM
		return ae
	}
	msg := fmt.Sprintf("the server answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	if text := strings.TrimSpace(string(b)); text != "" {
		if len(text) > 200 {
			text = text[:200] + "..."
		}
		msg += ": " + text
	} else if err != nil {
		msg += fmt.Sprintf(" (reading the reply: %v)", err)
	}
	ae.Message = msg
	return ae
}

// do makes the request and decodes the JSON reply into out.
func (c *Client) do(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes+1))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("reading the reply of %s %s: %w", r.method, r.path, err)
	}
	if len(b) > maxReplyBytes {
		return fmt.Errorf("the reply of %s %s is over %d bytes", r.method, r.path, maxReplyBytes)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		base, _ := c.base()
		return fmt.Errorf("decoding the reply of %s %s (is %s a quantix API?): %w", r.method, r.path, base, err)
	}
	return nil
}

// stream opens a server-sent event stream.
func (c *Client) stream(ctx context.Context, path string, query url.Values, what string) (*sseStream, error) {
	resp, err := c.send(ctx, request{method: http.MethodGet, path: path, query: query, accept: "text/event-stream"})
	if err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("GET %s answered %q, not an event stream", path, resp.Header.Get("Content-Type"))
	}
	return newSSEStream(ctx, resp.Body, what), nil
}

// escape makes a VM or node reference one path segment.
func escape(ref string) string { return url.PathEscape(ref) }
