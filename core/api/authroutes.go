package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/auth"
	"github.com/quantixvm/quantix/core/identity"
)

// loginRequest is the body of POST /api/auth/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Kind is "session" (the default: a cookie and a CSRF token, for
	// browsers) or "token" (a personal API token, for the CLI).
	Kind string `json:"kind"`
	// TokenName names the token of a "token" login.
	TokenName string `json:"token_name"`
}

// The kinds of login.
const (
	loginSession = "session"
	loginToken   = "token"
)

// sessionLoginReply is the reply of a session login; the session's secret
// travels only in the cookie.
type sessionLoginReply struct {
	User      string        `json:"user"`
	Role      identity.Role `json:"role"`
	CSRFToken string        `json:"csrf_token"`
	ExpiresAt time.Time     `json:"expires_at"`
}

// tokenLoginReply is the reply of a token login: Token is the secret,
// shown this once.
type tokenLoginReply struct {
	User      string        `json:"user"`
	Role      identity.Role `json:"role"`
	Token     string        `json:"token"`
	TokenID   string        `json:"token_id"`
	ExpiresAt *time.Time    `json:"expires_at,omitempty"`
}

// whoamiReply is the reply of GET /api/auth/whoami.
type whoamiReply struct {
	User      string        `json:"user"`
	Role      identity.Role `json:"role"`
	Via       auth.Method   `json:"via"`
	SessionID string        `json:"session_id,omitempty"`
	TokenID   string        `json:"token_id,omitempty"`
	ExpiresAt *time.Time    `json:"expires_at,omitempty"`
}

// login: POST /api/auth/login. The client address given to the throttle
// is the connection's peer address (clientAddr), never a forwarded-for
// header, which the client could forge to dodge it. The reply is not to
// be cached: it holds a secret.
func (s *Server) login(c echo.Context) error {
	var req loginRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	c.Set(auditLoginUserKey, req.Username)
	if strings.TrimSpace(req.Username) == "" {
		return unprocessable("username: required")
	}
	if req.Password == "" {
		return unprocessable("password: required")
	}
	kind := req.Kind
	if kind == "" {
		kind = loginSession
	}
	if kind != loginSession && kind != loginToken {
		return unprocessable("kind: %q is not one of %s, %s", cut(req.Kind), loginSession, loginToken)
	}
	if kind == loginSession && req.TokenName != "" {
		return unprocessable("token_name: only for \"kind\":\"token\"")
	}
	lr := auth.LoginRequest{Username: req.Username, Password: req.Password, ClientAddr: clientAddr(c)}
	ctx := c.Request().Context()
	c.Response().Header().Set("Cache-Control", "no-store")
	if kind == loginToken {
		tok, secret, err := s.auth.LoginToken(ctx, lr, req.TokenName)
		if err != nil {
			return err
		}
		setPrincipal(c, tokenPrincipal(tok))
		return c.JSON(http.StatusOK, tokenLoginReply{User: tok.User, Role: tok.Role, Token: secret, TokenID: tok.ID, ExpiresAt: tok.ExpiresAt})
	}
	sess, err := s.auth.Login(ctx, lr)
	if err != nil {
		return err
	}
	setPrincipal(c, auth.Principal{Via: auth.MethodSession, UserID: sess.UserID, User: sess.User, Role: sess.Role, SessionID: sess.ID, ExpiresAt: sess.ExpiresAt})
	c.SetCookie(&http.Cookie{
		Name: auth.CookieName, Value: sess.Cookie, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Request().TLS != nil,
	})
	return c.JSON(http.StatusOK, sessionLoginReply{User: sess.User, Role: sess.Role, CSRFToken: sess.CSRF, ExpiresAt: sess.ExpiresAt})
}

// tokenPrincipal is the principal of a token just made, for the audit
// entry of its login.
func tokenPrincipal(t auth.Token) auth.Principal {
	p := auth.Principal{Via: auth.MethodToken, UserID: t.UserID, User: t.User, Role: t.Role, TokenID: t.ID, TokenPrefix: t.Prefix}
	if t.ExpiresAt != nil {
		p.ExpiresAt = *t.ExpiresAt
	}
	return p
}

// logout: POST /api/auth/logout ends the caller's session, or revokes the
// token it called with, and clears the session cookie.
func (s *Server) logout(c echo.Context) error {
	p, ok := principalOf(c)
	if !ok {
		return unauthenticated("no credentials: send Authorization: Bearer <token> or log in with POST /api/auth/login")
	}
	if err := s.auth.Logout(c.Request().Context(), p); err != nil {
		return err
	}
	if p.Via == auth.MethodSession {
		c.SetCookie(&http.Cookie{Name: auth.CookieName, Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Request().TLS != nil})
	}
	return c.NoContent(http.StatusNoContent)
}

// whoami: GET /api/auth/whoami, the caller as the server sees it.
func (s *Server) whoami(c echo.Context) error {
	p, ok := principalOf(c)
	if !ok {
		return unauthenticated("no credentials: send Authorization: Bearer <token> or log in with POST /api/auth/login")
	}
	out := whoamiReply{User: p.User, Role: p.Role, Via: p.Via, ExpiresAt: optTime(p.ExpiresAt)}
	switch p.Via {
	case auth.MethodSession:
		out.SessionID = p.SessionID
	case auth.MethodToken:
		out.TokenID = p.TokenID
	}
	return c.JSON(http.StatusOK, out)
}

// optTime is t, or nil for the zero time (omitted from a reply).
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// userRequest is the body of POST /api/users and PATCH /api/users/{name}.
type userRequest struct {
	Name     string  `json:"name"`
	Password *string `json:"password"`
	Role     *string `json:"role"`
}

// usersReply is the reply of GET /api/users.
type usersReply struct {
	Users []auth.User `json:"users"`
}

// parseRole decodes the role field of a body.
func parseRole(s string) (identity.Role, error) {
	r, err := identity.ParseRole(s)
	if err != nil {
		return "", unprocessable("role: %s", err)
	}
	return r, nil
}

// listUsers: GET /api/users, in name order.
func (s *Server) listUsers(c echo.Context) error {
	users, err := s.auth.Users(c.Request().Context())
	if err != nil {
		return err
	}
	if users == nil {
		users = []auth.User{}
	}
	return c.JSON(http.StatusOK, usersReply{Users: users})
}

// createUser: POST /api/users {name, password, role}; 201 with the user.
func (s *Server) createUser(c echo.Context) error {
	var req userRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.Password == nil {
		return unprocessable("password: required")
	}
	if req.Role == nil {
		return unprocessable("role: required: one of admin, operator, viewer")
	}
	role, err := parseRole(*req.Role)
	if err != nil {
		return err
	}
	u, err := s.auth.CreateUser(c.Request().Context(), req.Name, *req.Password, role)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, u)
}

// getUser: GET /api/users/{name}.
func (s *Server) getUser(c echo.Context) error {
	u, err := s.auth.User(c.Request().Context(), c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

// patchUser: PATCH /api/users/{name} {role?, password?}; a new password
// ends the user's sessions. Both given: the password is checked against
// the rules first, then the role changes, then the password.
func (s *Server) patchUser(c echo.Context) error {
	var req userRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.Name != "" {
		return unprocessable("name: a user cannot be renamed; send role or password")
	}
	if req.Role == nil && req.Password == nil {
		return unprocessable("send role or password (or both)")
	}
	if req.Password != nil {
		// Checked before anything changes, so that a refused password
		// leaves the role as it was.
		if err := identity.ValidatePassword(*req.Password); err != nil {
			return unprocessable("password: %s", err)
		}
	}
	ctx, name := c.Request().Context(), c.Param("name")
	var role identity.Role
	if req.Role != nil {
		r, err := parseRole(*req.Role)
		if err != nil {
			return err
		}
		role = r
	}
	var (
		u   auth.User
		err error
	)
	if req.Role != nil {
		if u, err = s.auth.SetRole(ctx, name, role); err != nil {
			return err
		}
	}
	if req.Password != nil {
		if u, err = s.auth.SetPassword(ctx, name, *req.Password); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, u)
}

// deleteUser: DELETE /api/users/{name}; its tokens and sessions end.
func (s *Server) deleteUser(c echo.Context) error {
	if err := s.auth.DeleteUser(c.Request().Context(), c.Param("name")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// tokenRequest is the body of POST /api/tokens and PATCH /api/tokens/{id}.
type tokenRequest struct {
	Name string  `json:"name"`
	Role *string `json:"role"`
	// TTL is a Go duration ("720h"); empty or absent, the token does not
	// expire.
	TTL string `json:"ttl"`
}

// tokensReply is the reply of GET /api/tokens.
type tokensReply struct {
	Tokens []auth.Token `json:"tokens"`
}

// newTokenReply is a token just made, with its secret, shown this once.
type newTokenReply struct {
	auth.Token
	Secret string `json:"token"`
}

// listTokens: GET /api/tokens, every user's.
func (s *Server) listTokens(c echo.Context) error {
	toks, err := s.auth.Tokens(c.Request().Context())
	if err != nil {
		return err
	}
	if toks == nil {
		toks = []auth.Token{}
	}
	return c.JSON(http.StatusOK, tokensReply{Tokens: toks})
}

// createToken: POST /api/tokens {name, role?, ttl?}, a token of the
// caller's user with the caller's role or a lower one; 201 with the token
// and its secret.
func (s *Server) createToken(c echo.Context) error {
	var req tokenRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	spec := auth.TokenSpec{Name: req.Name}
	if req.Role != nil {
		r, err := parseRole(*req.Role)
		if err != nil {
			return err
		}
		spec.Role = r
	}
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 {
			return unprocessable("ttl: %q is not a positive duration such as 720h or 30m", cut(req.TTL))
		}
		spec.TTL = d
	}
	p, _ := principalOf(c)
	tok, secret, err := s.auth.CreateToken(c.Request().Context(), p, spec)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, newTokenReply{Token: tok, Secret: secret})
}

// patchToken: PATCH /api/tokens/{id} {role}.
func (s *Server) patchToken(c echo.Context) error {
	var req tokenRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.Name != "" || req.TTL != "" {
		return unprocessable("only role can change; a token's name and expiry are fixed")
	}
	if req.Role == nil {
		return unprocessable("role: required: one of admin, operator, viewer")
	}
	r, err := parseRole(*req.Role)
	if err != nil {
		return err
	}
	tok, err := s.auth.SetTokenRole(c.Request().Context(), c.Param("id"), r)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, tok)
}

// deleteToken: DELETE /api/tokens/{id} revokes the token; it stops
// working at once, on open streams too.
func (s *Server) deleteToken(c echo.Context) error {
	if err := s.auth.RevokeToken(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
