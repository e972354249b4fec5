package pluginhost

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/wait"
)

// Environment of the re-executed test binary acting as a small daemon.
const (
	envDaemon       = "QUANTIX_PLUGINHOST_TEST_DAEMON"
	envDaemonPlugin = "QUANTIX_PLUGINHOST_TEST_PLUGIN"
)

// pluginName is the real default backend the tests run.
const pluginName = "libvirt"

var (
	// pluginPath is the built quantix-backend-libvirt, "" when it could not
	// be built (buildErr says why).
	pluginPath string
	buildErr   error
)

// testSettings is the config block that gives libvirt's in-memory test
// driver.
func testSettings() map[string]any { return map[string]any{"uri": "test:///default"} }

func TestMain(m *testing.M) {
	if os.Getenv(envDaemon) == "1" {
		os.Exit(runTestDaemon())
	}
	pluginPath, buildErr = testbin.LibvirtPlugin()
	code := m.Run()
	if left := childPlugins(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: plugin processes left behind: %v\n", left)
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		code = 1
	}
	testbin.Cleanup()
	os.Exit(code)
}

// requirePlugin fails the test when the real plugin could not be built: it is
// part of this repository, so its absence is an error, not a reason to skip.
func requirePlugin(t testing.TB) string {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("the real backend plugin is needed: %v", buildErr)
	}
	return pluginPath
}

// syncBuffer is a log output tests read while plugins write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testLogger logs at trace level into the returned buffer.
func testLogger() (hclog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return hclog.New(&hclog.LoggerOptions{Name: "agent", Output: buf, Level: hclog.Trace}), buf
}

// testConfig is a config for the real plugin on the test driver.
func testConfig(t testing.TB) Config {
	path := requirePlugin(t)
	return Config{
		Name:     pluginName,
		Dir:      filepath.Dir(path),
		Settings: testSettings(),
		Supervision: Supervision{
			PollInterval:   50 * time.Millisecond,
			InitialBackoff: 300 * time.Millisecond,
			MaxBackoff:     2 * time.Second,
			StartTimeout:   20 * time.Second,
		},
	}
}

// launch launches cfg and closes it when the test ends, whatever happens.
func launch(t testing.TB, cfg Config) *SupervisedBackend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := LaunchBackend(ctx, cfg)
	if err != nil {
		t.Fatalf("LaunchBackend: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// processAlive reports whether pid runs; a zombie (exited, not yet reaped
// by whoever inherited it) counts as gone.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	state := s[i+2]
	return state != 'Z' && state != 'X'
}

// waitGone waits up to within for process pid to be gone.
func waitGone(t testing.TB, pid int, within time.Duration) {
	t.Helper()
	wait.Until(t, within, fmt.Sprintf("plugin process %d to exit", pid), func() bool { return !processAlive(pid) })
}

// childPlugins lists live children of this process that run a Quantix
// plugin binary.
func childPlugins() []int {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !processAlive(pid) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		fields := strings.Fields(s[i+1:])
		if len(fields) < 2 || fields[1] != strconv.Itoa(self) {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.HasPrefix(filepath.Base(exe), "quantix-") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// runTestDaemon is the re-executed test binary: it launches the plugin
// through a Host, prints its pid, and closes the host on SIGTERM or SIGINT.
func runTestDaemon() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := hclog.New(&hclog.LoggerOptions{Name: "daemon", Output: os.Stderr, Level: hclog.Debug})
	host := NewHost("", logger)
	b, err := host.LaunchBackend(ctx, Config{
		Name:     pluginName,
		Path:     os.Getenv(envDaemonPlugin),
		Settings: testSettings(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("pid %d\n", b.Status().PID)
	<-ctx.Done()
	if err := host.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("closed")
	return 0
}
