package cptest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// EnvBinDir names the directory `make test` built the binaries into.
const EnvBinDir = "QUANTIX_BIN_DIR"

// PluginName is the backend the tests run.
const PluginName = "libvirt"

var builds struct {
	mu     sync.Mutex
	tmp    string
	plugin string
	daemon string
}

// RepoRoot is the directory holding go.mod, above the working directory.
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

func buildDir() (string, error) {
	if builds.tmp == "" {
		d, err := os.MkdirTemp("", "quantix-test-bin-")
		if err != nil {
			return "", err
		}
		builds.tmp = d
	}
	return builds.tmp, nil
}

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

// PluginBinary returns the path of the libvirt backend plugin.
func PluginBinary() (string, error) {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.plugin != "" {
		return builds.plugin, nil
	}
	name := plugin.BinaryName(plugin.TypeBackend, PluginName)
	if dir := os.Getenv(EnvBinDir); dir != "" {
		p := filepath.Join(dir, "plugins", name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			builds.plugin = p
			return p, nil
		}
	}
	dir, err := buildDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "plugins", name)
	if err := goBuild(p, "./plugins/libvirt/cmd/"+name, true); err != nil {
		return "", err
	}
	builds.plugin = p
	return p, nil
}

// DaemonBinary returns the path of quantixd, with the plugin in the plugins
// directory next to it, as `make build` lays them out.
func DaemonBinary() (string, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		p := filepath.Join(dir, "quantixd")
		pl := filepath.Join(dir, "plugins", plugin.BinaryName(plugin.TypeBackend, PluginName))
		if isFile(p) && isFile(pl) {
			return p, nil
		}
	}
	if _, err := PluginBinary(); err != nil {
		return "", err
	}
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.daemon != "" {
		return builds.daemon, nil
	}
	dir, err := buildDir()
	if err != nil {
		return "", err
	}
	// With QUANTIX_BIN_DIR incomplete, the plugin may live elsewhere: put
	// one next to the daemon.
	pl := filepath.Join(dir, "plugins", plugin.BinaryName(plugin.TypeBackend, PluginName))
	if !isFile(pl) {
		if err := goBuild(pl, "./plugins/libvirt/cmd/"+plugin.BinaryName(plugin.TypeBackend, PluginName), true); err != nil {
			return "", err
		}
	}
	p := filepath.Join(dir, "quantixd")
	if err := goBuild(p, "./cmd/quantixd", false); err != nil {
		return "", err
	}
	builds.daemon = p
	return p, nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Cleanup removes what the package built and drops the run's PostgreSQL
// database. TestMain calls it after m.Run.
func Cleanup() {
	dropPostgres()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.tmp != "" {
		_ = os.RemoveAll(builds.tmp)
	}
}
