// Package testbin gives tests the binaries of this repository: a plugin
// (Plugin, LibvirtPlugin) or the daemon with the libvirt plugin next to it
// (Daemon), the one `make test` built into $QUANTIX_BIN_DIR, or else one it
// builds once per test process: Plugin from the plugin's cmd directory
// under the calling package (pure Go, CGO_ENABLED=0), the others from the
// repository root. Call Cleanup from TestMain to remove what it built.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// EnvBinDir names the directory `make test` built the binaries into.
const EnvBinDir = "QUANTIX_BIN_DIR"

var built struct {
	mu    sync.Mutex
	dir   string
	paths map[string]string
}

// Plugin returns the path of the plugin binary called name (such as
// quantix-logsink-file), failing t when it can be neither found nor built:
// the binary is part of this repository. It is built from ./cmd/<name>
// relative to the test's package directory.
func Plugin(t testing.TB, name string) string {
	t.Helper()
	p, err := plugin(name)
	if err != nil {
		t.Fatalf("the plugin binary %s is needed: %v", name, err)
	}
	return p
}

func plugin(name string) (string, error) {
	built.mu.Lock()
	defer built.mu.Unlock()
	if p, ok := built.paths[name]; ok {
		return p, nil
	}
	if bin := os.Getenv(EnvBinDir); bin != "" {
		p := filepath.Join(bin, "plugins", name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return remember(name, p), nil
		}
	}
	dir, err := buildDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %w\n%s", name, err, b)
	}
	// Under a umask of 002 the binary is group-writable, and the plugin
	// host refuses to run a binary others than its owner may replace.
	if err := os.Chmod(out, 0o755); err != nil {
		return "", err
	}
	return remember(name, out), nil
}

// remember keeps path as name's binary; built.mu is held.
func remember(name, path string) string {
	if built.paths == nil {
		built.paths = map[string]string{}
	}
	built.paths[name] = path
	return path
}

// Cleanup removes the binaries built by this process.
func Cleanup() {
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
		built.dir, built.paths = "", nil
	}
}
