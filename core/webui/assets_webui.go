//go:build webui

package webui

import (
	"embed"
	"io/fs"
)

// dist is the console as ui/ builds it (make build runs npm run build
// before go build -tags webui). A missing dist fails the build here.
//
//go:embed all:dist
var dist embed.FS

// Built reports whether this binary holds the console (built with the
// webui tag) rather than the page saying how to build it.
const Built = true

// Assets returns the console's files: index.html at the root, the hashed
// assets under assets/.
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only for an invalid path name; "dist" is valid.
		panic(err)
	}
	return sub
}
