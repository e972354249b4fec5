package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/plugins/logsinks/file"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// copyPlugin copies the plugin binary at src to dst with mode 0755 and
// returns its "sha256:<hex>" checksum.
func copyPlugin(t *testing.T, src, dst string) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// exited waits for a daemon that must stop on its own at start and returns
// its log; a daemon that serves instead fails the test.
func (p *proc) exited(t *testing.T) string {
	t.Helper()
	wait.Until(t, 60*time.Second, "quantixd to give up starting", func() bool {
		select {
		case <-p.done:
			return true
		default:
		}
		if b, _ := os.ReadFile(p.log); strings.Contains(string(b), "API listening") {
			t.Fatalf("quantixd started serving; it must refuse to start:\n%s", b)
		}
		return false
	})
	b, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if !errors.As(p.err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("quantixd exited with %v, want exit status 1", p.err)
	}
	// The error is a quoted log field: read it as it was written.
	return strings.ReplaceAll(string(b), `\"`, `"`)
}

// TestServerVerifiesLogSinkPlugins: `quantixd server` launches a log sink
// from the path of the plugin block of its name, checked against that
// block's checksum, and refuses a sink binary others than its owner can
// replace, as it does for a backend: each refusal stops the daemon at start
// with an error naming the file and the fix.
func TestServerVerifiesLogSinkPlugins(t *testing.T) {
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd is needed: %v", e2e.daemonErr)
	}
	name := plugin.BinaryName(plugin.TypeLogSink, file.Name)
	built := filepath.Join(logSinkPluginDir(t), name)
	// goodDir is a plugin_dir holding a working sink, which must not be
	// run when the plugin block points elsewhere.
	goodDir := filepath.Join(t.TempDir(), "plugins")
	if err := os.Mkdir(goodDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := copyPlugin(t, built, filepath.Join(goodDir, name))
	elsewhere := filepath.Join(t.TempDir(), "quantix-logsink-file-1.2")
	copyPlugin(t, built, elsewhere)
	const wrongSum = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

	run := func(t *testing.T, pluginDir, pluginBlock string) (*proc, string) {
		dir := t.TempDir()
		sinkPath := filepath.Join(dir, "sink", "entries.log")
		cfg := fmt.Sprintf(`log_level = "info"
plugin_dir = %q
%s
log_sink "file" {
  sources = ["audit", "system"]
  config {
    path = %q
  }
}
`, pluginDir, pluginBlock, sinkPath)
		path := filepath.Join(dir, "quantix.hcl")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return spawn(t, "server", "-config", path, "-data-dir", dir, "-http-addr", freeAddr(t), "-rpc-addr", freeAddr(t)), sinkPath
	}
	mustSay := func(t *testing.T, log string, wants ...string) {
		t.Helper()
		for _, want := range wants {
			if !strings.Contains(log, want) {
				t.Errorf("quantixd's log does not say %q:\n%s", want, log)
			}
		}
	}

	t.Run("path that does not exist", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nowhere", name)
		p, _ := run(t, goodDir, fmt.Sprintf("plugin \"file\" {\n  path = %q\n  checksum = %q\n}", missing, wrongSum))
		log := p.exited(t)
		mustSay(t, log, `starting log sink "file"`, missing+" (the plugin's path) does not exist", `fix path in the plugin "file" block`)
		if strings.Contains(log, "plugin launched") {
			t.Errorf("a sink was launched although its plugin block's path does not exist:\n%s", log)
		}
	})
	t.Run("wrong checksum", func(t *testing.T) {
		p, _ := run(t, goodDir, fmt.Sprintf("plugin \"file\" {\n  path = %q\n  checksum = %q\n}", elsewhere, wrongSum))
		mustSay(t, p.exited(t), "checksum mismatch for "+elsewhere, "expected "+wrongSum, `update checksum in the plugin "file" block`)
	})
	t.Run("plugin_dir others can write", func(t *testing.T) {
		open := filepath.Join(t.TempDir(), "plugins")
		if err := os.Mkdir(open, 0o755); err != nil {
			t.Fatal(err)
		}
		copyPlugin(t, built, filepath.Join(open, name))
		if err := os.Chmod(open, 0o775); err != nil {
			t.Fatal(err)
		}
		p, _ := run(t, open, "")
		mustSay(t, p.exited(t), "refusing to run "+filepath.Join(open, name), fmt.Sprintf("%q", "chmod go-w "+open))
	})
	t.Run("path and checksum that match", func(t *testing.T) {
		empty := t.TempDir()
		p, sinkPath := run(t, empty, fmt.Sprintf("plugin \"file\" {\n  path = %q\n  checksum = %q\n}", elsewhere, sum))
		wait.UntilNil(t, 60*time.Second, "quantixd to serve with the sink of the plugin block's path", func() error {
			select {
			case <-p.done:
				b, _ := os.ReadFile(p.log)
				t.Fatalf("quantixd exited (%v):\n%s", p.err, b)
			default:
			}
			entries, err := file.ReadEntries(sinkPath)
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				return errors.New("the sink holds no entry yet")
			}
			return nil
		})
		p.stop(t)
	})
}
