package api

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
)

// specAccess is what AUTH-SPEC says a route needs, written out apart from
// the server's own table so that the two are checked against each other:
// GET /api/health and POST /api/auth/login are public; /api/auth/* take
// any authenticated caller (every role may read); users, tokens, join
// tokens and DELETE /api/nodes are administer; every other GET and HEAD,
// streams included, is read; everything else operate.
func specAccess(method, path string) (public bool, action identity.Action) {
	get := method == http.MethodGet || method == http.MethodHead
	switch {
	case path == "/api/health" && get, path == "/api/auth/login" && method == http.MethodPost:
		return true, 0
	case get && !strings.HasPrefix(path, "/api/") && path != "/metrics":
		// The web console.
		return true, 0
	case strings.HasPrefix(path, "/api/auth/"):
		return false, identity.ActionRead
	case strings.HasPrefix(path, "/api/users"), strings.HasPrefix(path, "/api/tokens"), strings.HasPrefix(path, "/api/join-tokens"),
		method == http.MethodDelete && strings.HasPrefix(path, "/api/nodes"):
		return false, identity.ActionAdminister
	case path == "/api/vms/:id/console":
		// A VM's console is a change of the VM's running state's reach:
		// typing into it is operating the VM.
		return false, identity.ActionOperate
	case get:
		return false, identity.ActionRead
	}
	return false, identity.ActionOperate
}

// headerWriter is a ResponseWriter that reports the status of a reply as
// soon as its header is written, for replies that do not end (streams).
type headerWriter struct {
	mu     sync.Mutex
	header http.Header
	code   int
	body   strings.Builder
	wrote  chan struct{}
	once   sync.Once
}

func newHeaderWriter() *headerWriter {
	return &headerWriter{header: http.Header{}, wrote: make(chan struct{})}
}

func (w *headerWriter) Header() http.Header { return w.header }

func (w *headerWriter) WriteHeader(code int) {
	w.once.Do(func() {
		w.mu.Lock()
		w.code = code
		w.mu.Unlock()
		close(w.wrote)
	})
}

func (w *headerWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.body.Len() < 4096 {
		w.body.Write(p)
	}
	return len(p), nil
}

func (w *headerWriter) Flush() {}

// statusOf sends req through the server and returns its status and the
// start of its body once the header is written (or the handler is done),
// then ends the request.
func (e *env) statusOf(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	w := newHeaderWriter()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.srv.ServeHTTP(w, req.WithContext(ctx))
	}()
	select {
	case <-w.wrote:
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s %s wrote no reply header", req.Method, req.URL.Path)
	}
	cancel()
	<-done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.code, w.body.String()
}

// TestRouteRoleMatrix: every route echo has, for no credentials and each
// role (by bearer token): 401 without credentials (unless public), 403
// naming both roles when the role does not allow what AUTH-SPEC says the
// route needs, and served otherwise; with an admin's session cookie, 403
// naming the CSRF header for every change without it, and served with it.
// A route registered without a declared access fails here.
func TestRouteRoleMatrix(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{})
	routes := le.srv.echo.Routes()
	if len(routes) < 40 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	roles := []identity.Role{identity.RoleViewer, identity.RoleOperator, identity.RoleAdmin}
	sess, r, _ := le.login(t, "admin", adminPassword)
	r.want(t, http.StatusOK, "")
	for _, rt := range routes {
		key := routeKey(rt.Method, rt.Path)
		t.Run(strings.ReplaceAll(key, "/", "_"), func(t *testing.T) {
			if _, ok := le.srv.access[key]; !ok {
				t.Fatalf("route %s declares no access: register it with Server.add or Server.get", key)
			}
			path := strings.NewReplacer(":id", "matrix-x", ":name", "matrix-x").Replace(rt.Path)
			request := func(c cred) *http.Request {
				var body io.Reader
				if rt.Method == http.MethodPost || rt.Method == http.MethodPatch {
					body = strings.NewReader(`{}`)
				}
				req := httptest.NewRequest(rt.Method, path, body)
				req.Header.Set("Content-Type", "application/json")
				c.apply(req)
				return req
			}
			public, action := specAccess(rt.Method, rt.Path)
			code, body := le.statusOf(t, request(cred{}))
			switch {
			case public && (code == http.StatusUnauthorized || code == http.StatusForbidden):
				t.Errorf("public, but without credentials %d: %s", code, body)
			case !public && code != http.StatusUnauthorized:
				t.Errorf("without credentials %d, want 401: %s", code, body)
			case !public && rt.Method != http.MethodHead && !strings.Contains(body, `"code":"unauthenticated"`):
				t.Errorf("401 body %s", body)
			}
			// The admin's session cookie without its CSRF header changes
			// nothing; with it, the route is served.
			if !public && rt.Method != http.MethodGet && rt.Method != http.MethodHead {
				code, body := le.statusOf(t, request(cred{cookie: sess.cookie}))
				if code != http.StatusForbidden || !strings.Contains(body, "X-CSRF-Token") {
					t.Errorf("admin cookie without X-CSRF-Token: %d, want 403 naming the header: %s", code, body)
				}
			}
			if !public && rt.Path != "/api/auth/logout" {
				if code, body := le.statusOf(t, request(sess)); code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500 && code != http.StatusNotImplemented {
					t.Errorf("admin cookie with X-CSRF-Token: %d, want it served: %s", code, body)
				}
			}
			for _, role := range roles {
				c, _ := le.newToken(t, "matrix-"+string(role), role, 0)
				code, body := le.statusOf(t, request(c))
				if public || role.Allows(action) {
					if code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500 && code != http.StatusNotImplemented {
						t.Errorf("%s: %d, want it served: %s", role, code, body)
					}
					continue
				}
				if code != http.StatusForbidden {
					t.Errorf("%s: %d, want 403: %s", role, code, body)
					continue
				}
				if rt.Method != http.MethodHead && (!strings.Contains(body, `"code":"forbidden"`) ||
					!strings.Contains(body, "needs the "+string(leastRole(action))+" role") || !strings.Contains(body, "the caller's role is "+string(role))) {
					t.Errorf("%s: 403 body %s does not name the role needed and the caller's", role, body)
				}
			}
		})
	}
}

// TestUnknownRoutesNeedCredentials: a path that is no route is 401 to a
// stranger and 404 (or 405) to a caller.
func TestUnknownRoutesNeedCredentials(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	e.doAs(t, cred{}, "GET", "/api/nope", nil).want(t, http.StatusUnauthorized, codeUnauthenticated, "no credentials")
	e.do(t, "GET", "/api/nope", "").want(t, http.StatusNotFound, codeNotFound)
	e.do(t, "PUT", "/api/vms", "").want(t, http.StatusMethodNotAllowed, codeMethodNotAllowed)
	r := e.doAs(t, cred{token: "qx_aaaaaaaa_" + strings.Repeat("b", 52)}, "GET", "/api/vms", nil)
	r.want(t, http.StatusUnauthorized, codeUnauthenticated)
	if r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 without WWW-Authenticate")
	}
}

// TestNoAuthServesOnlyHealth: a server built without Options.Auth answers
// 503 to everything but GET /api/health, login included.
func TestNoAuthServesOnlyHealth(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	srv := New(Options{Service: e.svc, Version: "v"})
	for _, tc := range []struct {
		method, path string
		want         int
	}{{"GET", "/api/health", 200}, {"HEAD", "/api/health", 200}, {"GET", "/api/vms", 503}, {"POST", "/api/auth/login", 503}, {"GET", "/api/nope", 503}} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader(`{"username":"admin","password":"x"}`)))
		if rec.Code != tc.want {
			t.Errorf("%s %s: %d, want %d: %s", tc.method, tc.path, rec.Code, tc.want, rec.Body)
		}
		if tc.want == 503 && tc.method != "HEAD" && !strings.Contains(rec.Body.String(), "api.Options.Auth") {
			t.Errorf("%s %s: 503 body %s does not name the option", tc.method, tc.path, rec.Body)
		}
	}
}

// login logs in with a session and returns its cred (cookie and CSRF
// token) and the reply.
func (e *env) login(t testing.TB, user, password string, header ...string) (cred, reply, *http.Cookie) {
	t.Helper()
	req := httptest.NewRequest("POST", "/api/auth/login", strings.NewReader(fmt.Sprintf(`{"username":%q,"password":%q}`, user, password)))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.loginReq(t, req)
}

func (e *env) loginReq(t testing.TB, req *http.Request) (cred, reply, *http.Cookie) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	r := reply{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &r.body); err != nil {
		t.Fatalf("login reply: %v: %s", err, r.raw)
	}
	var cookie *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "quantix_session" {
			cookie = c
		}
	}
	if r.status != http.StatusOK || cookie == nil {
		return cred{}, r, cookie
	}
	return cred{cookie: cookie.Value, csrf: r.str("csrf_token")}, r, cookie
}

// TestSessionLogin: a login sets an HttpOnly, SameSite=Strict cookie
// (Secure over TLS) and returns a CSRF token; the cookie alone reads, a
// change needs the CSRF header too (403 naming it), a bearer token needs
// none; whoami says who; logout ends the session.
func TestSessionLogin(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	sess, r, cookie := e.login(t, "admin", adminPassword)
	r.want(t, http.StatusOK, "")
	if r.str("user") != "admin" || r.str("role") != "admin" || r.str("csrf_token") == "" || r.str("expires_at") == "" || r.body["token"] != nil {
		t.Fatalf("login reply %s", r.raw)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" || cookie.Secure {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP", cookie)
	}
	if strings.Contains(r.raw, cookie.Value) {
		t.Errorf("the reply body holds the session secret")
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("login reply Cache-Control %q", cc)
	}

	who := e.doAs(t, cred{cookie: sess.cookie}, "GET", "/api/auth/whoami", nil)
	who.want(t, http.StatusOK, "")
	if who.str("user") != "admin" || who.str("role") != "admin" || who.str("via") != "session" || who.str("session_id") == "" || who.str("expires_at") == "" || who.body["token_id"] != nil {
		t.Errorf("whoami %s", who.raw)
	}
	e.doAs(t, cred{cookie: sess.cookie}, "GET", "/api/vms", nil).want(t, http.StatusOK, "")
	body := `{"name":"s1","vcpus":1,"memory_mib":64}`
	e.doAs(t, cred{cookie: sess.cookie}, "POST", "/api/vms", strings.NewReader(body)).want(t, http.StatusForbidden, codeForbidden, "X-CSRF-Token")
	e.doAs(t, cred{cookie: sess.cookie, csrf: "wrong"}, "POST", "/api/vms", strings.NewReader(body)).want(t, http.StatusForbidden, codeForbidden, "X-CSRF-Token")
	// With the header the change is served (no node: 422 or 503, not 403).
	if got := e.doAs(t, sess, "POST", "/api/vms", strings.NewReader(body)); got.status == http.StatusForbidden || got.status == http.StatusUnauthorized {
		t.Errorf("cookie with its CSRF token: %d %s", got.status, got.raw)
	}
	if got := e.doAs(t, cred{token: e.token}, "POST", "/api/vms", strings.NewReader(body)); got.status == http.StatusForbidden || got.status == http.StatusUnauthorized {
		t.Errorf("bearer without CSRF token: %d %s", got.status, got.raw)
	}
	// Logout is a change: it needs the CSRF token too.
	e.doAs(t, cred{cookie: sess.cookie}, "POST", "/api/auth/logout", nil).want(t, http.StatusForbidden, codeForbidden, "X-CSRF-Token")
	out := e.doAs(t, sess, "POST", "/api/auth/logout", nil)
	out.want(t, http.StatusNoContent, "")
	if sc := out.header.Get("Set-Cookie"); !strings.Contains(sc, "quantix_session=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Errorf("logout Set-Cookie %q, want the cookie cleared", sc)
	}
	e.doAs(t, cred{cookie: sess.cookie}, "GET", "/api/auth/whoami", nil).want(t, http.StatusUnauthorized, codeUnauthenticated)

	// Over TLS the cookie is Secure.
	req := httptest.NewRequest("POST", "/api/auth/login", strings.NewReader(`{"username":"admin","password":"`+adminPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.TLS = &tls.ConnectionState{}
	if _, r, cookie := e.loginReq(t, req); r.status != http.StatusOK || cookie == nil || !cookie.Secure {
		t.Errorf("login over TLS: %d, cookie %+v; want a Secure cookie", r.status, cookie)
	}
	// Bad logins: 401, naming nothing that tells a user from a password.
	_, r, cookie = e.login(t, "admin", "not the password")
	r.want(t, http.StatusUnauthorized, codeUnauthenticated)
	if cookie != nil {
		t.Errorf("a failed login set a cookie")
	}
	e.doAs(t, cred{}, "POST", "/api/auth/login", strings.NewReader(`{"username":"admin"}`)).want(t, http.StatusUnprocessableEntity, codeInvalid, "password: required")
	e.doAs(t, cred{}, "POST", "/api/auth/login", strings.NewReader(`{"username":"admin","password":"x","kind":"ticket"}`)).want(t, http.StatusUnprocessableEntity, codeInvalid, "kind")
}

// TestTokenLogin: "kind":"token" returns a token and no cookie; whoami
// through it; logout revokes it.
func TestTokenLogin(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	r := e.doAs(t, cred{}, "POST", "/api/auth/login", strings.NewReader(`{"username":"admin","password":"`+adminPassword+`","kind":"token","token_name":"laptop"}`))
	r.want(t, http.StatusOK, "")
	if r.header.Get("Set-Cookie") != "" || r.str("token") == "" || r.str("token_id") == "" || r.str("user") != "admin" || r.str("role") != "admin" || r.str("expires_at") == "" {
		t.Fatalf("token login reply %s (Set-Cookie %q)", r.raw, r.header.Get("Set-Cookie"))
	}
	tok := cred{token: r.str("token")}
	who := e.doAs(t, tok, "GET", "/api/auth/whoami", nil)
	who.want(t, http.StatusOK, "")
	if who.str("via") != "token" || who.str("token_id") != r.str("token_id") || who.body["session_id"] != nil {
		t.Errorf("whoami %s", who.raw)
	}
	e.doAs(t, tok, "POST", "/api/auth/logout", nil).want(t, http.StatusNoContent, "")
	e.doAs(t, tok, "GET", "/api/auth/whoami", nil).want(t, http.StatusUnauthorized, codeUnauthenticated)
	e.do(t, "GET", "/api/auth/whoami", "").want(t, http.StatusOK, "")
}

// TestLoginThrottled: failed logins for one user from one address end in
// 429 with Retry-After; the right password is refused while throttled.
func TestLoginThrottled(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	var got reply
	for i := range 30 {
		req := httptest.NewRequest("POST", "/api/auth/login", strings.NewReader(`{"username":"admin","password":"wrong `+fmt.Sprint(i)+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "192.0.2.44:5000"
		_, got, _ = e.loginReq(t, req)
		if got.status == http.StatusTooManyRequests {
			break
		}
		got.want(t, http.StatusUnauthorized, codeUnauthenticated)
	}
	got.want(t, http.StatusTooManyRequests, codeTooManyRequests)
	if ra := got.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("429 with Retry-After %q", ra)
	}
	req := httptest.NewRequest("POST", "/api/auth/login", strings.NewReader(`{"username":"admin","password":"`+adminPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "192.0.2.44:5001"
	// The forwarded-for header a client sends changes nothing.
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	if _, r, _ := e.loginReq(t, req); r.status != http.StatusTooManyRequests {
		t.Errorf("the right password while throttled: %d %s, want 429", r.status, r.raw)
	}
}

// TestUsersAndTokensRoutes: an admin manages users and tokens over REST;
// an operator may not; a revoked token stops at once.
func TestUsersAndTokensRoutes(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	r := e.do(t, "POST", "/api/users", `{"name":"olive","password":"olive's long password","role":"operator"}`)
	r.want(t, http.StatusCreated, "")
	if r.str("name") != "olive" || r.str("role") != "operator" || r.str("id") == "" || r.body["password"] != nil || strings.Contains(r.raw, "olive's long") {
		t.Fatalf("created user %s", r.raw)
	}
	e.do(t, "POST", "/api/users", `{"name":"olive","password":"another long password","role":"viewer"}`).want(t, http.StatusConflict, codeConflict)
	e.do(t, "POST", "/api/users", `{"name":"vic","password":"vic's long password","role":"boss"}`).want(t, http.StatusUnprocessableEntity, codeInvalid, "role")
	list := e.do(t, "GET", "/api/users", "")
	list.want(t, http.StatusOK, "")
	if users, _ := list.body["users"].([]any); len(users) != 2 {
		t.Errorf("users %s", list.raw)
	}
	e.do(t, "GET", "/api/users/olive", "").want(t, http.StatusOK, "")
	e.do(t, "GET", "/api/users/nobody", "").want(t, http.StatusNotFound, codeNotFound)

	olive, lr, _ := e.login(t, "olive", "olive's long password")
	lr.want(t, http.StatusOK, "")
	e.doAs(t, olive, "GET", "/api/users", nil).want(t, http.StatusForbidden, codeForbidden, "needs the admin role", "the caller's role is operator")
	e.doAs(t, olive, "POST", "/api/tokens", strings.NewReader(`{"name":"x"}`)).want(t, http.StatusForbidden, codeForbidden)

	p := e.do(t, "PATCH", "/api/users/olive", `{"role":"viewer"}`)
	p.want(t, http.StatusOK, "")
	if p.str("role") != "viewer" {
		t.Errorf("patched user %s", p.raw)
	}
	// A refused password changes nothing, the role given with it neither.
	e.do(t, "PATCH", "/api/users/olive", `{"role":"admin","password":"short"}`).want(t, http.StatusUnprocessableEntity, codeInvalid, "password")
	if g := e.do(t, "GET", "/api/users/olive", ""); g.str("role") != "viewer" {
		t.Errorf("after a refused patch: %s", g.raw)
	}
	e.do(t, "PATCH", "/api/users/olive", `{"password":"a new long password"}`).want(t, http.StatusOK, "")
	// A new password ends the user's sessions.
	e.doAs(t, olive, "GET", "/api/auth/whoami", nil).want(t, http.StatusUnauthorized, codeUnauthenticated)
	e.do(t, "PATCH", "/api/users/olive", `{}`).want(t, http.StatusUnprocessableEntity, codeInvalid)
	e.do(t, "PATCH", "/api/users/admin", `{"role":"viewer"}`).want(t, http.StatusConflict, codeConflict)

	tr := e.do(t, "POST", "/api/tokens", `{"name":"ci","role":"viewer","ttl":"24h"}`)
	tr.want(t, http.StatusCreated, "")
	secret, id := tr.str("token"), tr.str("id")
	if secret == "" || id == "" || tr.str("role") != "viewer" || tr.str("prefix") == "" || tr.str("expires_at") == "" || tr.str("user") != "admin" {
		t.Fatalf("created token %s", tr.raw)
	}
	e.do(t, "POST", "/api/tokens", `{"name":"bad","ttl":"soon"}`).want(t, http.StatusUnprocessableEntity, codeInvalid, "ttl")
	tl := e.do(t, "GET", "/api/tokens", "")
	tl.want(t, http.StatusOK, "")
	if strings.Contains(tl.raw, secret) || !strings.Contains(tl.raw, id) {
		t.Errorf("token list %s: want the token listed without its secret", tl.raw)
	}
	ci := cred{token: secret}
	e.doAs(t, ci, "GET", "/api/vms", nil).want(t, http.StatusOK, "")
	e.doAs(t, ci, "POST", "/api/vms", strings.NewReader(`{"name":"x","vcpus":1,"memory_mib":64}`)).want(t, http.StatusForbidden, codeForbidden, "needs the operator role", "the caller's role is viewer")
	e.do(t, "PATCH", "/api/tokens/"+id, `{"role":"operator"}`).want(t, http.StatusOK, "")
	if got := e.doAs(t, ci, "POST", "/api/vms", strings.NewReader(`{"name":"x","vcpus":1,"memory_mib":64}`)); got.status == http.StatusForbidden {
		t.Errorf("after the role change: %d %s", got.status, got.raw)
	}
	e.do(t, "DELETE", "/api/tokens/"+id, "").want(t, http.StatusNoContent, "")
	e.doAs(t, ci, "GET", "/api/vms", nil).want(t, http.StatusUnauthorized, codeUnauthenticated)
	e.do(t, "DELETE", "/api/tokens/nope", "").want(t, http.StatusNotFound, codeNotFound)

	e.do(t, "DELETE", "/api/users/olive", "").want(t, http.StatusNoContent, "")
	e.do(t, "GET", "/api/users/olive", "").want(t, http.StatusNotFound, codeNotFound)
	e.do(t, "DELETE", "/api/users/admin", "").want(t, http.StatusConflict, codeConflict)
}

// readUntilEnd reads a stream until it ends and reports whether it did
// within d.
func readUntilEnd(body io.Reader, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, body)
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// openAs opens a stream at path as c over real HTTP, checks it started, and
// returns its body.
func openAs(t *testing.T, srv *httptest.Server, c cred, path string) *bufio.Reader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.apply(req)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, res.StatusCode)
	}
	br := bufio.NewReader(res.Body)
	if line, err := br.ReadString('\n'); err != nil || line != ": connected\n" {
		t.Fatalf("GET %s began %q, %v", path, line, err)
	}
	return br
}

// TestStreamsEndOnRevocation: open event and log streams end at once when
// their token is revoked, when its role changes, when it expires, and when
// their session logs out; other streams stay open.
func TestStreamsEndOnRevocation(t *testing.T) {
	for _, path := range []string{"/api/events", "/api/logs/stream"} {
		t.Run(strings.ReplaceAll(path, "/", "_"), func(t *testing.T) {
			le := newLogEnv(t, "sqlite", logEnvOptions{keepAlive: 50 * time.Millisecond})
			srv := httptest.NewServer(le.srv)
			// Closed after the streams' own cleanups have ended them.
			t.Cleanup(srv.Close)

			revoked, tok := le.newToken(t, "to-revoke", identity.RoleViewer, 0)
			kept, _ := le.newToken(t, "kept", identity.RoleViewer, 0)
			rs := openAs(t, srv, revoked, path)
			ks := openAs(t, srv, kept, path)
			le.do(t, "DELETE", "/api/tokens/"+tok.ID, "").want(t, http.StatusNoContent, "")
			if !readUntilEnd(rs, 10*time.Second) {
				t.Fatalf("the stream of a revoked token is still open")
			}
			le.doAs(t, revoked, "GET", path, nil).want(t, http.StatusUnauthorized, codeUnauthenticated)

			// A role change ends the streams made under the old role.
			changed, ct := le.newToken(t, "to-change", identity.RoleViewer, 0)
			cs := openAs(t, srv, changed, path)
			le.do(t, "PATCH", "/api/tokens/"+ct.ID, `{"role":"operator"}`).want(t, http.StatusOK, "")
			if !readUntilEnd(cs, 10*time.Second) {
				t.Fatalf("the stream of a token whose role changed is still open")
			}

			// Expiry: a token that expires in a moment.
			const ttl = 1500 * time.Millisecond
			expiring, et := le.newToken(t, "expiring", identity.RoleViewer, ttl)
			es := openAs(t, srv, expiring, path)
			if !readUntilEnd(es, 20*time.Second) {
				t.Fatalf("the stream of an expired token is still open")
			}
			if et.ExpiresAt == nil || time.Now().Before(*et.ExpiresAt) {
				t.Errorf("the stream ended at %s, before its token expired (%v)", time.Now().Format(time.RFC3339Nano), et.ExpiresAt)
			}

			// Logout of a session.
			sess, r, _ := le.login(t, "admin", adminPassword)
			r.want(t, http.StatusOK, "")
			ss := openAs(t, srv, cred{cookie: sess.cookie}, path)
			le.doAs(t, sess, "POST", "/api/auth/logout", nil).want(t, http.StatusNoContent, "")
			if !readUntilEnd(ss, 10*time.Second) {
				t.Fatalf("the stream of a session logged out is still open")
			}

			// The kept token's stream saw none of that: it goes on (with
			// keep-alive comments, and on the log stream the audit entries
			// of the calls above).
			for range 4 {
				if line, err := ks.ReadString('\n'); err != nil {
					t.Fatalf("the stream of a token left alone: %q, %v", line, err)
				}
			}
		})
	}
}

// TestSecretsNeverLogged: passwords, token secrets, session cookies and
// CSRF tokens appear in no log line and no audit entry, through logins,
// failed logins, user and token management and ordinary calls; the failed
// login is audited with the user name tried.
func TestSecretsNeverLogged(t *testing.T) {
	var mu sync.Mutex
	var logBuf strings.Builder
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: lockedWriter{&mu, &logBuf}, JSONFormat: true})
	le := newLogEnv(t, "sqlite", logEnvOptions{logger: logger})
	var secrets []string
	secrets = append(secrets, adminPassword, le.token)

	const userPassword = "pw-of-the-auditor-1234"
	le.do(t, "POST", "/api/users", `{"name":"aud","password":"`+userPassword+`","role":"viewer"}`).want(t, http.StatusCreated, "")
	secrets = append(secrets, userPassword)
	sess, r, _ := le.login(t, "aud", userPassword)
	r.want(t, http.StatusOK, "")
	secrets = append(secrets, sess.cookie, sess.csrf)
	_, r, _ = le.login(t, "aud", "wrong-password-5678")
	r.want(t, http.StatusUnauthorized, codeUnauthenticated)
	secrets = append(secrets, "wrong-password-5678")
	tl := le.doAs(t, cred{}, "POST", "/api/auth/login", strings.NewReader(`{"username":"admin","password":"`+adminPassword+`","kind":"token"}`))
	tl.want(t, http.StatusOK, "")
	secrets = append(secrets, tl.str("token"))
	tr := le.do(t, "POST", "/api/tokens", `{"name":"ci"}`)
	tr.want(t, http.StatusCreated, "")
	secrets = append(secrets, tr.str("token"))
	const newPassword = "new-pw-of-the-auditor-9012"
	le.do(t, "PATCH", "/api/users/aud", `{"password":"`+newPassword+`"}`).want(t, http.StatusOK, "")
	secrets = append(secrets, newPassword)
	le.doAs(t, cred{token: tr.str("token")}, "GET", "/api/vms", nil).want(t, http.StatusOK, "")
	le.do(t, "DELETE", "/api/tokens/"+tr.str("id"), "").want(t, http.StatusNoContent, "")
	le.doAs(t, cred{token: tr.str("token")}, "GET", "/api/vms", nil).want(t, http.StatusUnauthorized, codeUnauthenticated)
	le.doAs(t, cred{token: tl.str("token")}, "POST", "/api/auth/logout", nil).want(t, http.StatusNoContent, "")

	// Every mutating call above is audited: user create, logins, token
	// create, user patch, token delete, logout.
	var entries string
	wait.UntilNil(t, 30*time.Second, "the audit entries of the calls", func() error {
		page, err := le.store.Logs().Query(context.Background(), store.LogQuery{Limit: 1000})
		if err != nil {
			return err
		}
		var sb strings.Builder
		actions := map[string]int{}
		for _, e := range page.Entries {
			fmt.Fprintf(&sb, "%+v %s\n", e, e.Fields)
			actions[e.Action]++
		}
		entries = sb.String()
		for _, a := range []string{"user.create", "auth.login", "token.create", "user.update", "token.delete", "auth.logout"} {
			if actions[a] == 0 {
				return fmt.Errorf("no %s entry among %v", a, actions)
			}
		}
		return nil
	})
	failed := false
	for _, line := range strings.Split(entries, "\n") {
		failed = failed || strings.Contains(line, `"login_user":"aud"`) && strings.Contains(line, `"status":401`) && strings.Contains(line, "auth.login")
	}
	if !failed {
		t.Errorf("no audit entry of the failed login names the user tried:\n%s", entries)
	}
	if !strings.Contains(entries, le.admin.ID) || !strings.Contains(entries, "token:"+le.tokenID) {
		t.Errorf("the audit entries do not name the admin and its token:\n%s", entries)
	}
	mu.Lock()
	logs := logBuf.String()
	mu.Unlock()
	if !strings.Contains(logs, "request") {
		t.Fatalf("nothing was logged: the capture does not work")
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatal("a secret of the test is empty")
		}
		if strings.Contains(logs, s) {
			t.Errorf("the log holds the secret %.12s...", s)
		}
		if strings.Contains(entries, s) {
			t.Errorf("an audit entry holds the secret %.12s...", s)
		}
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestAuditEntriesNameThePrincipal: an audit entry carries the caller's
// user id, credential id, user name, role and token or session id; a
// refused change is audited too.
func TestAuditEntriesNameThePrincipal(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			le := newLogEnv(t, driver, logEnvOptions{})
			viewer, vt := le.newToken(t, "viewer", identity.RoleViewer, 0)
			le.do(t, "POST", "/api/vms/nope/start", "").want(t, http.StatusNotFound, codeNotFound)
			le.doAs(t, viewer, "POST", "/api/vms/nope/stop", nil).want(t, http.StatusForbidden, codeForbidden)
			sess, r, _ := le.login(t, "admin", adminPassword)
			r.want(t, http.StatusOK, "")
			le.doAs(t, sess, "POST", "/api/vms/nope/pause", nil).want(t, http.StatusNotFound, codeNotFound)
			var got []string
			wait.UntilNil(t, 30*time.Second, "4 audit entries", func() error {
				page, err := le.store.Logs().Query(context.Background(), store.LogQuery{Ascending: true})
				if err != nil {
					return err
				}
				if len(page.Entries) != 4 {
					return fmt.Errorf("%d entries", len(page.Entries))
				}
				got = got[:0]
				for _, e := range page.Entries {
					got = append(got, fmt.Sprintf("%s|%s|%s|%s", e.Action, e.UserID, e.SessionID, e.Fields))
				}
				return nil
			})
			who := le.doAs(t, sess, "GET", "/api/auth/whoami", nil)
			want := []struct{ action, user, cred, fields string }{
				{"vm.start", le.admin.ID, "token:" + le.tokenID, `"token_id":"` + le.tokenID + `"`},
				{"vm.stop", le.admin.ID, "token:" + vt.ID, `"role":"viewer"`},
				{"auth.login", le.admin.ID, "session:" + who.str("session_id"), `"via":"session"`},
				{"vm.pause", le.admin.ID, "session:" + who.str("session_id"), `"session_id":"` + who.str("session_id") + `"`},
			}
			for i, w := range want {
				parts := strings.SplitN(got[i], "|", 4)
				if parts[0] != w.action || parts[1] != w.user || parts[2] != w.cred || !strings.Contains(parts[3], w.fields) || !strings.Contains(parts[3], `"user":"admin"`) {
					t.Errorf("entry %d: %s; want %+v", i, got[i], w)
				}
			}
		})
	}
}
