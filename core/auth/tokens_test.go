package auth

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/internal/wait"
)

// TestCreateTokenInputs: bad names, roles above the owner's, bad TTLs are
// refused naming the field; an empty role is the owner's; TTL sets the
// expiry.
func TestCreateTokenInputs(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "ops", identity.RoleOperator)
	p := e.mustAuth(t, cookieRequest(http.MethodGet, e.mustLogin(t, "ops"), false))
	for _, c := range []struct {
		spec  TokenSpec
		kind  Kind
		field string
		says  string
	}{
		{TokenSpec{}, KindInvalid, "name", "name is required"},
		{TokenSpec{Name: strings.Repeat("n", MaxTokenNameLen+1)}, KindInvalid, "name", "at most 64"},
		{TokenSpec{Name: "a\nb"}, KindInvalid, "name", "non-printable"},
		{TokenSpec{Name: "\xffx"}, KindInvalid, "name", "UTF-8"},
		{TokenSpec{Name: "x", Role: "root"}, KindInvalid, "role", "unknown role"},
		{TokenSpec{Name: "x", Role: identity.RoleAdmin}, KindForbidden, "role", "above the caller's role operator"},
		{TokenSpec{Name: "x", TTL: -time.Second}, KindInvalid, "ttl", "outside 0"},
		{TokenSpec{Name: "x", TTL: MaxTokenTTL + time.Hour}, KindInvalid, "ttl", "outside 0"},
	} {
		_, _, err := e.svc.CreateToken(ctx, p, c.spec)
		wantErr(t, "CreateToken("+c.spec.Name+")", err, c.kind, c.field, c.says)
	}
	_, _, err := e.svc.CreateToken(ctx, Principal{}, TokenSpec{Name: "x"})
	wantErr(t, "no owner", err, KindUnauthenticated, "", "authenticate first")
	if toks, _ := e.svc.Tokens(ctx); len(toks) != 0 {
		t.Fatalf("tokens after refusals: %+v", toks)
	}
	tok, plain := e.mustToken(t, p, TokenSpec{Name: "nightly backup ✓", TTL: time.Hour})
	if tok.Role != identity.RoleOperator || tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) ||
		tok.Name != "nightly backup ✓" || !strings.HasPrefix(plain, "qx_"+tok.Prefix+"_") {
		t.Errorf("token %+v (plain of %d characters)", tok, len(plain))
	}
	b, _ := json.Marshal(tok)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"id", "prefix", "name", "role", "user", "created_at", "expires_at", "revoked_at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("token JSON %s lacks %q", b, k)
		}
	}
	if _, ok := m["last_used_at"]; ok || strings.Contains(string(b), plain) {
		t.Errorf("token JSON %s shows last_used_at before any use, or the secret", b)
	}
}

// TestTokenRevocationAndExpiry: a revoked or expired token stops at once,
// though cached; Logout with a token revokes it.
func TestTokenRevocationAndExpiry(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "root", identity.RoleAdmin)
	p := e.mustAuth(t, cookieRequest(http.MethodGet, e.mustLogin(t, "root"), false))
	revoked, revokedPlain := e.mustToken(t, p, TokenSpec{Name: "a"})
	_, expiringPlain := e.mustToken(t, p, TokenSpec{Name: "b", TTL: time.Hour})
	_, logoutPlain := e.mustToken(t, p, TokenSpec{Name: "c"})
	for _, pl := range []string{revokedPlain, expiringPlain, logoutPlain} {
		e.mustAuth(t, bearerRequest(http.MethodGet, pl))
	}
	if err := e.svc.RevokeToken(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Authenticate(ctx, bearerRequest(http.MethodGet, revokedPlain))
	wantErr(t, "a revoked token", err, KindUnauthenticated, "", "revoked", revoked.Prefix)
	if err := e.svc.RevokeToken(ctx, revoked.ID); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	wantErr(t, "revoking an unknown token", e.svc.RevokeToken(ctx, "nope"), KindNotFound, "", `"nope"`)

	e.clock.Advance(time.Hour - time.Nanosecond)
	e.mustAuth(t, bearerRequest(http.MethodGet, expiringPlain))
	e.clock.Advance(time.Nanosecond)
	_, err = e.svc.Authenticate(ctx, bearerRequest(http.MethodGet, expiringPlain))
	wantErr(t, "an expired token", err, KindUnauthenticated, "", "expired at")
	// Read from the store again, it is still expired.
	_, err = e.svc.Authenticate(ctx, bearerRequest(http.MethodGet, expiringPlain))
	wantErr(t, "an expired token, uncached", err, KindUnauthenticated, "", "expired at")

	lp := e.mustAuth(t, bearerRequest(http.MethodGet, logoutPlain))
	if err := e.svc.Logout(ctx, lp); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Authenticate(ctx, bearerRequest(http.MethodGet, logoutPlain))
	wantErr(t, "a logged out token", err, KindUnauthenticated, "", "revoked")
	toks, _ := e.svc.Tokens(ctx)
	revokedNames := map[string]bool{}
	for _, tk := range toks {
		revokedNames[tk.Name] = tk.RevokedAt != nil
	}
	if len(toks) != 3 || !revokedNames["a"] || revokedNames["b"] || !revokedNames["c"] {
		t.Errorf("tokens %+v", toks)
	}
}

// TestTokenWrongSecret: a known prefix with another secret, an unknown
// prefix, and a token with its prefix changed are refused.
func TestTokenWrongSecret(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "root", identity.RoleAdmin)
	p := e.mustAuth(t, cookieRequest(http.MethodGet, e.mustLogin(t, "root"), false))
	tok, plain := e.mustToken(t, p, TokenSpec{Name: "a"})
	e.mustAuth(t, bearerRequest(http.MethodGet, plain))
	other, _, _, _ := identity.NewToken()
	wrongSecret := plain[:len("qx_")+identity.TokenPrefixLen+1] + other[len("qx_")+identity.TokenPrefixLen+1:]
	_, err := e.svc.Authenticate(ctx, bearerRequest(http.MethodGet, wrongSecret))
	wantErr(t, "a wrong secret", err, KindUnauthenticated, "", "wrong API token")
	_, err = e.svc.Authenticate(ctx, bearerRequest(http.MethodGet, other))
	wantErr(t, "an unknown prefix", err, KindUnauthenticated, "", "unknown API token")
	otherPrefix := "qx_" + strings.Repeat("a", identity.TokenPrefixLen) + plain[len("qx_")+identity.TokenPrefixLen:]
	if tok.Prefix != strings.Repeat("a", identity.TokenPrefixLen) {
		_, err = e.svc.Authenticate(ctx, bearerRequest(http.MethodGet, otherPrefix))
		wantErr(t, "the secret under another prefix", err, KindUnauthenticated, "", "unknown API token")
	}
}

// TestSetTokenRole: the role changes at once, never above the owner's.
func TestSetTokenRole(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "root", identity.RoleAdmin)
	e.mustUser(t, "ops", identity.RoleOperator)
	p := e.mustAuth(t, cookieRequest(http.MethodGet, e.mustLogin(t, "ops"), false))
	tok, plain := e.mustToken(t, p, TokenSpec{Name: "a"})
	e.mustAuth(t, bearerRequest(http.MethodGet, plain))
	got, err := e.svc.SetTokenRole(ctx, tok.ID, identity.RoleViewer)
	if err != nil || got.Role != identity.RoleViewer {
		t.Fatalf("SetTokenRole = %+v, %v", got, err)
	}
	if r := e.mustAuth(t, bearerRequest(http.MethodGet, plain)).Role; r != identity.RoleViewer {
		t.Errorf("role after SetTokenRole: %s", r)
	}
	_, err = e.svc.SetTokenRole(ctx, tok.ID, identity.RoleAdmin)
	wantErr(t, "above the owner", err, KindForbidden, "role", `above the role operator of the token's owner "ops"`)
	_, err = e.svc.SetTokenRole(ctx, tok.ID, "")
	wantErr(t, "an empty role", err, KindInvalid, "role", "unknown role")
	_, err = e.svc.SetTokenRole(ctx, "nope", identity.RoleViewer)
	wantErr(t, "an unknown token", err, KindNotFound, "", `"nope"`)
}

// TestTokenLastUsed: a token's use is recorded off the request path, at
// most once a minute.
func TestTokenLastUsed(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "root", identity.RoleAdmin)
	p := e.mustAuth(t, cookieRequest(http.MethodGet, e.mustLogin(t, "root"), false))
	tok, plain := e.mustToken(t, p, TokenSpec{Name: "a"})
	lastUsed := func() *time.Time {
		st, err := e.repo.GetToken(ctx, tok.ID)
		if err != nil {
			t.Fatal(err)
		}
		return st.LastUsedAt
	}
	idle := func() bool {
		e.svc.touchMu.Lock()
		defer e.svc.touchMu.Unlock()
		return !e.svc.touchRunning && len(e.svc.touchPending) == 0
	}
	first := e.clock.Now()
	e.mustAuth(t, bearerRequest(http.MethodGet, plain))
	wait.Until(t, 10*time.Second, "the first use recorded", func() bool {
		at := lastUsed()
		return at != nil && at.Equal(first)
	})
	wait.Until(t, 10*time.Second, "the writer idle", idle)
	for i := range 3 {
		e.clock.Advance(19 * time.Second)
		e.mustAuth(t, bearerRequest(http.MethodGet, plain))
		if !idle() {
			t.Fatalf("a use %ds after the last recorded one queued a write", 19*(i+1))
		}
	}
	if at := lastUsed(); !at.Equal(first) {
		t.Fatalf("last used %v, want still %v", at, first)
	}
	e.clock.Advance(3 * time.Second)
	second := e.clock.Now()
	e.mustAuth(t, bearerRequest(http.MethodGet, plain))
	wait.Until(t, 10*time.Second, "the use a minute later recorded", func() bool {
		return lastUsed().Equal(second)
	})
	toks, _ := e.svc.Tokens(ctx)
	if len(toks) != 1 || toks[0].LastUsedAt == nil || !toks[0].LastUsedAt.Equal(second) {
		t.Errorf("Tokens shows %+v", toks)
	}
}

// TestLoginToken: a CLI login makes a token of the user's role that
// expires in 30 days; a bad name is refused before the password is
// checked.
func TestLoginToken(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "ops", identity.RoleOperator)
	req := LoginRequest{Username: "ops", Password: testPassword + " ops", ClientAddr: "[2001:db8::1]:443"}
	_, _, err := e.svc.LoginToken(ctx, req, "bad\x00name")
	wantErr(t, "a bad token name", err, KindInvalid, "token_name", "token_name has the non-printable")
	tok, plain, err := e.svc.LoginToken(ctx, req, "")
	if err != nil {
		t.Fatal(err)
	}
	e.secret(plain)
	if tok.Name != "login" || tok.Role != identity.RoleOperator || tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(e.clock.Now().Add(DefaultLoginTokenTTL)) {
		t.Errorf("login token %+v", tok)
	}
	if p := e.mustAuth(t, bearerRequest(http.MethodPost, plain)); p.Role != identity.RoleOperator || p.TokenID != tok.ID || p.ExpiresAt != *tok.ExpiresAt {
		t.Errorf("principal %+v", p)
	}
	_, _, err = e.svc.LoginToken(ctx, LoginRequest{Username: "ops", Password: "wrong password!"}, "cli")
	wantErr(t, "a wrong password", err, KindUnauthenticated, "", "wrong user name or password")
}
