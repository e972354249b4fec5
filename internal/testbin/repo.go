package testbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	sdkplugin "github.com/quantixvm/quantix/sdk/plugin"
)

// libvirtPlugin is the file name of the libvirt backend plugin.
var libvirtPlugin = sdkplugin.BinaryName(sdkplugin.TypeBackend, "libvirt")

// RepoRoot is the directory holding go.mod, at or above the working
// directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// buildDir returns the directory this process builds into, made on first
// use; built.mu is held.
func buildDir() (string, error) {
	if built.dir == "" {
		d, err := os.MkdirTemp("", "quantix-test-bin-")
		if err != nil {
			return "", err
		}
		built.dir = d
	}
	return built.dir, nil
}

// goBuild builds pkg, a path relative to the repository root, into out.
func goBuild(out, pkg string, cgo bool) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building %s: go not found in PATH: %w", pkg, err)
	}
	cmd := exec.Command(goBin, "build", "-o", out, pkg)
	cmd.Dir = root
	cgoEnv := "CGO_ENABLED=0"
	if cgo {
		cgoEnv = "CGO_ENABLED=1"
	}
	cmd.Env = append(os.Environ(), cgoEnv)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s (run `make deps` for libvirt-dev): %w\n%s", pkg, err, b)
	}
	return nil
}

// LibvirtPlugin returns the path of the libvirt backend plugin: the one in
// $QUANTIX_BIN_DIR/plugins, or else one built once per test process (with
// cgo, which the plugin needs).
func LibvirtPlugin() (string, error) {
	built.mu.Lock()
	defer built.mu.Unlock()
	if p, ok := built.paths[libvirtPlugin]; ok {
		return p, nil
	}
	if dir := os.Getenv(EnvBinDir); dir != "" {
		if p := filepath.Join(dir, "plugins", libvirtPlugin); isFile(p) {
			return remember(libvirtPlugin, p), nil
		}
	}
	dir, err := buildDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "plugins", libvirtPlugin)
	if err := goBuild(p, "./plugins/libvirt/cmd/"+libvirtPlugin, true); err != nil {
		return "", err
	}
	return remember(libvirtPlugin, p), nil
}

// Daemon returns the path of quantixd with the libvirt plugin in the
// plugins directory next to it, as `make build` lays them out: the pair in
// $QUANTIX_BIN_DIR, or else one built once per test process.
func Daemon() (string, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		p := filepath.Join(dir, "quantixd")
		if isFile(p) && isFile(filepath.Join(dir, "plugins", libvirtPlugin)) {
			return p, nil
		}
	}
	built.mu.Lock()
	defer built.mu.Unlock()
	if p, ok := built.paths["quantixd"]; ok {
		return p, nil
	}
	dir, err := buildDir()
	if err != nil {
		return "", err
	}
	// With QUANTIX_BIN_DIR incomplete, the plugin may live elsewhere: put
	// one next to the daemon.
	if pl := filepath.Join(dir, "plugins", libvirtPlugin); !isFile(pl) {
		if err := goBuild(pl, "./plugins/libvirt/cmd/"+libvirtPlugin, true); err != nil {
			return "", err
		}
		if _, ok := built.paths[libvirtPlugin]; !ok {
			remember(libvirtPlugin, pl)
		}
	}
	p := filepath.Join(dir, "quantixd")
	if err := goBuild(p, "./cmd/quantixd", false); err != nil {
		return "", err
	}
	return remember("quantixd", p), nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// PackagePlugin returns the path of the plugin binary built from pkg, a
// main package given relative to the repository root (such as
// ./plugins/sim/cmd/quantix-backend-sim), built once per test process
// (pure Go) and named name.
func PackagePlugin(name, pkg string) (string, error) {
	built.mu.Lock()
	defer built.mu.Unlock()
	if p, ok := built.paths[name]; ok {
		return p, nil
	}
	dir, err := buildDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "plugins", name)
	if err := goBuild(p, pkg, false); err != nil {
		return "", err
	}
	// The plugin host refuses binaries others than their owner may replace.
	if err := os.Chmod(p, 0o755); err != nil {
		return "", err
	}
	return remember(name, p), nil
}
