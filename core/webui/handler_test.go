package webui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

const (
	indexHTML = `<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head><body><div id="root"></div></body></html>`
	appJS     = `console.log("the console");`
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// testFS is a build as ui/ makes it: index.html, hashed assets with .gz and
// .br copies (the .br here is only marked, as Go has no brotli encoder), a
// file at the root, an asset without copies.
func testFS(t *testing.T) fstest.MapFS {
	return fstest.MapFS{
		"index.html":                  {Data: []byte(indexHTML)},
		"index.html.gz":               {Data: gz(t, indexHTML)},
		"favicon.svg":                 {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)},
		"assets/index-abc123.js":      {Data: []byte(appJS)},
		"assets/index-abc123.js.gz":   {Data: gz(t, appJS)},
		"assets/index-abc123.js.br":   {Data: []byte("brotli:" + appJS)},
		"assets/index-def456.css":     {Data: []byte(`body{margin:0}`)},
		"assets/font-0a1b2c.woff2":    {Data: []byte("wOF2....")},
		"assets/PF-Bkg-9z8y7x.svg":    {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"></svg>`)},
		"assets/PF-Bkg-9z8y7x.svg.br": {Data: []byte("brotli:svg")},
	}
}

func newHandler(t *testing.T) *Handler {
	t.Helper()
	h, err := New(testFS(t))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func wantHeader(t *testing.T, rec *httptest.ResponseRecorder, name, want string) {
	t.Helper()
	if got := rec.Header().Get(name); got != want {
		t.Errorf("%s: %q, want %q", name, got, want)
	}
}

// Every reply, errors included, carries the security headers.
func TestSecurityHeaders(t *testing.T) {
	h := newHandler(t)
	for _, target := range []string{"/", "/vms", "/assets/index-abc123.js", "/assets/missing.js", "/api/vms"} {
		rec := get(h, "GET", target)
		csp := rec.Header().Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'self'", "script-src 'self'", "img-src 'self' data:", "connect-src 'self'",
			"frame-ancestors 'none'", "base-uri 'self'", "form-action 'self'"} {
			if !strings.Contains(csp, d+";") && !strings.HasSuffix(csp, d) {
				t.Errorf("%s: CSP %q lacks %q", target, csp, d)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP %q allows inline code", target, csp)
		}
		wantHeader(t, rec, "X-Content-Type-Options", "nosniff")
		wantHeader(t, rec, "Referrer-Policy", "same-origin")
	}
}

// Client-side routes get index.html, never cached without revalidation;
// the API's paths and missing assets do not.
func TestFallbackToIndex(t *testing.T) {
	h := newHandler(t)
	for _, target := range []string{"/", "/index.html", "/vms", "/vms/0b1c-uuid", "/nodes/host.example.com", "/logs?level=warn", "/users/", "/a/../vms",
		"/../../etc/passwd"} {
		rec := get(h, "GET", target)
		if rec.Code != http.StatusOK || rec.Body.String() != indexHTML {
			t.Errorf("%s: %d %q, want index.html", target, rec.Code, rec.Body.String())
			continue
		}
		wantHeader(t, rec, "Content-Type", "text/html; charset=utf-8")
		wantHeader(t, rec, "Cache-Control", "no-cache")
	}
	for _, target := range []string{"/api", "/api/", "/api/vms", "/api/nope", "/metrics", "/assets/index-000000.js", "/assets/nothing",
		"/missing.js", "/vms/app.css", "/logo.png", "/assets/index-abc123.js.gz"} {
		rec := get(h, "GET", target)
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", target, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "<div id=\"root\">") {
			t.Errorf("%s: served index.html", target)
		}
	}
}

func TestIsConsolePath(t *testing.T) {
	for p, want := range map[string]bool{"/": true, "/vms": true, "/apis": true, "/metricsx": true, "/api": false, "/api/": false,
		"/api/vms": false, "/metrics": false, "/metrics/x": false} {
		if got := IsConsolePath(p); got != want {
			t.Errorf("IsConsolePath(%q) = %v, want %v", p, got, want)
		}
	}
}

// Hashed assets are cached for a year; other files revalidate.
func TestCaching(t *testing.T) {
	h := newHandler(t)
	for target, want := range map[string]string{
		"/assets/index-abc123.js":   "public, max-age=31536000, immutable",
		"/assets/index-def456.css":  "public, max-age=31536000, immutable",
		"/assets/font-0a1b2c.woff2": "public, max-age=31536000, immutable",
		"/favicon.svg":              "no-cache",
		"/":                         "no-cache",
	} {
		rec := get(h, "GET", target)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d", target, rec.Code)
		}
		wantHeader(t, rec, "Cache-Control", want)
	}
	// Revalidation: the ETag answers 304 without a body.
	rec := get(h, "GET", "/")
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("index.html without ETag")
	}
	rec = get(h, "GET", "/vms", "If-None-Match", etag)
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d %q, want 304", rec.Code, rec.Body.String())
	}
}

func TestContentTypes(t *testing.T) {
	h := newHandler(t)
	for target, want := range map[string]string{
		"/assets/index-abc123.js":   "text/javascript; charset=utf-8",
		"/assets/index-def456.css":  "text/css; charset=utf-8",
		"/assets/font-0a1b2c.woff2": "font/woff2",
		"/favicon.svg":              "image/svg+xml",
	} {
		for _, ae := range []string{"", "gzip", "br"} {
			wantHeader(t, get(h, "GET", target, "Accept-Encoding", ae), "Content-Type", want)
		}
	}
}

// The precompressed copy the client accepts is served in place of the
// file, with its coding and Vary; a client accepting none gets the file.
func TestPrecompressed(t *testing.T) {
	h := newHandler(t)
	const js = "/assets/index-abc123.js"
	for _, tc := range []struct {
		accept, coding string
	}{
		{"", ""},
		{"identity", ""},
		{"gzip", "gzip"},
		{"x-gzip", "gzip"},
		{"br", "br"},
		{"gzip, deflate, br, zstd", "br"},
		{"br;q=0, gzip", "gzip"},
		{"gzip;q=1.0, br;q=0.5", "gzip"},
		{"br;q=0.5, gzip;q=0.5", "br"},
		{"*", "br"},
		{"*;q=0", ""},
		{"gzip;q=0, br;q=0", ""},
		{"deflate", ""},
		{"BR", "br"},
	} {
		rec := get(h, "GET", js, "Accept-Encoding", tc.accept)
		if rec.Code != http.StatusOK {
			t.Fatalf("%q: %d", tc.accept, rec.Code)
		}
		wantHeader(t, rec, "Content-Encoding", tc.coding)
		wantHeader(t, rec, "Vary", "Accept-Encoding")
		body := rec.Body.Bytes()
		switch tc.coding {
		case "":
			if string(body) != appJS {
				t.Errorf("%q: body %q, want the file", tc.accept, body)
			}
		case "br":
			if string(body) != "brotli:"+appJS {
				t.Errorf("%q: body %q, want the .br copy", tc.accept, body)
			}
		case "gzip":
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%q: %v", tc.accept, err)
			}
			plain, _ := io.ReadAll(zr)
			if string(plain) != appJS {
				t.Errorf("%q: gunzipped %q, want the file", tc.accept, plain)
			}
		}
		if got := rec.Header().Get("Content-Length"); got != "" && got != strconv.Itoa(len(body)) {
			t.Errorf("%q: Content-Length %s for %d bytes", tc.accept, got, len(body))
		}
	}
	// Each coding has its own ETag.
	a := get(h, "GET", js, "Accept-Encoding", "br").Header().Get("ETag")
	b := get(h, "GET", js, "Accept-Encoding", "gzip").Header().Get("ETag")
	c := get(h, "GET", js).Header().Get("ETag")
	if a == b || b == c || a == c {
		t.Errorf("ETags %s %s %s are not distinct", a, b, c)
	}
	// index.html, served for a route, has its gzip copy too.
	rec := get(h, "GET", "/vms/x", "Accept-Encoding", "gzip, br")
	wantHeader(t, rec, "Content-Encoding", "gzip")
	wantHeader(t, rec, "Content-Type", "text/html; charset=utf-8")
	// A file with no copies varies by nothing.
	rec = get(h, "GET", "/assets/index-def456.css", "Accept-Encoding", "gzip, br")
	wantHeader(t, rec, "Content-Encoding", "")
	wantHeader(t, rec, "Vary", "")
}

// HEAD is GET without a body; other methods are refused.
func TestMethods(t *testing.T) {
	h := newHandler(t)
	g := get(h, "GET", "/assets/index-abc123.js", "Accept-Encoding", "br")
	hd := get(h, "HEAD", "/assets/index-abc123.js", "Accept-Encoding", "br")
	if hd.Code != http.StatusOK || hd.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d bytes", hd.Code, hd.Body.Len())
	}
	for _, name := range []string{"Content-Type", "Content-Encoding", "Cache-Control", "ETag", "Content-Length", "Vary"} {
		if g.Header().Get(name) != hd.Header().Get(name) {
			t.Errorf("HEAD %s %q, GET %q", name, hd.Header().Get(name), g.Header().Get(name))
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		rec := get(h, m, "/vms")
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", m, rec.Code)
		}
		wantHeader(t, rec, "Allow", "GET, HEAD")
	}
}

func TestNewNeedsIndex(t *testing.T) {
	_, err := New(fstest.MapFS{"assets/a.js": {Data: []byte("x")}})
	if err == nil || !strings.Contains(err.Error(), "index.html") || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("New without index.html: %v, want an error naming index.html and make build", err)
	}
}

// The files this binary holds make a handler: the console with the webui
// tag, the page saying how to build it without.
func TestAssets(t *testing.T) {
	h, err := New(Assets())
	if err != nil {
		t.Fatal(err)
	}
	rec := get(h, "GET", "/vms")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /vms: %d", rec.Code)
	}
	body := rec.Body.String()
	if Built {
		if !strings.Contains(body, `<div id="root">`) || !strings.Contains(body, "/assets/") {
			t.Errorf("the built console's index.html: %s", body)
		}
		if strings.Contains(body, "<script>") {
			t.Errorf("index.html has an inline script, which the CSP refuses")
		}
		return
	}
	if !strings.Contains(body, "not built into this binary") || !strings.Contains(body, "make build") {
		t.Errorf("placeholder page: %s", body)
	}
}
