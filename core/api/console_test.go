package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/webui"
)

const testConsoleIndex = `<!doctype html><title>console</title><div id="root"></div>`

// testConsole is a web console with an index.html and one hashed asset.
func testConsole(t testing.TB) http.Handler {
	t.Helper()
	h, err := webui.New(fstest.MapFS{
		"index.html":           {Data: []byte(testConsoleIndex)},
		"assets/index-a1b2.js": {Data: []byte(`console.log(1)`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestConsole: the console is served to anyone for every path outside /api
// and /metrics; a path under /api that is no route still needs
// credentials (401) before it is 404, and the console never answers it.
func TestConsole(t *testing.T) {
	e := newEnvWith(t, "sqlite", false, controlplane.ReconcilerOptions{}, 0, func(_ *env, o *Options) { o.Console = testConsole(t) })
	serve := func(c cred, method, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		c.apply(req)
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		return rec
	}
	admin := cred{token: e.token}
	for _, path := range []string{"/", "/vms", "/vms/0b1c", "/nodes/host.example.com", "/login?next=%2Fvms", "/apis", "/metricsx"} {
		rec := serve(cred{}, "GET", path)
		if rec.Code != http.StatusOK || rec.Body.String() != testConsoleIndex {
			t.Errorf("GET %s without credentials: %d %q, want the console's index.html", path, rec.Code, rec.Body)
		}
		if rec.Header().Get("Cache-Control") != "no-cache" || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("GET %s: headers %v", path, rec.Header())
		}
		if rec.Header().Get("X-Request-Id") == "" {
			t.Errorf("GET %s: no X-Request-Id", path)
		}
		if rec := serve(cred{}, "HEAD", path); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d with %d bytes", path, rec.Code, rec.Body.Len())
		}
	}
	rec := serve(cred{}, "GET", "/assets/index-a1b2.js")
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("GET an asset: %d %v", rec.Code, rec.Header())
	}
	if rec := serve(cred{}, "GET", "/assets/index-0000.js"); rec.Code != http.StatusNotFound {
		t.Errorf("GET a missing asset: %d, want 404", rec.Code)
	}
	// Paths of the API that are no route: 401, then 404 as JSON, never the console.
	for _, path := range []string{"/api", "/api/", "/api/nope", "/api/vms/x/nope", "/metrics"} {
		rec := serve(cred{}, "GET", path)
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"code":"unauthenticated"`) {
			t.Errorf("GET %s without credentials: %d %s, want 401", path, rec.Code, rec.Body)
		}
		rec = serve(admin, "GET", path)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"code":"not_found"`) {
			t.Errorf("GET %s as admin: %d %s, want 404", path, rec.Code, rec.Body)
		}
	}
	// The console takes no changes; a stranger learns nothing either.
	if rec := serve(cred{}, "POST", "/vms"); rec.Code != http.StatusUnauthorized {
		t.Errorf("POST /vms without credentials: %d, want 401", rec.Code)
	}
	if rec := serve(admin, "POST", "/vms"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /vms as admin: %d, want 405", rec.Code)
	}
	// The API's routes are untouched: a method a route does not take is
	// 405 naming those it does, though GET and HEAD reach the console's
	// catch-all in echo's router.
	for _, m := range []string{"GET", "HEAD"} {
		if rec := serve(cred{}, m, "/api/vms/x/start"); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s /api/vms/x/start without credentials: %d, want 401", m, rec.Code)
		}
		rec := serve(admin, m, "/api/vms/x/start")
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST" {
			t.Errorf("%s /api/vms/x/start: %d Allow %q, want 405 Allow POST", m, rec.Code, rec.Header().Get("Allow"))
		}
	}
	if rec := serve(admin, "GET", "/api/auth/logout"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/auth/logout: %d, want 405", rec.Code)
	}
	if rec := serve(admin, "PUT", "/api/vms"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT /api/vms: %d, want 405", rec.Code)
	}
	if rec := serve(cred{}, "GET", "/api/health"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"status"`) {
		t.Errorf("GET /api/health: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(admin, "GET", "/api/vms"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"vms"`) {
		t.Errorf("GET /api/vms: %d %s", rec.Code, rec.Body)
	}
}

// Without Options.Console there is no console: / is an unknown route.
func TestNoConsole(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	e.doAs(t, cred{}, "GET", "/", nil).want(t, http.StatusUnauthorized, codeUnauthenticated)
	e.do(t, "GET", "/vms", "").want(t, http.StatusNotFound, codeNotFound)
}
