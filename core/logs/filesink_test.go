package logs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/plugins/logsinks/file"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// fileSinkBinary is quantix-logsink-file from $QUANTIX_BIN_DIR/plugins
// when `make test` built it there, else built once for the run.
var fileSinkBinary = sync.OnceValues(func() (string, error) {
	name := plugin.BinaryName(plugin.TypeLogSink, file.Name)
	if bin := os.Getenv(testbin.EnvBinDir); bin != "" {
		p := filepath.Join(bin, "plugins", name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	root, err := testbin.RepoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "quantix-logs-test-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, "./plugins/logsinks/file/cmd/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the file log sink: %w\n%s", err, b)
	}
	return out, nil
})

// launchFileSink starts the real file sink plugin writing to path.
func launchFileSink(t testing.TB, path string, logger hclog.Logger) *pluginhost.SupervisedLogSink {
	t.Helper()
	bin, err := fileSinkBinary()
	if err != nil {
		t.Fatalf("the file log sink plugin is needed: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := pluginhost.LaunchLogSink(ctx, pluginhost.Config{
		Name: file.Name, Path: bin, Settings: map[string]any{"path": path}, Logger: logger,
		Supervision: pluginhost.Supervision{PollInterval: 20 * time.Millisecond, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond},
	})
	if err != nil {
		t.Fatalf("LaunchLogSink: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// fileIDs returns the distinct ids the file sink wrote at path, and how
// many lines it wrote.
func fileIDs(t testing.TB, path string) (map[string]bool, int) {
	t.Helper()
	ids, n, err := readFileIDs(path)
	if err != nil {
		t.Fatalf("reading the file sink's output: %v", err)
	}
	return ids, n
}

// readFileIDs is fileIDs for a wait: while the sink is writing, the last
// line may be half written, which is an error for now.
func readFileIDs(path string) (map[string]bool, int, error) {
	got, err := file.ReadEntries(path)
	if err != nil {
		return nil, 0, err
	}
	ids := map[string]bool{}
	for _, e := range got {
		ids[e.ID] = true
	}
	return ids, len(got), nil
}

// fileHolds waits until the file at path holds n distinct entries.
func fileHolds(t testing.TB, path string, n int, what string) {
	t.Helper()
	wait.UntilNil(t, settle, what, func() error {
		ids, _, err := readFileIDs(path)
		if err != nil {
			return err
		}
		if len(ids) != n {
			return fmt.Errorf("the file holds %d distinct entries", len(ids))
		}
		return nil
	})
}

// TestPipelineFileSinkPlugin delivers through the real file sink plugin
// process, killed with SIGKILL halfway: the entries appended while it is
// down arrive once the host has relaunched it; none is lost.
func TestPipelineFileSinkPlugin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "entries.log")
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
	sink := launchFileSink(t, path, logger)
	p := openPipeline(t, t.TempDir(), Options{Sinks: []Sink{{Name: "file", Writer: sink}}, Logger: logger})
	first := entries("before", 200)
	mustAppend(t, p, first)
	fileHolds(t, path, 200, "the first entries in the file")

	pid := sink.Status().PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := entries("while-down", 300)
	for i := 0; i < 300; i += 50 {
		mustAppend(t, p, second[i:i+50])
	}
	fileHolds(t, path, 500, "every entry in the file after the relaunch")
	ids, lines := fileIDs(t, path)
	for _, e := range append(first, second...) {
		if !ids[e.ID] {
			t.Fatalf("entry %s (%s) is not in the file", e.ID, e.Message)
		}
	}
	if st := sink.Status(); st.Restarts < 1 {
		t.Errorf("the plugin was not relaunched: %+v", st)
	}
	t.Logf("500 entries, %d lines written (duplicates are allowed: at least once)", lines)
}
