//go:build !webui

package webui

import (
	"embed"
	"io/fs"
)

// placeholder is what a binary built without the webui tag serves: one page
// saying that the console is not built in and how to build it.
//
//go:embed placeholder
var placeholder embed.FS

// Built reports whether this binary holds the console (built with the
// webui tag) rather than the page saying how to build it.
const Built = false

// Assets returns the page served in place of the console.
func Assets() fs.FS {
	sub, err := fs.Sub(placeholder, "placeholder")
	if err != nil {
		// fs.Sub fails only for an invalid path name; "placeholder" is valid.
		panic(err)
	}
	return sub
}
