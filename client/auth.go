package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"time"
)

// LoginKindToken asks POST /api/auth/login for a personal API token
// instead of a browser session: what a command-line client keeps.
const LoginKindToken = "token"

// LoginRequest is the body of POST /api/auth/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Kind is "" for a browser session (a cookie and a CSRF token) or
	// LoginKindToken for an API token.
	Kind string `json:"kind,omitempty"`
	// TokenName names the token a token login creates; the server picks
	// one when empty.
	TokenName string `json:"token_name,omitempty"`
}

// LoginResult is the reply of a token login.
type LoginResult struct {
	User string `json:"user"`
	Role string `json:"role"`
	// Token is the secret API token, shown this once.
	Token   string `json:"token"`
	TokenID string `json:"token_id"`
	// CSRFToken is set by a session login.
	CSRFToken string     `json:"csrf_token"`
	ExpiresAt *time.Time `json:"expires_at"`

	// Raw is the reply as the API sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a login reply and keeps the JSON in Raw.
func (r *LoginResult) UnmarshalJSON(b []byte) error {
	type plain LoginResult
	if err := json.Unmarshal(b, (*plain)(r)); err != nil {
		return err
	}
	r.Raw = slices.Clone(b)
	return nil
}

// Login calls POST /api/auth/login. It needs no token; a wrong name or
// password is an *APIError with status 401, too many failures one with
// status 429.
func (c *Client) Login(ctx context.Context, req LoginRequest) (*LoginResult, error) {
	var out LoginResult
	if err := c.do(ctx, request{method: http.MethodPost, path: "/api/auth/login", body: req}, &out); err != nil {
		return nil, err
	}
	if req.Kind == LoginKindToken && out.Token == "" {
		return nil, errors.New("the login reply carries no token: is the server a quantixd that issues API tokens at login?")
	}
	return &out, nil
}

// Logout calls POST /api/auth/logout: the token the client sends is
// revoked (or the session ended).
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, request{method: http.MethodPost, path: "/api/auth/logout"}, nil)
}

// WhoAmI is the reply of GET /api/auth/whoami.
type WhoAmI struct {
	User      string     `json:"user"`
	Role      string     `json:"role"`
	Via       string     `json:"via"`
	SessionID string     `json:"session_id"`
	TokenID   string     `json:"token_id"`
	ExpiresAt *time.Time `json:"expires_at"`

	// Raw is the reply as the API sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a whoami reply and keeps the JSON in Raw.
func (w *WhoAmI) UnmarshalJSON(b []byte) error {
	type plain WhoAmI
	if err := json.Unmarshal(b, (*plain)(w)); err != nil {
		return err
	}
	w.Raw = slices.Clone(b)
	return nil
}

// WhoAmI calls GET /api/auth/whoami: who the client's credentials are.
func (c *Client) WhoAmI(ctx context.Context) (*WhoAmI, error) {
	var out WhoAmI
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/auth/whoami"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LoadCAFile reads the PEM certificates of path (one CA certificate, or
// several) into a new pool, for tls.Config.RootCAs.
func LoadCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path)
	}
	return pool, nil
}

// IsUnknownAuthority reports whether err is a TLS failure because the
// server's certificate is not signed by a CA the client trusts.
func IsUnknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return true
	}
	var pua *x509.UnknownAuthorityError
	return errors.As(err, &pua)
}

// IsHostnameMismatch reports whether err is a TLS failure because the
// server's certificate does not name the host the client dialled.
func IsHostnameMismatch(err error) bool {
	var he x509.HostnameError
	if errors.As(err, &he) {
		return true
	}
	var phe *x509.HostnameError
	return errors.As(err, &phe)
}

// FetchChain connects to the https address and returns the certificates
// the server presents, without verifying them: the first is the server's,
// the last the highest in the chain it sent. It is meant for showing a
// fingerprint to a person before trusting a CA, never for trusting on its
// own.
func FetchChain(ctx context.Context, address string) ([]*x509.Certificate, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("%s is not an https address", addr)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":443"
	}
	d := &tls.Dialer{Config: &tls.Config{
		InsecureSkipVerify: true, // the chain is shown to a person, who decides
		ServerName:         u.Hostname(),
	}}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, &UnreachableError{Address: addr, Err: err}
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s presented no certificate", addr)
	}
	return certs, nil
}
