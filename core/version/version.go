// Package version holds the release version of the Quantix binaries, set at
// build time with -ldflags "-X github.com/quantixvm/quantix/core/version.Version=...".
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release version; "dev" for local builds.
var Version = "dev"

// String is the one-line version text the binaries print.
func String(binary string) string {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " (" + s.Value[:12] + ")"
			}
		}
	}
	return fmt.Sprintf("%s %s%s %s/%s %s", binary, Version, rev, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
