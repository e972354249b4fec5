// Package webui serves the web console: the single-page application that
// ui/ builds (npm run build writes it to core/webui/dist).
//
// A binary built with the build tag webui (make build) embeds dist; one
// built without it (go build ./..., go install) embeds a page saying that
// the console is not built into this binary and how to build it, so that
// the module compiles and tests without Node.
//
// Handler serves either: the files themselves, index.html for every other
// path (the console's client-side routes), hashed assets under /assets/
// cached for a year, index.html revalidated on every load, the precompressed
// .br and .gz copies the build writes next to each file chosen by
// Accept-Encoding, and the security headers of every reply (a
// Content-Security-Policy without inline scripts, no framing).
package webui
