package file_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestPluginBinaryRefusesToRunByHand runs the plugin without the go-plugin
// handshake: it must say it is a plugin and exit non-zero.
func TestPluginBinaryRefusesToRunByHand(t *testing.T) {
	cmd := exec.Command(pluginBinary(t))
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
