package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/plugins/logsinks/file"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// fileSinkPath returns quantix-logsink-file from $QUANTIX_BIN_DIR/plugins
// when `make test` built it, and otherwise builds it into dir.
func fileSinkPath(t testing.TB, dir string) string {
	t.Helper()
	name := plugin.BinaryName(plugin.TypeLogSink, file.Name)
	if bin := os.Getenv("QUANTIX_BIN_DIR"); bin != "" {
		p := filepath.Join(bin, "plugins", name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	root, err := testbin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, "./plugins/logsinks/file/cmd/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the file log sink plugin is needed; building %s: %v\n%s", name, err, b)
	}
	return out
}

// TestLogSink runs the log sink plugin checks on the real file sink.
func TestLogSink(t *testing.T) {
	bin := fileSinkPath(t, t.TempDir())
	t.Run("RelaunchedAfterKill", func(t *testing.T) { testLogSinkRelaunchedAfterKill(t, bin) })
	t.Run("Refusals", func(t *testing.T) { testLaunchLogSinkRefusals(t, bin) })
	t.Run("Close", func(t *testing.T) { testLogSinkClose(t, bin) })
}

// sinkConfig is the config of the file sink writing to path, with fast
// supervision.
func sinkConfig(bin, path string) Config {
	return Config{
		Name:     file.Name,
		Path:     bin,
		Settings: map[string]any{"path": path},
		Supervision: Supervision{
			PollInterval:   20 * time.Millisecond,
			InitialBackoff: 200 * time.Millisecond,
			MaxBackoff:     time.Second,
			StartTimeout:   20 * time.Second,
		},
	}
}

func sinkEntries(prefix string, n int) []logsink.Entry {
	out := make([]logsink.Entry, n)
	for i := range out {
		out[i] = logsink.Entry{
			ID: fmt.Sprintf("%s-%d", prefix, i), Timestamp: time.Now(), Level: logsink.LevelInfo,
			Source: logsink.SourceSystem, Component: logsink.ComponentSystem, Message: "pluginhost test",
		}
	}
	return out
}

// testLogSinkRelaunchedAfterKill kills the sink process: writes fail as
// unavailable (retryable) while it is down, the host relaunches and
// reconfigures it, and writes go on into the same file.
func testLogSinkRelaunchedAfterKill(t *testing.T, bin string) {
	path := filepath.Join(t.TempDir(), "q.log")
	logger, logs := testLogger()
	cfg := sinkConfig(bin, path)
	cfg.Logger = logger
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := LaunchLogSink(ctx, cfg)
	if err != nil {
		t.Fatalf("LaunchLogSink: %v", err)
	}
	defer func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	st := s.Status()
	if !st.Healthy || st.PID == 0 || st.Info.Type != plugin.TypeLogSink || st.APIVersion != logsink.APIVersion {
		t.Fatalf("status after launch: %+v", st)
	}
	relaunched := make(chan int, 2)
	s.OnRelaunch(func(g int) { relaunched <- g })
	write := func(prefix string) ([]logsink.Result, error) {
		return s.Write(ctx, sinkEntries(prefix, 3))
	}
	if res, err := write("before"); err != nil || !res[2].Delivered() {
		t.Fatalf("Write before the kill: %v, %v", res, err)
	}
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, st.PID, 5*time.Second)
	_, err = write("down")
	if !errors.Is(err, plugin.ErrUnavailable) || logsink.ResultOf(err).Outcome != logsink.Retryable {
		t.Errorf("Write while the plugin is down: %v, want unavailable, retryable", err)
	}
	select {
	case g := <-relaunched:
		if g != 2 {
			t.Errorf("relaunch generation %d, want 2", g)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("not relaunched within 10s; status %+v\n%s", s.Status(), logs.String())
	}
	if st2 := s.Status(); !st2.Healthy || st2.Restarts != 1 || st2.PID == st.PID {
		t.Errorf("status after the relaunch: %+v", st2)
	}
	if res, err := write("after"); err != nil || !res[2].Delivered() {
		t.Fatalf("Write after the relaunch: %v, %v", res, err)
	}
	got, err := file.ReadEntries(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if want := "before-0 before-1 before-2 after-0 after-1 after-2"; strings.Join(ids, " ") != want {
		t.Errorf("the file holds %v, want %s (the relaunched plugin was configured with the same path)", ids, want)
	}
	if !strings.Contains(logs.String(), "plugin.file") {
		t.Errorf("the plugin's log lines are not under its name:\n%s", logs.String())
	}
}

// testLaunchLogSinkRefusals checks what fails before anything is left
// running: a bad config block, a binary of the wrong type, no name.
func testLaunchLogSinkRefusals(t *testing.T, bin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	bad := sinkConfig(bin, filepath.Join(t.TempDir(), "q.log"))
	bad.Settings["rotate"] = true
	_, err := LaunchLogSink(ctx, bad)
	if plugin.KindOf(err) != plugin.KindInvalidArgument || plugin.FieldOf(err) != "rotate" ||
		!strings.Contains(err.Error(), `log_sink "file" config: unknown attribute "rotate"; fix the config block of log_sink "file"`) {
		t.Errorf("bad config: %v (kind %s, field %q)", err, plugin.KindOf(err), plugin.FieldOf(err))
	}

	backendAsSink := sinkConfig(bin, filepath.Join(t.TempDir(), "q.log"))
	backendAsSink.Path = requirePlugin(t)
	if _, err := LaunchLogSink(ctx, backendAsSink); err == nil || !strings.Contains(err.Error(), "does not serve a logsink plugin") {
		t.Errorf("a backend binary as a log sink: %v", err)
	}
	sinkAsBackend := testConfig(t)
	sinkAsBackend.Path = bin
	if _, err := LaunchBackend(ctx, sinkAsBackend); err == nil || !strings.Contains(err.Error(), "does not serve a backend plugin") {
		t.Errorf("a log sink binary as a backend: %v", err)
	}

	missing := sinkConfig(bin, "/tmp/x.log")
	missing.Path, missing.Dir = "", t.TempDir()
	if _, err := LaunchLogSink(ctx, missing); err == nil || !strings.Contains(err.Error(), "quantix-logsink-file not found in plugin_dir") {
		t.Errorf("missing binary: %v", err)
	}
	if _, err := LaunchLogSink(ctx, Config{}); err == nil || !strings.Contains(err.Error(), `log_sink "file" {}`) {
		t.Errorf("no name: %v", err)
	}
	if _, err := LaunchLogSink(ctx, Config{Name: "file", Checksum: "md5:00"}); err == nil || !strings.Contains(err.Error(), `log_sink "file": checksum`) {
		t.Errorf("bad checksum: %v", err)
	}
}

// testLogSinkClose checks that Close has the plugin flush and exit, and
// that calls after it fail as unavailable.
func testLogSinkClose(t *testing.T, bin string) {
	path := filepath.Join(t.TempDir(), "q.log")
	ctx := context.Background()
	s, err := LaunchLogSink(ctx, sinkConfig(bin, path))
	if err != nil {
		t.Fatal(err)
	}
	pid := s.Status().PID
	if res, err := s.Write(ctx, sinkEntries("closing", 5)); err != nil || !res[4].Delivered() {
		t.Fatalf("Write: %v, %v", res, err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Errorf("Flush: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitGone(t, pid, 5*time.Second)
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Write(ctx, sinkEntries("late", 1)); !errors.Is(err, plugin.ErrUnavailable) || !strings.Contains(err.Error(), `logsink plugin "file" is shut down`) {
		t.Errorf("Write after Close: %v", err)
	}
	got, err := file.ReadEntries(path)
	if err != nil || len(got) != 5 {
		t.Errorf("the file holds %d entries (%v), want 5", len(got), err)
	}
}
