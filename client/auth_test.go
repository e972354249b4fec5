package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuthRoutes: the login, logout, users and tokens methods send the
// requests of the REST API and decode its replies, lists as arrays or
// as objects holding them.
func TestAuthRoutes(t *testing.T) {
	type call struct{ method, path, body, auth string }
	var calls []call
	c := newServer(t, "qx_tok", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls = append(calls, call{r.Method, r.URL.EscapedPath(), string(b), r.Header.Get("Authorization")})
		switch r.Method + " " + r.URL.Path {
		case "POST /api/auth/login":
			writeJSON(w, 200, `{"user":"ann","role":"admin","token":"qx_ab_cd","token_id":"t1","expires_at":"2027-01-01T00:00:00Z"}`)
		case "POST /api/auth/logout", "DELETE /api/users/bo b", "DELETE /api/tokens/t1":
			w.WriteHeader(http.StatusNoContent)
		case "GET /api/users":
			writeJSON(w, 200, `{"users":[{"id":"u1","name":"ann","role":"admin","created_at":"2026-01-01T00:00:00Z"}]}`)
		case "POST /api/users":
			writeJSON(w, 201, `{"id":"u2","name":"bo b","role":"viewer"}`)
		case "PATCH /api/users/bo b":
			writeJSON(w, 200, `{"id":"u2","name":"bo b","role":"operator"}`)
		case "GET /api/tokens":
			writeJSON(w, 200, `[{"id":"t1","prefix":"ab","name":"ci","role":"viewer","user":"ann","created_at":"2026-01-01T00:00:00Z","revoked_at":null}]`)
		case "POST /api/tokens":
			writeJSON(w, 201, `{"id":"t2","prefix":"ef","name":"ci","role":"viewer","user":"ann","token":"qx_ef_secret"}`)
		case "GET /api/auth/whoami":
			writeJSON(w, 200, `{"user":"ann","role":"admin","via":"token","token_id":"t1"}`)
		default:
			writeJSON(w, 404, `{"code":"not_found","message":"no route"}`)
		}
	})
	ctx := context.Background()
	res, err := c.Login(ctx, LoginRequest{Username: "ann", Password: "pw", Kind: LoginKindToken, TokenName: "cli"})
	if err != nil || res.Token != "qx_ab_cd" || res.TokenID != "t1" || res.ExpiresAt == nil || res.Role != "admin" {
		t.Fatalf("Login: %+v, %v", res, err)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(calls[0].body), &body); err != nil || body["kind"] != "token" || body["username"] != "ann" || body["password"] != "pw" || body["token_name"] != "cli" {
		t.Errorf("login body %s", calls[0].body)
	}
	if err := c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	users, err := c.ListUsers(ctx)
	if err != nil || len(users) != 1 || users[0].Name != "ann" || len(users[0].Raw) == 0 {
		t.Fatalf("ListUsers: %+v, %v", users, err)
	}
	if u, err := c.CreateUser(ctx, "bo b", "secret-pw", "viewer"); err != nil || u.Role != "viewer" {
		t.Fatalf("CreateUser: %+v, %v", u, err)
	}
	role := "operator"
	if u, err := c.UpdateUser(ctx, "bo b", UserUpdate{Role: &role}); err != nil || u.Role != "operator" {
		t.Fatalf("UpdateUser: %+v, %v", u, err)
	}
	if err := c.DeleteUser(ctx, "bo b"); err != nil {
		t.Fatal(err)
	}
	toks, err := c.ListTokens(ctx)
	if err != nil || len(toks) != 1 || toks[0].Prefix != "ab" || toks[0].RevokedAt != nil {
		t.Fatalf("ListTokens: %+v, %v", toks, err)
	}
	nt, err := c.CreateToken(ctx, TokenSpec{Name: "ci", Role: "viewer", TTL: "24h"})
	if err != nil || nt.Secret != "qx_ef_secret" || nt.ID != "t2" {
		t.Fatalf("CreateToken: %+v, %v", nt, err)
	}
	if err := c.RevokeToken(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if w, err := c.WhoAmI(ctx); err != nil || w.User != "ann" || w.Via != "token" {
		t.Fatalf("WhoAmI: %+v, %v", w, err)
	}
	want := []call{
		{"POST", "/api/auth/login", "", "Bearer qx_tok"},
		{"POST", "/api/auth/logout", "", "Bearer qx_tok"},
		{"GET", "/api/users", "", "Bearer qx_tok"},
		{"POST", "/api/users", `{"name":"bo b","password":"secret-pw","role":"viewer"}`, "Bearer qx_tok"},
		{"PATCH", "/api/users/bo%20b", `{"role":"operator"}`, "Bearer qx_tok"},
		{"DELETE", "/api/users/bo%20b", "", "Bearer qx_tok"},
		{"GET", "/api/tokens", "", "Bearer qx_tok"},
		{"POST", "/api/tokens", `{"name":"ci","role":"viewer","ttl":"24h"}`, "Bearer qx_tok"},
		{"DELETE", "/api/tokens/t1", "", "Bearer qx_tok"},
		{"GET", "/api/auth/whoami", "", "Bearer qx_tok"},
	}
	for i, w := range want {
		if i >= len(calls) {
			t.Fatalf("only %d calls", len(calls))
		}
		got := calls[i]
		if i == 0 {
			got.body = ""
		}
		if got != w {
			t.Errorf("call %d: %+v, want %+v", i, got, w)
		}
	}
}

// TestTLSHelpers: a client that does not trust the server's CA fails
// with an error IsUnknownAuthority recognises; FetchChain returns the
// chain for a person to check; LoadCAFile makes the client trust it.
func TestTLSHelpers(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"status":"ok","version":"x"}`)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	c.HTTPClient = &http.Client{Transport: &http.Transport{}}
	_, err = c.Health(context.Background())
	if !IsUnknownAuthority(err) || IsHostnameMismatch(err) {
		t.Fatalf("an untrusted server: %v, want an unknown authority", err)
	}
	chain, err := FetchChain(context.Background(), srv.URL)
	if err != nil || len(chain) == 0 || !chain[0].Equal(srv.Certificate()) {
		t.Fatalf("FetchChain: %v, %v", chain, err)
	}
	if _, err := FetchChain(context.Background(), "http://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "not an https address") {
		t.Errorf("FetchChain of http: %v", err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	pool, err := LoadCAFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	c.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if _, err := c.Health(context.Background()); err != nil {
		t.Fatalf("trusting the CA: %v", err)
	}
	if err := os.WriteFile(caFile, []byte("not pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCAFile(caFile); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("LoadCAFile of junk: %v", err)
	}
	// A certificate that does not name the host the client asks for.
	c.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "elsewhere.invalid"}}}
	if _, err := c.Health(context.Background()); !IsHostnameMismatch(err) || IsUnknownAuthority(err) {
		t.Errorf("a certificate for another host: %v, want a hostname mismatch", err)
	}
}
