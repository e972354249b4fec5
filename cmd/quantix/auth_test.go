package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeAuthAPI serves the auth, users and tokens routes as AUTH-SPEC.md
// describes them, over a token store in memory: enough to run the CLI's
// commands in this process. It records every request.
type fakeAuthAPI struct {
	mu      sync.Mutex
	tokens  map[string]string // secret -> user
	revoked map[string]bool
	calls   []string // "METHOD path body auth"
	n       int
}

func newFakeAuthAPI(t *testing.T) (*fakeAuthAPI, *httptest.Server) {
	f := &fakeAuthAPI{tokens: map[string]string{}, revoked: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAuthAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	f.calls = append(f.calls, strings.TrimSpace(r.Method+" "+r.URL.EscapedPath()+" "+string(b)+" "+r.Header.Get("Authorization")))
	secret := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	user, authed := f.tokens[secret]
	authed = authed && !f.revoked[secret]
	if r.URL.Path == "/api/auth/login" {
		var req map[string]string
		_ = json.Unmarshal(b, &req)
		if req["password"] != "right-pw" || req["kind"] != "token" {
			writeFakeJSON(w, 401, `{"code":"unauthenticated","message":"wrong user name or password"}`)
			return
		}
		f.n++
		tok := "qx_tok" + string(rune('a'+f.n)) + "_secret"
		f.tokens[tok] = req["username"]
		writeFakeJSON(w, 200, `{"user":"`+req["username"]+`","role":"admin","token":"`+tok+`","token_id":"t`+string(rune('a'+f.n))+`","expires_at":"2099-01-01T00:00:00Z"}`)
		return
	}
	if !authed {
		writeFakeJSON(w, 401, `{"code":"unauthenticated","message":"no credentials: send Authorization: Bearer <token> or log in"}`)
		return
	}
	switch r.Method + " " + r.URL.Path {
	case "POST /api/auth/logout":
		f.revoked[secret] = true
		w.WriteHeader(http.StatusNoContent)
	case "GET /api/nodes":
		writeFakeJSON(w, 200, `{"nodes":[{"id":"n1","name":"host-a","state":"READY"}]}`)
	case "GET /api/users":
		writeFakeJSON(w, 200, `{"users":[{"id":"u1","name":"`+user+`","role":"admin","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"},{"id":"u2","name":"bob","role":"operator","created_at":"2026-01-02T00:00:00Z","updated_at":"2026-01-02T00:00:00Z"}]}`)
	case "POST /api/users":
		writeFakeJSON(w, 201, `{"id":"u2","name":"bob","role":"operator"}`)
	case "PATCH /api/users/bob":
		writeFakeJSON(w, 200, `{"id":"u2","name":"bob","role":"viewer"}`)
	case "DELETE /api/users/bob", "DELETE /api/tokens/t9":
		w.WriteHeader(http.StatusNoContent)
	case "GET /api/tokens":
		writeFakeJSON(w, 200, `{"tokens":[{"id":"t9","prefix":"ab12","name":"ci","role":"viewer","user":"ann","created_at":"2026-01-01T00:00:00Z","revoked_at":"2026-01-03T00:00:00Z"}]}`)
	case "POST /api/tokens":
		writeFakeJSON(w, 201, `{"id":"t9","prefix":"ab12","name":"ci","role":"viewer","user":"ann","created_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-02T00:00:00Z","token":"qx_ab12_thesecret"}`)
	default:
		writeFakeJSON(w, 404, `{"code":"not_found","message":"no route"}`)
	}
}

func writeFakeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (f *fakeAuthAPI) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[len(f.calls)-1]
}

// runWith runs the CLI in this process with env and stdin (not a
// terminal).
func runWith(env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut, getenv: func(k string) string { return env[k] },
		term: &terminal{in: bufio.NewReader(strings.NewReader(stdin))}}
	code = a.run(args)
	return code, out.String(), errOut.String()
}

// TestLoginSavesToken: quantix login saves the token of the address in
// credentials.json (0600, directory 0700); later commands send it unless
// -token or QUANTIX_TOKEN is given; logout revokes and forgets it.
func TestLoginSavesToken(t *testing.T) {
	f, srv := newFakeAuthAPI(t)
	cfg := t.TempDir()
	env := map[string]string{"XDG_CONFIG_HOME": cfg, envAddress: srv.URL}
	credFile := filepath.Join(cfg, "quantix", credentialsFile)

	code, _, stderr := runWith(env, "wrong-pw\n", "login", "-username", "ann", "-password-stdin")
	if code != exitError || !strings.Contains(stderr, "wrong user name or password") {
		t.Errorf("login with a wrong password: %d %s", code, stderr)
	}
	if _, err := os.Stat(credFile); !os.IsNotExist(err) {
		t.Errorf("a failed login wrote %s: %v", credFile, err)
	}
	code, _, stderr = runWith(env, "right-pw\n", "login")
	if code != exitUsage || !strings.Contains(stderr, "-username is needed") {
		t.Errorf("login without -username and without a terminal: %d %s", code, stderr)
	}

	code, stdout, stderr := runWith(env, "right-pw\n", "login", "-username", "ann", "-token-name", "laptop")
	if code != 0 || !strings.Contains(stdout, "Logged in to "+srv.URL+" as ann (role admin); token tb saved in "+credFile) {
		t.Fatalf("login: %d\n%s\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, "qx_tokb_secret") {
		t.Error("login printed the token")
	}
	if got := f.calls[len(f.calls)-1]; !strings.Contains(got, `"kind":"token"`) || !strings.Contains(got, `"token_name":"laptop"`) || strings.Contains(got, "Bearer") {
		t.Errorf("login request: %s", got)
	}
	for path, want := range map[string]os.FileMode{credFile: 0o600, filepath.Dir(credFile): 0o700} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, mode %v, want %v", path, err, fi.Mode().Perm(), want)
		}
	}
	b, _ := os.ReadFile(credFile)
	var saved credentials
	if err := json.Unmarshal(b, &saved); err != nil || saved.Servers[srv.URL].Token != "qx_tokb_secret" || saved.Servers[srv.URL].User != "ann" {
		t.Fatalf("credentials.json: %v\n%s", err, b)
	}

	if code, stdout, stderr := runWith(env, "", "node", "list", "-q"); code != 0 || stdout != "host-a\n" {
		t.Errorf("node list with the saved login: %d %s %s", code, stdout, stderr)
	}
	if !strings.HasSuffix(f.last(), "Bearer qx_tokb_secret") {
		t.Errorf("the saved token was not sent: %s", f.last())
	}
	runWith(env, "", "node", "list", "-token", "qx_other")
	if !strings.HasSuffix(f.last(), "Bearer qx_other") {
		t.Errorf("-token did not win over the saved login: %s", f.last())
	}
	env2 := map[string]string{"XDG_CONFIG_HOME": cfg, envAddress: srv.URL, envToken: "qx_env"}
	runWith(env2, "", "node", "list")
	if !strings.HasSuffix(f.last(), "Bearer qx_env") {
		t.Errorf("QUANTIX_TOKEN did not win over the saved login: %s", f.last())
	}
	// Another address has no saved login.
	runWith(map[string]string{"XDG_CONFIG_HOME": cfg}, "", "node", "list", "-address", strings.Replace(srv.URL, "127.0.0.1", "localhost", 1))
	if strings.Contains(f.last(), "Bearer") {
		t.Errorf("the login of %s was sent to another address: %s", srv.URL, f.last())
	}

	code, stdout, _ = runWith(env, "", "logout")
	if code != 0 || !strings.Contains(stdout, "the token is revoked and removed from "+credFile) {
		t.Errorf("logout: %d %s", code, stdout)
	}
	if !strings.HasPrefix(f.last(), "POST /api/auth/logout") || !strings.HasSuffix(f.last(), "Bearer qx_tokb_secret") {
		t.Errorf("logout request: %s", f.last())
	}
	b, _ = os.ReadFile(credFile)
	if strings.Contains(string(b), "qx_tokb_secret") {
		t.Errorf("logout left the token in credentials.json:\n%s", b)
	}
	code, _, stderr = runWith(env, "", "logout")
	if code != exitError || !strings.Contains(stderr, "not logged in to "+srv.URL) {
		t.Errorf("logout when logged out: %d %s", code, stderr)
	}
	code, _, stderr = runWith(env, "", "node", "list")
	if code != exitError || !strings.Contains(stderr, "Log in with 'quantix login'") {
		t.Errorf("a command with no credentials: %d %s", code, stderr)
	}

	// A token the server revoked: the command names quantix login, and
	// logout forgets it all the same.
	runWith(env, "right-pw\n", "login", "-username", "ann")
	f.mu.Lock()
	for tok := range f.tokens {
		f.revoked[tok] = true
	}
	f.mu.Unlock()
	code, _, stderr = runWith(env, "", "node", "list")
	if code != exitError || !strings.Contains(stderr, "The token saved at login for "+srv.URL+" was refused") {
		t.Errorf("a revoked saved token: %d %s", code, stderr)
	}
	if code, stdout, _ := runWith(env, "", "logout"); code != 0 || !strings.Contains(stdout, "no longer accepted the token and removed") {
		t.Errorf("logout of a revoked token: %d %s", code, stdout)
	}

	// An expired saved login is not sent.
	if err := os.WriteFile(credFile, []byte(`{"servers":{"`+srv.URL+`":{"user":"ann","role":"admin","token":"qx_old","expires_at":"2001-01-01T00:00:00Z"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runWith(env, "", "node", "list")
	if code != exitError || !strings.Contains(stderr, "expired on 2001-01-01") || strings.Contains(f.last(), "qx_old") {
		t.Errorf("an expired saved login: %d %s (%s)", code, stderr, f.last())
	}
	// A credentials file others may read is refused.
	if err := os.Chmod(credFile, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runWith(env, "", "node", "list")
	if code == 0 || !strings.Contains(stderr, "chmod 600 "+credFile) {
		t.Errorf("credentials.json with mode 0644: %d %s", code, stderr)
	}
}

// TestUserAndTokenCommands: the user and token commands send the requests
// of the API and print its replies as tables or JSON; token create prints
// the secret alone on stdout.
func TestUserAndTokenCommands(t *testing.T) {
	f, srv := newFakeAuthAPI(t)
	f.tokens["qx_admin"] = "ann"
	env := map[string]string{envAddress: srv.URL, envToken: "qx_admin"}
	type step struct {
		stdin    string
		args     []string
		code     int
		out      string // in stdout
		request  string // prefix of the request made
		errMatch string // in stderr
	}
	for _, s := range []step{
		{"", []string{"user", "list"}, 0, "bob   operator", "GET /api/users", ""},
		{"", []string{"user", "list", "-q"}, 0, "ann\nbob\n", "GET /api/users", ""},
		{"", []string{"-output", "json", "user", "list"}, 0, `"name": "bob"`, "GET /api/users", ""},
		{"pw-of-bob-1\n", []string{"user", "create", "bob", "-role", "operator"}, 0, "user bob created (role operator)", `POST /api/users {"name":"bob","password":"pw-of-bob-1","role":"operator"}`, ""},
		{"", []string{"user", "create", "bob", "-role", "root"}, 2, "", "", `-role "root": must be admin, operator or viewer`},
		{"\n", []string{"user", "create", "bob"}, 1, "", "", "the password is empty"},
		{"", []string{"user", "set-role", "bob", "viewer"}, 0, "user bob updated (role viewer)", `PATCH /api/users/bob {"role":"viewer"}`, ""},
		{"", []string{"user", "set-role", "bob"}, 2, "", "", "missing ROLE"},
		{"new-pw-22\n", []string{"user", "passwd", "bob", "-password-stdin"}, 0, "user bob has a new password", `PATCH /api/users/bob {"password":"new-pw-22"}`, ""},
		{"", []string{"user", "delete", "bob"}, 0, "user bob deleted", "DELETE /api/users/bob", ""},
		{"", []string{"token", "list"}, 0, "qx_ab12_", "GET /api/tokens", ""},
		{"", []string{"token", "create", "ci", "-role", "viewer", "-ttl", "24h"}, 0, "qx_ab12_thesecret\n", `POST /api/tokens {"name":"ci","role":"viewer","ttl":"24h0m0s"}`, "it is shown only this once"},
		{"", []string{"-output", "json", "token", "create", "ci"}, 0, `"token": "qx_ab12_thesecret"`, `POST /api/tokens {"name":"ci"}`, ""},
		{"", []string{"token", "revoke", "t9"}, 0, "token t9 revoked", "DELETE /api/tokens/t9", ""},
	} {
		code, stdout, stderr := runWith(env, s.stdin, s.args...)
		if code != s.code || !strings.Contains(stdout, s.out) || !strings.Contains(stderr, s.errMatch) {
			t.Errorf("quantix %s: %d\nstdout: %s\nstderr: %s", strings.Join(s.args, " "), code, stdout, stderr)
		}
		if s.request != "" && !strings.HasPrefix(f.last(), s.request) {
			t.Errorf("quantix %s: request %s, want %s", strings.Join(s.args, " "), f.last(), s.request)
		}
	}
	if _, stdout, _ := runWith(env, "", "token", "create", "ci"); stdout != "qx_ab12_thesecret\n" {
		t.Errorf("token create printed more than the token on stdout: %q", stdout)
	}
	if code, stdout, _ := runWith(env, "", "token", "list"); code != 0 || !strings.Contains(stdout, "revoked") {
		t.Errorf("token list does not show the revoked token: %s", stdout)
	}
}
