package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/wait"
)

// vmPrefix starts the name of every VM these tests create, so that a run
// sweeps what an earlier, failed one left on qemu:///system.
const vmPrefix = "qx-cli-"

// e2e is what the end-to-end tests share.
var e2e struct {
	cli        string // the quantix binary
	cliErr     error
	daemon     string // the quantixd binary, the libvirt plugin beside it
	daemonErr  error
	imageDir   string
	libvirtErr error
	tmp        string
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	defer testbin.Cleanup()
	// `make test` passes an absolute QUANTIX_BIN_DIR; a relative one is
	// taken from the repository root, where make builds bin/.
	if dir := os.Getenv(testbin.EnvBinDir); dir != "" && !filepath.IsAbs(dir) {
		if root, err := testbin.RepoRoot(); err == nil {
			_ = os.Setenv(testbin.EnvBinDir, filepath.Join(root, dir))
		}
	}
	tmp, err := os.MkdirTemp("", vmPrefix+"run-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "making a temp dir:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	e2e.tmp = tmp
	e2e.imageDir = filepath.Join(tmp, "images")
	if err := os.Mkdir(e2e.imageDir, 0o755); err == nil {
		err = os.Chmod(tmp, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "making the image dir:", err)
		return 1
	}
	e2e.libvirtErr = testlibvirt.CheckLibvirt()
	if e2e.libvirtErr == nil {
		if err := testlibvirt.Sweep(vmPrefix); err != nil {
			fmt.Fprintln(os.Stderr, "sweeping leftovers of earlier runs:", err)
		}
	}
	e2e.cli, e2e.cliErr = cliBinary(tmp)
	e2e.daemon, e2e.daemonErr = testbin.Daemon()
	code := m.Run()
	if e2e.libvirtErr == nil {
		if err := testlibvirt.Sweep(vmPrefix); err != nil {
			fmt.Fprintln(os.Stderr, "sweeping what the tests left:", err)
			code = 1
		}
	}
	return code
}

// cliBinary returns $QUANTIX_BIN_DIR/quantix when `make build` made it, or
// builds it into dir, without cgo as make does.
func cliBinary(dir string) (string, error) {
	if bin := os.Getenv(testbin.EnvBinDir); bin != "" {
		p := filepath.Join(bin, "quantix")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	root, err := testbin.RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "quantix")
	cmd := exec.Command("go", "build", "-o", p, "./cmd/quantix")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building quantix: %w\n%s", err, out)
	}
	return p, nil
}

// requireE2E fails the test when what the end-to-end tests need is
// missing, holding the host's libvirtd for the test (testlibvirt.UseLibvirt).
func requireE2E(t testing.TB) {
	t.Helper()
	if e2e.cliErr != nil {
		t.Fatalf("the quantix binary is needed: %v", e2e.cliErr)
	}
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd and the libvirt plugin are needed: %v", e2e.daemonErr)
	}
	testlibvirt.UseLibvirt(t)
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// daemon is a `quantixd dev` under test.
type daemon struct {
	cmd  *exec.Cmd
	url  string
	log  string
	done chan struct{}
	// env is the environment of the quantix binary run against it: its
	// address and a configuration directory of its own, holding the
	// login of its admin when the daemon made one.
	env []string
	// token is the admin's token the CLI saved at login, "" when the
	// daemon made no admin.
	token string
}

// startDaemon runs `quantixd dev` on free loopback ports with a temp data
// dir, the libvirt plugin on qemu:///system, and waits until its API
// answers. It is stopped when the test ends; its log is shown when the
// test failed.
func startDaemon(t *testing.T) *daemon {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`plugin "libvirt" {
  config {
    uri            = %q
    image_dir      = %q
    reboot_timeout = "2s"
  }
}
`, testlibvirt.QEMUURI, e2e.imageDir)
	cfgPath := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	rpc := addr
	for rpc == addr {
		rpc = freeAddr(t)
	}
	logFile, err := os.Create(filepath.Join(dir, "quantixd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e2e.daemon, "dev", "-config", cfgPath, "-data-dir", filepath.Join(dir, "data"),
		"-http-addr", addr, "-rpc-addr", rpc)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, url: "http://" + addr, log: logFile.Name(), done: make(chan struct{})}
	d.env = cliEnv(envAddress+"="+d.url, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "HOME="+filepath.Join(dir, "home"))
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(d.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-d.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(d.log)
			t.Logf("quantixd log:\n%s", b)
		}
	})
	exited := func() {
		select {
		case <-d.done:
			b, _ := os.ReadFile(d.log)
			t.Fatalf("quantixd dev exited at start:\n%s", b)
		default:
		}
	}
	wait.UntilNil(t, 30*time.Second, "quantixd dev to answer on "+d.url, func() error {
		exited()
		resp, err := http.Get(d.url + "/api/health")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		return nil
	})
	d.login(t, filepath.Join(dir, "data"))
	wait.UntilNil(t, 30*time.Second, "quantixd dev to serve a READY node on "+d.url, func() error {
		exited()
		resp, err := d.get("/api/nodes")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !nodeReady(resp) {
			return fmt.Errorf("GET /api/nodes: %s, no READY node", resp.Status)
		}
		return nil
	})
	return d
}

// result is what a run of the quantix binary did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cliEnv is the environment of the quantix binary: this process's, without
// QUANTIX_ADDR, QUANTIX_TOKEN and QUANTIX_CACERT, with XDG_CONFIG_HOME and
// HOME in the run's temp dir (no saved login of the real user is read or
// written), plus env; a variable of env wins over one set before.
func cliEnv(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case envAddress, envToken, envCACert, "XDG_CONFIG_HOME", "HOME":
		default:
			out = append(out, kv)
		}
	}
	out = append(out, "XDG_CONFIG_HOME="+filepath.Join(e2e.tmp, "config"), "HOME="+filepath.Join(e2e.tmp, "home"))
	return append(out, env...)
}

// login logs the CLI in as the admin the daemon made at its first start,
// as a user would (quantix login, the password on stdin), when it made one
// (the file admin-password in its data dir); the token saved is sent by
// every later quantix run against d and by d.get.
func (d *daemon) login(t *testing.T, dataDir string) {
	t.Helper()
	pw, err := os.ReadFile(filepath.Join(dataDir, "admin-password"))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e2e.cli, "login", "-username", "admin", "-password-stdin")
	cmd.Env = d.env
	cmd.Stdin = strings.NewReader(strings.TrimSpace(string(pw)) + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("quantix login as the bootstrap admin: %v\n%s", err, out)
	}
	cfg := ""
	for _, kv := range d.env {
		if v, ok := strings.CutPrefix(kv, "XDG_CONFIG_HOME="); ok {
			cfg = v
		}
	}
	st := &store{dir: filepath.Join(cfg, "quantix")}
	l, ok, err := st.login(d.url)
	if err != nil || !ok {
		t.Fatalf("quantix login saved no token for %s: %v", d.url, err)
	}
	d.token = l.Token
}

// get makes a GET on d's API with the admin's token, if any.
func (d *daemon) get(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, d.url+path, nil)
	if err != nil {
		return nil, err
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	return http.DefaultClient.Do(req)
}

// quantix runs the binary against d (through QUANTIX_ADDR) and waits for it.
func (d *daemon) quantix(t *testing.T, args ...string) result {
	t.Helper()
	return runCLI(t, d.env, args...)
}

func runCLI(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(e2e.cli, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running quantix %q: %v", args, err)
	}
	return r
}

// ok runs quantix and fails the test unless it exits 0.
func (d *daemon) ok(t *testing.T, args ...string) result {
	t.Helper()
	r := d.quantix(t, args...)
	if r.code != 0 {
		t.Fatalf("quantix %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// syncBuffer is a buffer written by a process and read by the test.
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

// follower is a quantix process following a stream.
type follower struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	args           []string
}

// follow starts quantix args in the background against d.
func (d *daemon) follow(t *testing.T, args ...string) *follower {
	t.Helper()
	f := &follower{cmd: exec.Command(e2e.cli, args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{}), args: args}
	f.cmd.Env = d.env
	f.cmd.Stdout, f.cmd.Stderr = f.stdout, f.stderr
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = f.cmd.Wait()
		close(f.done)
	}()
	t.Cleanup(func() {
		select {
		case <-f.done:
		default:
			_ = f.cmd.Process.Kill()
			<-f.done
		}
	})
	return f
}

// waitFor waits until the follower's output holds every one of want.
func (f *follower) waitFor(t *testing.T, timeout time.Duration, want ...string) {
	t.Helper()
	f.waitForAfter(t, timeout, 0, want...)
}

// waitForAfter is waitFor for what the command prints after its first skip
// bytes: text it printed before (a tail) does not count.
func (f *follower) waitForAfter(t *testing.T, timeout time.Duration, skip int, want ...string) {
	t.Helper()
	what := fmt.Sprintf("quantix %s to print %q", strings.Join(f.args, " "), want)
	wait.UntilNil(t, timeout, what, func() error {
		out := f.stdout.String()
		if len(out) < skip {
			return fmt.Errorf("printed %d bytes, fewer than the %d it printed before", len(out), skip)
		}
		out = out[skip:]
		missing := ""
		for _, w := range want {
			if !strings.Contains(out, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return nil
		}
		select {
		case <-f.done:
			t.Fatalf("quantix %s exited (%v) before printing %q:\nstdout:\n%s\nstderr:\n%s", strings.Join(f.args, " "), f.cmd.ProcessState, missing, out, f.stderr.String())
		default:
		}
		return fmt.Errorf("no %q yet:\nstdout:\n%s\nstderr:\n%s", missing, out, f.stderr.String())
	})
}

// waitConnected waits until the follower has a TCP connection to d open:
// it is past its flags and set to end cleanly on SIGINT, and it follows
// (or is about to follow) its stream.
func (f *follower) waitConnected(t *testing.T, d *daemon) {
	t.Helper()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(d.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	wait.UntilNil(t, 30*time.Second, fmt.Sprintf("quantix %s to connect to port %s", strings.Join(f.args, " "), port), func() error {
		select {
		case <-f.done:
			t.Fatalf("quantix %s exited (%v):\nstdout:\n%s\nstderr:\n%s", strings.Join(f.args, " "), f.cmd.ProcessState, f.stdout.String(), f.stderr.String())
		default:
		}
		return connectedTo(f.cmd.Process.Pid, port)
	})
}

// connectedTo says whether process pid holds an established TCP connection
// to the loopback port (decimal), from its sockets in /proc.
func connectedTo(pid int, port string) error {
	p, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return err
	}
	sockets := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			sockets[strings.TrimSuffix(inode, "]")] = true
		}
	}
	remote := fmt.Sprintf(":%04X", p)
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 9 && strings.HasSuffix(f[2], remote) && f[3] == "01" && sockets[f[9]] {
				return nil
			}
		}
	}
	return fmt.Errorf("no established connection among its %d sockets", len(sockets))
}

// interrupt sends SIGINT and checks that the follower exits 0 promptly.
func (f *follower) interrupt(t *testing.T) {
	t.Helper()
	if err := f.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("quantix %s did not exit within 10s of SIGINT", strings.Join(f.args, " "))
	}
	if code := f.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("quantix %s exited %d after SIGINT, want 0\nstderr:\n%s", strings.Join(f.args, " "), code, f.stderr.String())
	}
}
