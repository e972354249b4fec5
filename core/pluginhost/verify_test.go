package pluginhost

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/plugins/logsinks/file"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// nobody is a uid that is neither root nor the user the tests run as.
const nobody = 65534

// installBinary copies the binary at src to dst with mode, as an operator
// installs a plugin.
func installBinary(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	chmod(t, dst, mode)
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// chownNobody gives path to another user than root and the test's, or
// skips the test where only root may do that.
func chownNobody(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("only root can give a file to another user")
	}
	if err := os.Lchown(path, nobody, nobody); err != nil {
		t.Fatal(err)
	}
}

// TestPluginOwnership runs the checks of who may replace a plugin binary
// on the real file log sink and the real backend.
func TestPluginOwnership(t *testing.T) {
	src := fileSinkPath(t, t.TempDir())
	t.Run("Modes", func(t *testing.T) { testLaunchRefusesPluginsOthersCanWrite(t, src) })
	t.Run("Link", func(t *testing.T) { testLaunchRefusesALinkIntoADirectoryOthersCanWrite(t, src) })
	t.Run("Backend", testBackendRefusedWhenOthersCanWrite)
	t.Run("Relaunch", func(t *testing.T) { testRelaunchChecksOwnershipAgain(t, src) })
}

// testLaunchRefusesPluginsOthersCanWrite launches the file log sink from
// binaries and directories with the modes and owners an operator may get
// wrong: a binary or plugin directory writable by its group or everyone, or
// owned by another user, is refused before it runs, with an error naming
// the file and the command that fixes it; the same binary installed safely
// launches.
func testLaunchRefusesPluginsOthersCanWrite(t *testing.T, src string) {
	name := plugin.BinaryName(plugin.TypeLogSink, file.Name)
	type setup struct {
		// binaryMode and dirMode are the modes of the installed binary and
		// of the plugin directory holding it.
		binaryMode, dirMode os.FileMode
		// prepare runs after the install, with the directory and binary.
		prepare func(t *testing.T, dir, bin string)
	}
	cases := []struct {
		name  string
		setup setup
		// fault is what the error names: "binary" or "dir"; "" means the
		// launch must succeed.
		fault   string
		wantFix string
	}{
		{name: "safe", setup: setup{binaryMode: 0o755, dirMode: 0o755}},
		{name: "owner-only", setup: setup{binaryMode: 0o700, dirMode: 0o700}},
		{name: "sticky world-writable directory", setup: setup{binaryMode: 0o755, dirMode: 0o777 | os.ModeSticky}},
		{name: "group-writable binary", setup: setup{binaryMode: 0o775, dirMode: 0o755}, fault: "binary", wantFix: "chmod go-w"},
		{name: "world-writable binary", setup: setup{binaryMode: 0o757, dirMode: 0o755}, fault: "binary", wantFix: "chmod go-w"},
		{name: "group-writable directory", setup: setup{binaryMode: 0o755, dirMode: 0o775}, fault: "dir", wantFix: "chmod go-w"},
		{name: "world-writable directory", setup: setup{binaryMode: 0o755, dirMode: 0o777}, fault: "dir", wantFix: "chmod go-w"},
		{name: "binary owned by another user", fault: "binary", wantFix: "chown",
			setup: setup{binaryMode: 0o755, dirMode: 0o755, prepare: func(t *testing.T, _, bin string) { chownNobody(t, bin) }}},
		{name: "directory owned by another user", fault: "dir", wantFix: "chown",
			setup: setup{binaryMode: 0o755, dirMode: 0o755, prepare: func(t *testing.T, dir, _ string) { chownNobody(t, dir) }}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "plugins")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(dir, name)
			installBinary(t, src, bin, tc.setup.binaryMode)
			chmod(t, dir, tc.setup.dirMode)
			if tc.setup.prepare != nil {
				tc.setup.prepare(t, dir, bin)
			}
			for _, how := range []string{"plugin_dir", "path"} {
				cfg := sinkConfig("", filepath.Join(t.TempDir(), "q.log"))
				if how == "path" {
					cfg.Path = bin
				} else {
					cfg.Dir = dir
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				s, err := LaunchLogSink(ctx, cfg)
				cancel()
				if tc.fault == "" {
					if err != nil {
						t.Fatalf("%s: LaunchLogSink: %v", how, err)
					}
					if err := s.Close(context.Background()); err != nil {
						t.Errorf("%s: Close: %v", how, err)
					}
					continue
				}
				if err == nil {
					_ = s.Close(context.Background())
					t.Fatalf("%s: LaunchLogSink ran a plugin that others than its owner can replace (%s)", how, tc.name)
				}
				culprit := bin
				if tc.fault == "dir" {
					culprit = dir
				}
				for _, want := range []string{`plugin "file"`, "refusing to run " + bin, culprit, tc.wantFix + " "} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: error %q does not say %q", how, err, want)
					}
				}
				if tc.wantFix == "chmod go-w" && !strings.Contains(err.Error(), `"chmod go-w `+culprit+`"`) {
					t.Errorf("%s: error %q does not give the command for %s", how, err, culprit)
				}
			}
		})
	}
}

// testLaunchRefusesALinkIntoADirectoryOthersCanWrite: a plugin path that is
// a link is judged by where it leads, so a safe plugin_dir holding a link
// to a binary in a world-writable directory is refused, naming that
// directory.
func testLaunchRefusesALinkIntoADirectoryOthersCanWrite(t *testing.T, src string) {
	name := plugin.BinaryName(plugin.TypeLogSink, file.Name)
	base := t.TempDir()
	open := filepath.Join(base, "open")
	dir := filepath.Join(base, "plugins")
	for _, d := range []string{open, dir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	installBinary(t, src, filepath.Join(open, name), 0o755)
	chmod(t, open, 0o777)
	if err := os.Symlink(filepath.Join(open, name), filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	cfg := sinkConfig("", filepath.Join(t.TempDir(), "q.log"))
	cfg.Dir = dir
	s, err := LaunchLogSink(t.Context(), cfg)
	if err == nil {
		_ = s.Close(context.Background())
		t.Fatal("LaunchLogSink ran a binary in a world-writable directory through a link")
	}
	if !strings.Contains(err.Error(), `"chmod go-w `+open+`"`) {
		t.Errorf("error %q does not name the world-writable directory %s and its fix", err, open)
	}
}

// testBackendRefusedWhenOthersCanWrite: backends get the same check as log
// sinks; the real backend binary, group-writable, is refused.
func testBackendRefusedWhenOthersCanWrite(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, plugin.BinaryName(plugin.TypeBackend, pluginName))
	installBinary(t, requirePlugin(t), bin, 0o775)
	cfg := testConfig(t)
	cfg.Dir = dir
	b, err := LaunchBackend(t.Context(), cfg)
	if err == nil {
		_ = b.Close()
		t.Fatal("LaunchBackend ran a group-writable backend binary")
	}
	if !strings.Contains(err.Error(), "refusing to run "+bin) || !strings.Contains(err.Error(), `"chmod go-w `+bin+`"`) {
		t.Errorf("error %q does not name %s and its fix", err, bin)
	}
}

// testRelaunchChecksOwnershipAgain: the check runs before every launch, so
// a binary made writable by others while its plugin runs is not relaunched
// after the plugin dies; the status says why.
func testRelaunchChecksOwnershipAgain(t *testing.T, src string) {
	dir := t.TempDir()
	bin := filepath.Join(dir, plugin.BinaryName(plugin.TypeLogSink, file.Name))
	installBinary(t, src, bin, 0o755)
	cfg := sinkConfig(bin, filepath.Join(t.TempDir(), "q.log"))
	s, err := LaunchLogSink(t.Context(), cfg)
	if err != nil {
		t.Fatalf("LaunchLogSink: %v", err)
	}
	defer func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	chmod(t, bin, 0o777)
	pid := s.Status().PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 10*time.Second, "the relaunch to be refused", func() bool {
		st := s.Status()
		return st.LastError != nil && strings.Contains(st.LastError.Error(), `"chmod go-w `+bin+`"`)
	})
	if st := s.Status(); st.Healthy || st.Restarts != 0 {
		t.Errorf("status after the refused relaunch: %+v", st)
	}
}
