package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/auth"
	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/wait"
)

// proc is a quantixd process under test.
type proc struct {
	cmd *exec.Cmd
	url string
	rpc string // the agent port of dev and server
	log string
	// token is an API token of user admin, got by logging in once the
	// daemon answers (startDaemon); send puts it on requests.
	token string
	done  chan struct{}
	err   error // set when done closes
}

// requireE2E fails the test when what the end-to-end tests need is
// missing, holding the host's libvirtd for the test (testlibvirt.UseLibvirt).
func requireE2E(t testing.TB) {
	t.Helper()
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

// writeConfig writes the config file of a test daemon: the libvirt plugin
// on qemu:///system with the run's image dir, and the database.
func writeConfig(t testing.TB, dir, driver, dsn string) string {
	t.Helper()
	db := ""
	if driver == "postgres" {
		db = fmt.Sprintf("server {\n  database {\n    driver = \"postgres\"\n    dsn = %q\n  }\n}\n", dsn)
	}
	cfg := fmt.Sprintf(`log_level = "debug"
%s
plugin "libvirt" {
  config {
    uri       = %q
    image_dir = %q
  }
}
`, db, testlibvirt.QEMUURI, e2e.imageDir)
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startDaemon runs `quantixd <args>` with -http-addr and -rpc-addr on free
// ports (unless args set them) and waits until /api/health answers. The
// process is killed when the test ends if it is still running, and its log
// is shown when the test failed.
func startDaemon(t testing.TB, args ...string) *proc {
	t.Helper()
	addr, rpc := flagValue(args, "-http-addr"), flagValue(args, "-rpc-addr")
	if addr == "" {
		addr = freeAddr(t)
		args = append(args, "-http-addr", addr)
	}
	if rpc == "" {
		// A port just closed may be handed out again at once: never give
		// the RPC listener the API's port.
		for rpc == "" || rpc == addr {
			rpc = freeAddr(t)
		}
		args = append(args, "-rpc-addr", rpc)
	}
	p := spawn(t, args...)
	p.url, p.rpc = "http://"+addr, rpc
	wait.UntilNil(t, 30*time.Second, fmt.Sprintf("quantixd %s to answer on %s", strings.Join(args, " "), p.url), func() error {
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("quantixd %s exited at start (%v):\n%s", strings.Join(args, " "), p.err, b)
		default:
		}
		resp, err := http.Get(p.url + "/api/health")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /api/health: %s", resp.Status)
		}
		return nil
	})
	p.login(t, dataDir(t, args))
	return p
}

// dataDir is the data_dir of a daemon started with args: -data-dir, else
// the data_dir of its -config file.
func dataDir(t testing.TB, args []string) string {
	t.Helper()
	if dir := flagValue(args, "-data-dir"); dir != "" {
		return dir
	}
	path := flagValue(args, "-config")
	if path == "" {
		t.Fatalf("quantixd %s: give the test daemon -data-dir or -config, so that it can log in", strings.Join(args, " "))
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.DataDir
}

// login logs in as user admin, as a user of a fresh installation does:
// with the password the first start wrote to <data_dir>/admin-password,
// asking for an API token.
func (p *proc) login(t testing.TB, dataDir string) {
	t.Helper()
	pw, err := os.ReadFile(filepath.Join(dataDir, auth.PasswordFileName))
	if err != nil {
		t.Fatalf("the first start's admin password: %v", err)
	}
	body, err := json.Marshal(map[string]string{"username": auth.AdminUser, "password": strings.TrimSpace(string(pw)), "kind": "token"})
	if err != nil {
		t.Fatal(err)
	}
	r := p.must(t, http.StatusOK, "POST", "/api/auth/login", string(body))
	if p.token = r.str("token"); p.token == "" {
		t.Fatalf("login gave no token: %s", r.raw)
	}
}

// get sends GET path with the admin token.
func (p *proc) get(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, p.url+path, nil)
	if err != nil {
		return nil, err
	}
	return p.send(req)
}

// send sends req with the admin token.
func (p *proc) send(req *http.Request) (*http.Response, error) { return p.sendAs(req, p.token) }

// sendAs sends req with the API token token ("" sends none).
func (p *proc) sendAs(req *http.Request, token string) (*http.Response, error) {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return client.Do(req)
}

// flagValue returns the value following flag in args, or "".
func flagValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// spawn starts `quantixd <args>` in its own process group, logging to a
// file. The process is killed when the test ends if it is still running,
// and its log is shown when the test failed.
func spawn(t testing.TB, args ...string) *proc {
	t.Helper()
	return spawnIn(t, nil, args...)
}

// spawnIn is spawn with the command line prefixed by wrap (such as `ip
// netns exec <ns>`, which executes quantixd in its place).
func spawnIn(t testing.TB, wrap []string, args ...string) *proc {
	t.Helper()
	logFile, err := os.CreateTemp(t.TempDir(), "quantixd-*.log")
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append(slices.Clone(wrap), e2e.daemon), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: logFile.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("quantixd %s log:\n%s", strings.Join(args, " "), b)
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("quantixd did not exit within 60s of SIGTERM")
	}
	if p.err != nil {
		t.Fatalf("quantixd exited with %v", p.err)
	}
	b, _ := os.ReadFile(p.log)
	if !bytes.Contains(b, []byte("quantixd: stopped")) {
		t.Errorf("quantixd's log does not end with a clean stop:\n%s", b)
	}
}

// client talks JSON to a daemon.
var client = &http.Client{Timeout: 2 * time.Minute}

// resp is a decoded reply.
type resp struct {
	status int
	body   map[string]any
	raw    string
}

func (r resp) str(path string) string {
	var cur any = r.body
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[k]
	}
	s, _ := cur.(string)
	return s
}

// call sends a request and decodes the JSON reply.
func (p *proc) call(t testing.TB, method, path, body string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := p.send(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := resp{status: res.StatusCode, raw: string(b)}
	if err := json.Unmarshal(b, &r.body); err != nil {
		t.Fatalf("%s %s: reply is not JSON: %v: %s", method, path, err, b)
	}
	return r
}

// must sends a request and fails unless the status is want.
func (p *proc) must(t testing.TB, want int, method, path, body string) resp {
	t.Helper()
	r := p.call(t, method, path, body)
	if r.status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r
}

// vmName returns a unique VM name whose domain is removed when the test
// ends, whatever happened.
func vmName(t *testing.T) string {
	name := vmPrefix + testid.Hex(4)
	t.Cleanup(func() {
		if err := testlibvirt.RemoveDomain(name); err != nil {
			t.Errorf("removing domain %s: %v", name, err)
		}
	})
	return name
}

// domState is what virsh says of the domain called name, "" when absent.
func domState(t testing.TB, name string) string {
	t.Helper()
	s, ok, err := testlibvirt.DomState(name)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return ""
	}
	return s
}
