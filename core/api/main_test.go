package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/auth"
	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/core/stats"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/testnode"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/plugins/sim"
)

func TestMain(m *testing.M) {
	code := m.Run()
	teststore.Cleanup()
	os.Exit(code)
}

// env is the API on a real store. With a backend, a simulated host's real
// agent serves node env.node through a real agent server (testnode).
type env struct {
	srv   *Server
	svc   *controlplane.Service
	store store.Store
	disp  *agentserver.Dispatcher
	// host is the node with a backend; b is its simulated host.
	host *testnode.Node
	b    *sim.Backend
	node string
	// auth is the server's authentication, on the same store; token is an
	// admin token made for the test server, which do and the other
	// helpers send unless told otherwise (as).
	auth    *auth.Service
	token   string
	tokenID string
	admin   auth.User
}

// newToken makes a token of the test server's admin with role (empty:
// admin) and ttl (0: none), and returns it as a cred and as stored.
func (e *env) newToken(t testing.TB, name string, role identity.Role, ttl time.Duration) (cred, auth.Token) {
	t.Helper()
	tok, secret, err := e.auth.CreateToken(context.Background(), userPrincipal(e.admin), auth.TokenSpec{Name: name, Role: role, TTL: ttl})
	if err != nil {
		t.Fatalf("creating token %s: %v", name, err)
	}
	return cred{token: secret}, tok
}

// admin is the cred of the test server's admin token.
func (e *env) adminCred() cred { return cred{token: e.token} }

// credential is the id audit and UI log entries give the admin token
// (auth.Principal.CredentialID).
func (e *env) credential() string { return "token:" + e.tokenID }

// adminPassword is the password of the admin user of every test server.
const adminPassword = "correct horse battery staple"

func newEnv(t testing.TB, driver string, withBackend bool) *env {
	t.Helper()
	return newEnvWith(t, driver, withBackend, controlplane.ReconcilerOptions{}, 0)
}

// newEnvWith is newEnv with the reconciler's options and the event
// stream's keep-alive interval given; more may change the options (its
// Logger is the authentication's as well).
func newEnvWith(t testing.TB, driver string, withBackend bool, ro controlplane.ReconcilerOptions, keepAlive time.Duration, more ...func(*env, *Options)) *env {
	t.Helper()
	e := &env{store: teststore.Open(t, driver), disp: agentserver.NewDispatcher()}
	logger := testlog.New(t, hclog.Warn)
	svc, err := controlplane.New(controlplane.Options{Store: e.store, Executor: e.disp, Logger: logger, Reconcile: ro})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Reconciler().Close)
	e.svc = svc
	if withBackend {
		e.host = testnode.Start(t, testnode.Options{Handler: svc.Reconciler(), Dispatcher: e.disp, Name: "api-test", Logger: logger})
		e.b, e.node = e.host.Sim, e.host.ID
	}
	opts := Options{Service: svc, Logger: logger, Version: "quantixd test", KeepAlive: keepAlive}
	opts.Stats, opts.StatsHistory = stats.New(stats.Options{History: e.store.Stats()}), e.store.Stats()
	for _, fn := range more {
		fn(e, &opts)
	}
	e.auth = auth.New(e.store.Auth(), auth.Options{Logger: opts.Logger})
	// A token's last use is written behind the requests: it ends before
	// the store closes (cleanups run last first).
	t.Cleanup(func() { _ = e.auth.Close() })
	opts.Auth = e.auth
	ctx := context.Background()
	admin, err := e.auth.CreateUser(ctx, "admin", adminPassword, identity.RoleAdmin)
	if err != nil {
		t.Fatalf("creating the test server's admin: %v", err)
	}
	e.admin = admin
	tok, secret, err := e.auth.CreateToken(ctx, userPrincipal(admin), auth.TokenSpec{Name: "api-test"})
	if err != nil {
		t.Fatalf("creating the test server's admin token: %v", err)
	}
	e.token, e.tokenID = secret, tok.ID
	e.srv = New(opts)
	return e
}

// userPrincipal is u acting by a session, as owner of the tokens a test
// makes for it.
func userPrincipal(u auth.User) auth.Principal {
	return auth.Principal{Via: auth.MethodSession, UserID: u.ID, User: u.Name, Role: u.Role, SessionID: "test"}
}

// bearer is the Authorization header value of token.
func bearer(token string) string { return "Bearer " + token }

// authorize makes req carry the test server's admin token.
func (e *env) authorize(req *http.Request) *http.Request {
	req.Header.Set("Authorization", bearer(e.token))
	return req
}

// client is an HTTP client that sends the test server's admin token with
// every request (for httptest.NewServer).
func (e *env) client() *http.Client {
	return &http.Client{Transport: tokenTransport{token: e.token}}
}

// tokenTransport adds a bearer token to requests that carry no
// Authorization header.
// base, when set, sends them; else http.DefaultTransport.
type tokenTransport struct {
	token string
	base  http.RoundTripper
}

func (tt tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", bearer(tt.token))
	}
	if tt.base != nil {
		return tt.base.RoundTrip(req)
	}
	return http.DefaultTransport.RoundTrip(req)
}

// cred is how a request authenticates in tests: a bearer token, or a
// session cookie with (or without) its CSRF token; the zero cred sends
// nothing.
type cred struct {
	token  string
	cookie string
	csrf   string
}

// apply sets c's headers on req.
func (c cred) apply(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", bearer(c.token))
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: auth.CookieName, Value: c.cookie})
	}
	if c.csrf != "" {
		req.Header.Set(auth.HeaderCSRF, c.csrf)
	}
}

// reply is a decoded reply.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// str returns the string at a dotted path of the body ("vm.state").
func (r reply) str(path string) string {
	var cur any = r.body
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[k]
	}
	s, _ := cur.(string)
	return s
}

// do sends a request with a JSON body ("" for none) through the handler.
func (e *env) do(t testing.TB, method, path, body string, header ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	return e.doReader(t, method, path, rd, header...)
}

func (e *env) doReader(t testing.TB, method, path string, body io.Reader, header ...string) reply {
	t.Helper()
	return e.doAs(t, cred{token: e.token}, method, path, body, header...)
}

// doAs is doReader authenticating with c.
func (e *env) doAs(t testing.TB, c cred, method, path string, body io.Reader, header ...string) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.apply(req)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	if method != http.MethodGet && e.host != nil {
		// The agent reports what the request changed on the host; the
		// next request must not race that report.
		e.host.Settle(t)
	}
	r := reply{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if rec.Code == http.StatusNoContent || method == http.MethodHead {
		if rec.Body.Len() != 0 {
			t.Fatalf("%s %s: %d with a body: %s", method, path, rec.Code, r.raw)
		}
		return r
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, r.raw)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &r.body); err != nil {
		t.Fatalf("%s %s: reply is not a JSON object: %v: %s", method, path, err, r.raw)
	}
	return r
}

// want checks the status and, for errors, the code and that the message
// holds every part.
func (r reply) want(t testing.TB, status int, code string, parts ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if code != "" && r.str("code") != code {
		t.Errorf("code %q, want %q: %s", r.str("code"), code, r.raw)
	}
	for _, p := range parts {
		if !strings.Contains(r.str("message"), p) {
			t.Errorf("message %q does not mention %q", r.str("message"), p)
		}
	}
}

// create makes a VM through the API and returns its id.
func (e *env) create(t testing.TB, name string) string {
	t.Helper()
	r := e.do(t, "POST", "/api/vms", `{"name":"`+name+`","vcpus":1,"memory_mib":64}`)
	r.want(t, http.StatusCreated, "")
	return r.str("id")
}

// raw sends a request without a body and returns the reply's body,
// whatever its type, failing the test unless it is 200.
func (e *env) raw(t testing.TB, method, path string) string {
	t.Helper()
	req := e.authorize(httptest.NewRequest(method, path, nil))
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", method, path, rec.Code, rec.Body)
	}
	return rec.Body.String()
}
