package libvirt

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginBinaryRefusesToRunByHand builds the plugin and runs it without
// the go-plugin handshake: it must say it is a plugin and exit non-zero.
func TestPluginBinaryRefusesToRunByHand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "quantix-backend-libvirt")
	build := exec.Command("go", "build", "-o", bin, "./cmd/quantix-backend-libvirt")
	build.Env = append(build.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("running by hand: err %v, want a non-zero exit\n%s", err, out)
	}
	if !strings.Contains(string(out), "This binary is a plugin") {
		t.Errorf("output does not say it is a plugin:\n%s", out)
	}
}
