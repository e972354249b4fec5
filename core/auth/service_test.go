package auth

import (
	"net/http"
	"os"
	"strings"
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

// TestSecretsNeverLogged: through every operation, failures included, the
// log (captured at trace level) names users, addresses and credential ids
// but never a password, token, cookie or CSRF token, and no error a
// client sees repeats one.
func TestSecretsNeverLogged(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	const (
		rootPW  = "root password for the log test"
		badPW   = "a wrong password typed by mistake"
		shortPW = "tiny"
		newPW   = "the replacement password"
	)
	e.secret(rootPW, badPW, newPW)
	if _, err := e.svc.CreateUser(ctx, "root", rootPW, identity.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	var errs []error
	_, err := e.svc.CreateUser(ctx, "bob", shortPW, identity.RoleViewer)
	errs = append(errs, err)
	ss, err := e.svc.Login(ctx, LoginRequest{Username: "root", Password: rootPW, ClientAddr: "192.0.2.7:1"})
	if err != nil {
		t.Fatal(err)
	}
	e.secret(ss.Cookie, ss.CSRF)
	_, loginPlain, err := e.svc.LoginToken(ctx, LoginRequest{Username: "root", Password: rootPW, ClientAddr: "192.0.2.8"}, "cli")
	if err != nil {
		t.Fatal(err)
	}
	e.secret(loginPlain)
	for range 5 {
		_, err = e.svc.Login(ctx, LoginRequest{Username: "root", Password: badPW, ClientAddr: "192.0.2.7:2"})
		errs = append(errs, err)
	}
	p := e.mustAuth(t, cookieRequest(http.MethodGet, ss, false))
	tok, plain := e.mustToken(t, p, TokenSpec{Name: "logged?"})
	e.mustAuth(t, bearerRequest(http.MethodGet, plain))
	for _, bad := range []string{plain + "x", strings.ToUpper(plain), plain[:len(plain)-1] + "a", "Bearer " + plain} {
		_, err = e.svc.Authenticate(ctx, bearerRequest(http.MethodGet, bad))
		errs = append(errs, err)
	}
	r := cookieRequest(http.MethodPost, ss, false)
	r.Header.Set(HeaderCSRF, ss.CSRF[:42]+"A")
	_, err = e.svc.Authenticate(ctx, r)
	errs = append(errs, err)
	_, err = e.svc.SetPassword(ctx, "root", newPW)
	errs = append(errs, err)
	errs = append(errs, e.svc.RevokeToken(ctx, tok.ID))
	_, err = e.svc.Authenticate(ctx, bearerRequest(http.MethodGet, plain))
	errs = append(errs, err)
	dir := t.TempDir()
	e2 := newEnv(t, "sqlite", nil)
	res, err := e2.svc.Bootstrap(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{res.PasswordFile, res.TokenFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		e2.secret(strings.TrimSpace(string(b)))
	}

	logged := e.log.String()
	for _, want := range []string{"login failed: user=root address=192.0.2.7:2", "login throttled: user=root", "token revoked", "user password changed"} {
		if !strings.Contains(logged, want) {
			t.Errorf("the log lacks %q:\n%s", want, logged)
		}
	}
	for _, err := range errs {
		if err == nil {
			continue
		}
		for _, s := range append(e.secrets, shortPW) {
			if s == "" {
				t.Fatal("an empty secret was recorded")
			}
			if strings.Contains(err.Error(), s) {
				t.Errorf("the error %q repeats a secret", err)
			}
		}
	}
	// newEnv's clean-up checks both logs for every secret recorded.
}
