package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/plugins/logsinks/file"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// logSinkPluginDir returns a plugin directory holding quantix-logsink-file:
// $QUANTIX_BIN_DIR/plugins when `make test` built it there, else a
// directory it is built into.
func logSinkPluginDir(t testing.TB) string {
	t.Helper()
	name := plugin.BinaryName(plugin.TypeLogSink, file.Name)
	if bin := os.Getenv(testbin.EnvBinDir); bin != "" {
		if fi, err := os.Stat(filepath.Join(bin, "plugins", name)); err == nil && fi.Mode().IsRegular() {
			return filepath.Join(bin, "plugins")
		}
	}
	root, err := testbin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./plugins/logsinks/file/cmd/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, b)
	}
	return dir
}

// writeLogsConfig writes the config of a `quantixd server` with the file
// log sink writing to sinkPath.
func writeLogsConfig(t testing.TB, dir, pluginDir, sinkPath string) string {
	t.Helper()
	cfg := fmt.Sprintf(`log_level = "info"
plugin_dir = %q
log_sink "file" {
  sources = ["ui", "audit", "system"]
  config {
    path = %q
  }
}
`, pluginDir, sinkPath)
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// postUI sends one POST /api/logs/ui with the admin token and reports
// whether it was acknowledged (200 with every entry accepted).
func postUI(p *proc, body []byte) (bool, error) { return postUIAs(p, p.token, body) }

// postUIAs is postUI with another API token: the UI rate limit is per
// credential, so clients sending at once each have their own.
func postUIAs(p *proc, token string, body []byte) (bool, error) {
	req, err := http.NewRequest(http.MethodPost, p.url+"/api/logs/ui", bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := p.sendAs(req, token)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return false, err
	}
	if res.StatusCode != http.StatusOK {
		return false, fmt.Errorf("status %d: %s", res.StatusCode, b)
	}
	return true, nil
}

// exportedMessages returns the message of every stored entry of source.
func exportedMessages(t testing.TB, d *proc, source string) map[string]bool {
	t.Helper()
	res, err := d.get("/api/logs/export?format=json&source=" + source)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var es []logsink.Entry
	if err := json.NewDecoder(res.Body).Decode(&es); err != nil {
		t.Fatalf("export: %v", err)
	}
	out := map[string]bool{}
	for _, e := range es {
		out[e.Message] = true
	}
	return out
}

// TestLogsSurviveKill9: `quantixd server` is killed with SIGKILL while
// clients post UI logs; after a restart every entry it acknowledged (and
// the audit entry of a call it answered) is in the built-in store and in
// the file sink.
func TestLogsSurviveKill9(t *testing.T) {
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd is needed: %v", e2e.daemonErr)
	}
	dir := t.TempDir()
	sinkPath := filepath.Join(dir, "sink", "entries.log")
	cfg := writeLogsConfig(t, dir, logSinkPluginDir(t), sinkPath)
	d := startDaemon(t, "server", "-config", cfg, "-data-dir", dir)

	// A mutating call whose reply came back: its audit entry was durable
	// before the reply.
	r := d.call(t, "POST", "/api/vms", `{"name":"x","vcpus":0}`)
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("POST /api/vms: %d %s", r.status, r.raw)
	}

	const workers, perRequest = 8, 20
	// Each worker is a client of its own, with its own token.
	tokens := make([]string, workers)
	for w := range tokens {
		tokens[w] = d.must(t, http.StatusCreated, "POST", "/api/tokens", fmt.Sprintf(`{"name":"kill9-%d","role":"operator"}`, w)).str("token")
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	requests := 0
	killed := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for req := 0; ; req++ {
				msgs := make([]string, perRequest)
				parts := make([]string, perRequest)
				for i := range parts {
					msgs[i] = fmt.Sprintf("kill9-w%d-r%04d-e%02d", w, req, i)
					parts[i] = fmt.Sprintf(`{"level":"info","component":"dashboard","action":"button.click","message":%q,"sessionId":"kill9-%d-%d"}`, msgs[i], w, req/50)
				}
				ok, err := postUIAs(d, tokens[w], []byte(`{"logs":[`+strings.Join(parts, ",")+`]}`))
				if ok {
					mu.Lock()
					for _, m := range msgs {
						acked[m] = true
					}
					requests++
					if requests == 150 {
						_ = syscall.Kill(d.cmd.Process.Pid, syscall.SIGKILL)
						close(killed)
					}
					mu.Unlock()
				}
				select {
				case <-killed:
					return
				default:
				}
				if err != nil && !strings.Contains(err.Error(), "connection") && !strings.Contains(err.Error(), "EOF") {
					t.Errorf("POST /api/logs/ui: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatal("every client stopped before the daemon was killed")
	}
	<-d.done
	mu.Lock()
	t.Logf("%d requests (%d entries) acknowledged before SIGKILL", requests, len(acked))
	mu.Unlock()

	d = startDaemon(t, "server", "-config", cfg, "-data-dir", dir)
	// missing reports how many acknowledged entries have no message in have.
	missing := func(have map[string]bool) error {
		n := 0
		for m := range acked {
			if !have[m] {
				n++
			}
		}
		if n > 0 {
			return fmt.Errorf("%d of %d are missing", n, len(acked))
		}
		return nil
	}
	wait.UntilNil(t, 60*time.Second, "every acknowledged entry in the store after the restart", func() error {
		return missing(exportedMessages(t, d, "ui"))
	})
	audit := d.must(t, http.StatusOK, "GET", "/api/logs?source=audit&q=/api/vms", "")
	if logs := audit.body["logs"].([]any); len(logs) == 0 || !strings.Contains(audit.raw, `"action":"vm.create"`) {
		t.Errorf("the audit entry of the answered POST /api/vms is not stored: %s", audit.raw)
	}
	wait.UntilNil(t, 60*time.Second, "every acknowledged entry in the file sink after the restart", func() error {
		got, err := file.ReadEntries(sinkPath)
		if err != nil {
			t.Fatal(err)
		}
		inFile := map[string]bool{}
		for _, e := range got {
			inFile[e.Message] = true
		}
		return missing(inFile)
	})
	// The daemon's own log is in the pipeline too.
	sys := d.must(t, http.StatusOK, "GET", "/api/logs?source=system&q=API%20listening", "")
	if len(sys.body["logs"].([]any)) == 0 {
		t.Errorf("no system entry for the daemon's \"API listening\" line: %s", sys.raw)
	}
	res, err := d.get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if !bytes.Contains(b, []byte(`quantix_logs_delivered_total{sink="file",source="ui"}`)) || !bytes.Contains(b, []byte("go_goroutines")) {
		t.Errorf("GET /metrics lacks the pipeline's or the runtime's metrics:\n%.2000s", b)
	}
	d.stop(t)
}
