package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/identity"
)

// TestSessionCSRF: a cookie-authenticated request changing something needs
// the session's own CSRF token, in one header; reads and bearer requests
// need none.
func TestSessionCSRF(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "ann", identity.RoleOperator)
	ss := e.mustLogin(t, "ann")
	other := e.mustLogin(t, "ann")
	if ss.CSRF == other.CSRF || ss.Cookie == other.Cookie || len(ss.CSRF) != 43 || len(ss.Cookie) != 43 {
		t.Fatalf("two sessions share secrets or have the wrong length: %d, %d", len(ss.CSRF), len(ss.Cookie))
	}
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
		e.mustAuth(t, cookieRequest(m, ss, false))
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, "PROPFIND"} {
		_, err := e.svc.Authenticate(ctx, cookieRequest(m, ss, false))
		wantErr(t, m+" without CSRF", err, KindForbidden, "", "missing X-CSRF-Token header")
		e.mustAuth(t, cookieRequest(m, ss, true))
	}
	r := cookieRequest(http.MethodPost, ss, false)
	r.Header.Set(HeaderCSRF, other.CSRF)
	_, err := e.svc.Authenticate(ctx, r)
	wantErr(t, "another session's CSRF token", err, KindForbidden, "", "wrong X-CSRF-Token header")
	r.Header.Set(HeaderCSRF, "short")
	_, err = e.svc.Authenticate(ctx, r)
	wantErr(t, "a malformed CSRF token", err, KindForbidden, "", "malformed X-CSRF-Token header")
	r.Header.Set(HeaderCSRF, ss.CSRF)
	r.Header.Add(HeaderCSRF, ss.CSRF)
	_, err = e.svc.Authenticate(ctx, r)
	wantErr(t, "two CSRF headers", err, KindForbidden, "", "2 X-CSRF-Token headers")

	// A bearer token wins over a cookie and needs no CSRF token.
	p := e.mustAuth(t, cookieRequest(http.MethodGet, ss, false))
	_, plain := e.mustToken(t, p, TokenSpec{Name: "ci"})
	r = cookieRequest(http.MethodPost, ss, false)
	r.Header.Set("Authorization", "Bearer "+plain)
	if got := e.mustAuth(t, r); got.Via != MethodToken {
		t.Errorf("bearer and cookie: via %s", got.Via)
	}
}

// TestSessionEnds: a session stops at its expiry (12 h by default) and at
// logout, at once though cached; a forged or repeated cookie is refused.
func TestSessionEnds(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "ann", identity.RoleOperator)
	ss := e.mustLogin(t, "ann")
	e.mustAuth(t, cookieRequest(http.MethodGet, ss, false))
	e.clock.Advance(12*time.Hour - time.Second)
	e.mustAuth(t, cookieRequest(http.MethodGet, ss, false))
	e.clock.Advance(time.Second)
	_, err := e.svc.Authenticate(ctx, cookieRequest(http.MethodGet, ss, false))
	wantErr(t, "an expired session", err, KindUnauthenticated, "", "session expired", "log in again")
	_, err = e.svc.Authenticate(ctx, cookieRequest(http.MethodGet, ss, false))
	wantErr(t, "an expired session, uncached", err, KindUnauthenticated, "", "session expired")

	// A later login sweeps the expired session from the store.
	e.clock.Advance(time.Minute)
	ss2 := e.mustLogin(t, "ann")
	if _, err := e.repo.GetSession(ctx, ss.ID); err == nil {
		t.Error("the expired session is still stored after a login an hour later")
	}
	p := e.mustAuth(t, cookieRequest(http.MethodGet, ss2, false))
	if err := e.svc.Logout(ctx, p); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Authenticate(ctx, cookieRequest(http.MethodGet, ss2, false))
	wantErr(t, "a logged out session", err, KindUnauthenticated, "", "log in again")
	if err := e.svc.Logout(ctx, p); err != nil {
		t.Errorf("logging out twice: %v", err)
	}
	wantErr(t, "logging out nobody", e.svc.Logout(ctx, Principal{}), KindUnauthenticated, "", "no credentials")

	forged := ss2
	forged.Cookie = strings.Repeat("A", 43)
	_, err = e.svc.Authenticate(ctx, cookieRequest(http.MethodGet, forged, false))
	wantErr(t, "a forged cookie", err, KindUnauthenticated, "", "unknown session")

	ss3 := e.mustLogin(t, "ann")
	r := cookieRequest(http.MethodGet, ss3, false)
	r.AddCookie(&http.Cookie{Name: CookieName, Value: ss3.Cookie})
	_, err = e.svc.Authenticate(ctx, r)
	wantErr(t, "two cookies", err, KindUnauthenticated, "", "2 quantix_session cookies")

	_, err = e.svc.Authenticate(ctx, httptest.NewRequest(http.MethodGet, "/api/vms", nil))
	wantErr(t, "no credentials", err, KindUnauthenticated, "", "no credentials", "Authorization: Bearer <token>", "POST /api/auth/login")
}

// TestSessionTTLOption: Options.SessionTTL sets the absolute lifetime.
func TestSessionTTLOption(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *Options) { o.SessionTTL = time.Hour })
	e.mustUser(t, "ann", identity.RoleViewer)
	ss := e.mustLogin(t, "ann")
	if !ss.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		t.Errorf("expires at %v", ss.ExpiresAt)
	}
	e.clock.Advance(time.Hour)
	_, err := e.svc.Authenticate(ctx, cookieRequest(http.MethodGet, ss, false))
	wantErr(t, "after an hour", err, KindUnauthenticated, "", "expired")
}
