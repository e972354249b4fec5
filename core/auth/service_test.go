package auth

import (
	"net/http"
	"testing"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/internal/teststore"
)

// TestLoginAndAuthenticate: on each database, a user logs in, the session
// cookie authenticates reads and, with the CSRF token, writes; a token the
// session makes authenticates as a bearer token.
func TestLoginAndAuthenticate(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver, nil)
			u := e.mustUser(t, "alice", identity.RoleOperator)
			ss := e.mustLogin(t, "alice")
			if ss.User != "alice" || ss.UserID != u.ID || ss.Role != identity.RoleOperator || !ss.ExpiresAt.Equal(e.clock.Now().Add(DefaultSessionTTL)) {
				t.Errorf("session %+v", ss)
			}
			p := e.mustAuth(t, cookieRequest(http.MethodGet, ss, false))
			want := Principal{Via: MethodSession, UserID: u.ID, User: "alice", Role: identity.RoleOperator, SessionID: ss.ID, ExpiresAt: ss.ExpiresAt}
			if p != want {
				t.Errorf("principal %+v, want %+v", p, want)
			}
			if p2 := e.mustAuth(t, cookieRequest(http.MethodPost, ss, true)); p2 != want {
				t.Errorf("POST with CSRF: %+v", p2)
			}
			_, err := e.svc.Authenticate(ctx, cookieRequest(http.MethodPost, ss, false))
			wantErr(t, "POST without CSRF", err, KindForbidden, "", HeaderCSRF)

			tok, plain := e.mustToken(t, p, TokenSpec{Name: "ci", Role: identity.RoleViewer})
			if tok.Role != identity.RoleViewer || tok.User != "alice" || tok.ExpiresAt != nil || len(plain) != identity.TokenLen {
				t.Errorf("token %+v", tok)
			}
			tp := e.mustAuth(t, bearerRequest(http.MethodDelete, plain))
			wantTP := Principal{Via: MethodToken, UserID: u.ID, User: "alice", Role: identity.RoleViewer, TokenID: tok.ID, TokenPrefix: tok.Prefix}
			if tp != wantTP {
				t.Errorf("token principal %+v, want %+v", tp, wantTP)
			}
		})
	}
}
