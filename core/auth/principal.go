// Package auth authenticates the callers of the REST API and keeps what
// they are: users with passwords, API tokens, browser sessions. It decides
// who a request is (Authenticate); whether that caller may do what it asks
// is the caller's role against the route's action (identity.Role.Allows),
// decided by the API.
package auth

import (
	"context"
	"time"

	"github.com/quantixvm/quantix/core/identity"
)

// Names on the wire.
const (
	// CookieName is the session cookie POST /api/auth/login sets.
	CookieName = "quantix_session"
	// HeaderCSRF carries the CSRF token login returned; a request
	// authenticated by the session cookie must carry it to change
	// anything. Bearer-token requests need none.
	HeaderCSRF = "X-CSRF-Token"
)

// Method is how a caller authenticated.
type Method string

// The ways to authenticate.
const (
	// MethodToken: an API token in Authorization: Bearer.
	MethodToken Method = "token"
	// MethodSession: the session cookie of a browser login.
	MethodSession Method = "session"
)

// Principal is who made a request, as audit entries and authorization see
// it. It never holds a secret.
type Principal struct {
	// Via is how the caller authenticated.
	Via Method
	// UserID and User name the user acting: the session's user, or the
	// user who owns the token.
	UserID string
	User   string
	// Role is what the caller may do: the user's role for a session; for
	// a token, its own role, never above its owner's current role.
	Role identity.Role
	// TokenID and TokenPrefix name the token, for MethodToken.
	TokenID     string
	TokenPrefix string
	// SessionID names the session, for MethodSession. It is not the
	// cookie's value: it can be logged.
	SessionID string
	// ExpiresAt is when the token or session stops working; zero never.
	ExpiresAt time.Time
}

// Allows reports whether the principal's role permits a.
func (p Principal) Allows(a identity.Action) bool { return p.Role.Allows(a) }

// CredentialID names the credential of the call for audit entries and
// logs: "token:<id>" or "session:<id>".
func (p Principal) CredentialID() string {
	switch p.Via {
	case MethodToken:
		return "token:" + p.TokenID
	case MethodSession:
		return "session:" + p.SessionID
	}
	return ""
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal ctx carries, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
