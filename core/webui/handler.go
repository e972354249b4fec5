package webui

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// ContentSecurityPolicy is sent with every reply of the console. Scripts
// come only from the console's own files (the build writes no inline
// script); styles likewise: PatternFly ships its styles as CSS files, and
// what React and its popper set at run time goes through the DOM's style
// properties, which a policy without 'unsafe-inline' allows. Images may be
// data: URLs (PatternFly's CSS uses them). The API is same-origin.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"

// Cache-Control values: hashed assets never change under their name;
// everything else (index.html above all, which names the current assets) is
// revalidated on every load.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// assetsDir holds the build's hashed files (Vite's build.assetsDir).
const assetsDir = "assets/"

// IsConsolePath reports whether the console answers path: every path but
// the API's (/api and below) and /metrics.
func IsConsolePath(p string) bool {
	return !(p == "/api" || strings.HasPrefix(p, "/api/") || p == "/metrics" || strings.HasPrefix(p, "/metrics/"))
}

// Handler serves the console's files (see the package comment).
type Handler struct {
	files map[string]*file
	index *file
}

var _ http.Handler = (*Handler)(nil)

// file is one file of the console with its precompressed copies.
type file struct {
	name        string
	contentType string
	cache       string
	// variants by content coding: "" (identity), "br", "gzip".
	variants map[string]*variant
}

type variant struct {
	data []byte
	etag string
}

// codings are the precompressed copies the build writes, by the suffix of
// their file name, in order of preference when the client takes both.
var codings = []struct{ coding, suffix string }{{"br", ".br"}, {"gzip", ".gz"}}

// New reads the console's files from fsys (index.html at its root) into
// memory and returns their handler. A .br or .gz file next to a file is
// served in its place to clients that accept that coding, never by itself.
func New(fsys fs.FS) (*Handler, error) {
	h := &Handler{files: map[string]*file{}}
	compressed := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		for _, c := range codings {
			if strings.HasSuffix(name, c.suffix) {
				compressed[name] = data
				return nil
			}
		}
		f := &file{name: name, contentType: contentType(name, data), cache: cacheRevalidate, variants: map[string]*variant{"": newVariant(data, "")}}
		if strings.HasPrefix(name, assetsDir) {
			f.cache = cacheImmutable
		}
		h.files[name] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the console's files: %w", err)
	}
	for name, data := range compressed {
		for _, c := range codings {
			if f, ok := h.files[strings.TrimSuffix(name, c.suffix)]; ok && strings.HasSuffix(name, c.suffix) {
				f.variants[c.coding] = newVariant(data, c.coding)
			}
		}
	}
	h.index = h.files["index.html"]
	if h.index == nil {
		return nil, errors.New("the console's files have no index.html: build the console with `make build` (npm run build in ui/ writes core/webui/dist)")
	}
	return h, nil
}

func newVariant(data []byte, coding string) *variant {
	sum := sha256.Sum256(data)
	tag := hex.EncodeToString(sum[:12])
	if coding != "" {
		tag += "-" + coding
	}
	return &variant{data: data, etag: `"` + tag + `"`}
}

// ServeHTTP serves GET and HEAD: the file at the path, or index.html for a
// path that names no file and is not an asset's (a client-side route). A
// missing asset is 404, so that a stale page does not get index.html as
// its script. The API's paths are not the console's: 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	hdr.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "the web console takes GET and HEAD only", http.StatusMethodNotAllowed)
		return
	}
	if !IsConsolePath(r.URL.Path) {
		http.NotFound(w, r)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	f := h.files[name]
	if f == nil {
		if name != "" && isAssetPath(name) {
			hdr.Set("Cache-Control", cacheRevalidate)
			http.Error(w, "no such file in the web console: "+name, http.StatusNotFound)
			return
		}
		f = h.index
	}
	h.serve(w, r, f)
}

// isAssetPath reports whether a path that names no file was meant as a
// file rather than as a client-side route: it is under assets/, or its last
// element has the extension of a kind of file the console is made of. A
// route may end in a name with a dot (/nodes/host.example.com), so not
// every extension counts.
func isAssetPath(name string) bool {
	if strings.HasPrefix(name, assetsDir) {
		return true
	}
	ext := strings.ToLower(path.Ext(name))
	_, ok := assetExtensions[ext]
	return ok
}

var assetExtensions = map[string]struct{}{
	".js": {}, ".mjs": {}, ".css": {}, ".map": {}, ".json": {}, ".html": {}, ".htm": {}, ".txt": {}, ".xml": {},
	".webmanifest": {}, ".wasm": {}, ".png": {}, ".jpg": {}, ".jpeg": {}, ".gif": {}, ".svg": {}, ".ico": {},
	".webp": {}, ".avif": {}, ".woff": {}, ".woff2": {}, ".ttf": {}, ".otf": {}, ".eot": {}, ".br": {}, ".gz": {},
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, f *file) {
	hdr := w.Header()
	coding := ""
	if len(f.variants) > 1 {
		hdr.Add("Vary", "Accept-Encoding")
		coding = chooseCoding(r.Header.Get("Accept-Encoding"), f.variants)
	}
	v := f.variants[coding]
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Cache-Control", f.cache)
	hdr.Set("ETag", v.etag)
	if coding != "" {
		hdr.Set("Content-Encoding", coding)
	}
	// ServeContent answers If-None-Match (304), Range and HEAD.
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(v.data))
}

// chooseCoding picks, of the codings the file has, the one the client's
// Accept-Encoding prefers (highest q, br before gzip on a tie); "" for the
// file as it is. A coding with q=0, or one not named (and no *), is not
// taken.
func chooseCoding(accept string, have map[string]*variant) string {
	if accept == "" {
		return ""
	}
	q := map[string]float64{}
	star, hasStar := 0.0, false
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		name := strings.ToLower(strings.TrimSpace(fields[0]))
		if name == "" {
			continue
		}
		weight := 1.0
		for _, p := range fields[1:] {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if x, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil && x >= 0 && x <= 1 {
					weight = x
				} else {
					weight = 0
				}
			}
		}
		if name == "*" {
			star, hasStar = weight, true
			continue
		}
		if name == "x-gzip" {
			name = "gzip"
		}
		q[name] = weight
	}
	best, bestQ := "", 0.0
	for _, c := range codings {
		if _, ok := have[c.coding]; !ok {
			continue
		}
		w, named := q[c.coding]
		if !named && hasStar {
			w = star
		}
		if w > bestQ {
			best, bestQ = c.coding, w
		}
	}
	return best
}

// contentType is the media type of a file by its extension (a fixed table,
// not the host's mime.types, so that every host serves the same), else by
// sniffing its content.
func contentType(name string, data []byte) string {
	if t, ok := mediaTypes[strings.ToLower(path.Ext(name))]; ok {
		return t
	}
	return http.DetectContentType(data)
}

var mediaTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".htm":         "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".txt":         "text/plain; charset=utf-8",
	".xml":         "application/xml",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".ico":         "image/x-icon",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
	".ttf":         "font/ttf",
	".otf":         "font/otf",
	".eot":         "application/vnd.ms-fontobject",
	".wasm":        "application/wasm",
}
