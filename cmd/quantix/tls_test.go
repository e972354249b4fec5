package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/internal/wait"
)

// tlsServer is a `quantixd server` serving its API over TLS with the CA it
// generated.
type tlsServer struct {
	url    string // https://127.0.0.1:port
	data   string // its data_dir
	caFile string // <data_dir>/pki/api/ca.crt
	fp     string // the CA's SHA-256 fingerprint
	log    string
}

// startTLSServer runs `quantixd server -tls-mode on` on loopback with a
// temp data dir and waits until its API answers over TLS.
func startTLSServer(t *testing.T, extra ...string) *tlsServer {
	t.Helper()
	if e2e.cliErr != nil {
		t.Fatalf("the quantix binary is needed: %v", e2e.cliErr)
	}
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd is needed: %v", e2e.daemonErr)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	rpc := addr
	for rpc == addr {
		rpc = freeAddr(t)
	}
	data := filepath.Join(dir, "data")
	s := &tlsServer{url: "https://" + addr, data: data, caFile: filepath.Join(data, "pki", "api", pki.CACertFile), log: filepath.Join(dir, "quantixd.log")}
	logFile, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"server", "-data-dir", data, "-http-addr", addr, "-rpc-addr", rpc, "-tls-mode", "on"}, extra...)
	cmd := exec.Command(e2e.daemon, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(s.log)
			t.Logf("quantixd log:\n%s", b)
		}
	})
	wait.UntilNil(t, 30*time.Second, "quantixd server to answer over TLS on "+s.url, func() error {
		select {
		case <-done:
			b, _ := os.ReadFile(s.log)
			t.Fatalf("quantixd server exited at start:\n%s", b)
		default:
		}
		b, err := os.ReadFile(s.caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return errors.New("ca.crt is not complete yet")
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := c.Get(s.url + "/api/health")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /api/health: %s", resp.Status)
		}
		return nil
	})
	b, _ := os.ReadFile(s.caFile)
	ca, err := parseCert(b)
	if err != nil {
		t.Fatal(err)
	}
	s.fp = pki.Fingerprint(ca)
	return s
}

func parseCert(pemBytes []byte) (*x509.Certificate, error) {
	der, _ := pemDecode(pemBytes)
	if der == nil {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(der)
}

// adminEnv is QUANTIX_TOKEN set to the token of the admin quantixd made
// at its first start, when it made one.
func (s *tlsServer) adminEnv(t *testing.T) []string {
	b, err := os.ReadFile(filepath.Join(s.data, "admin-token"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return []string{envToken + "=" + strings.TrimSpace(string(b))}
}

// configHome is a fresh XDG_CONFIG_HOME (and HOME) for the CLI.
func configHome(t *testing.T) (dir string, env []string) {
	dir = t.TempDir()
	return dir, []string{"XDG_CONFIG_HOME=" + dir, "HOME=" + dir}
}

// TestCLITLS: against the API over TLS with the CA quantixd generated,
// the CLI succeeds with -ca-cert or QUANTIX_CACERT; without them, with
// another CA, or over plain HTTP, it fails naming the fix.
func TestCLITLS(t *testing.T) {
	s := startTLSServer(t)
	_, home := configHome(t)
	env := cliEnv(append(append(home, envAddress+"="+s.url), s.adminEnv(t)...)...)

	r := runCLI(t, env, "node", "list")
	if r.code != exitError || !strings.Contains(r.stderr, "certificate") ||
		!strings.Contains(r.stderr, "-ca-cert FILE") || !strings.Contains(r.stderr, envCACert) || !strings.Contains(r.stderr, "quantix login") {
		t.Errorf("without the CA: %s\nwant exit 1 naming -ca-cert, %s and quantix login", r, envCACert)
	}
	if r := runCLI(t, env, "node", "list", "-ca-cert", s.caFile); r.code != 0 || !strings.Contains(r.stderr, "no nodes") {
		t.Errorf("-ca-cert %s: %s", s.caFile, r)
	}
	if r := runCLI(t, append(env, envCACert+"="+s.caFile), "-output", "json", "node", "list"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("%s=%s: %s", envCACert, s.caFile, r)
	}
	if r := runCLI(t, append(env, envCACert+"="+s.caFile), "version"); r.code != 0 || !strings.Contains(r.stdout, "server: quantixd") {
		t.Errorf("version over TLS: %s", r)
	}

	other, err := pki.LoadOrCreateCA(filepath.Join(t.TempDir(), "other"), "another CA")
	if err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(other.Dir(), pki.CACertFile)
	r = runCLI(t, env, "node", "list", "-ca-cert", otherFile)
	if r.code != exitError || !strings.Contains(r.stderr, "not signed by the CA of -ca-cert ("+otherFile+")") {
		t.Errorf("-ca-cert of another CA: %s", r)
	}
	r = runCLI(t, env, "node", "list", "-ca-cert", filepath.Join(t.TempDir(), "missing.crt"))
	if r.code != exitUsage || !strings.Contains(r.stderr, "-ca-cert: reading the CA certificate") {
		t.Errorf("-ca-cert of a missing file: %s", r)
	}
	r = runCLI(t, env, "node", "list", "-address", "http"+strings.TrimPrefix(s.url, "https"))
	if r.code != exitError || !strings.Contains(r.stderr, "use an https:// address") {
		t.Errorf("http:// to the TLS port: %s", r)
	}
	if r := runCLI(t, env, "node", "list", "-address", strings.Replace(s.url, "127.0.0.1", "localhost", 1), "-ca-cert", s.caFile); r.code != 0 {
		t.Errorf("localhost, which the certificate names: %s", r)
	}
}

// TestCLILoginTrustsCA: quantix login against a CA it does not know shows
// the CA's fingerprint and trusts it only when the person says so on a
// terminal, or when -accept-fingerprint matches; the CA is then kept and
// trusted for that address by later commands.
func TestCLILoginTrustsCA(t *testing.T) {
	s := startTLSServer(t)
	cfg, home := configHome(t)
	env := cliEnv(append(home, envAddress+"="+s.url)...)
	savedCA := filepath.Join(cfg, "quantix", "ca", strings.NewReplacer(":", "_").Replace(strings.TrimPrefix(s.url, "https://"))+".crt")
	login := func(stdin string, args ...string) result {
		cmd := exec.Command(e2e.cli, append([]string{"login", "-username", "admin", "-password-stdin"}, args...)...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		r := result{stdout: stdout.String(), stderr: stderr.String()}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return r
	}
	notSaved := func(what string) {
		t.Helper()
		if _, err := os.Stat(savedCA); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: the CA was saved (%v)", what, err)
		}
	}

	// Without a terminal and without -accept-fingerprint: refused.
	r := login("y\nsecret\n")
	if r.code != exitError || !strings.Contains(r.stderr, "SHA-256 fingerprint: "+s.fp) || !strings.Contains(r.stderr, "-accept-fingerprint") {
		t.Errorf("login without a terminal: %s\nwant the fingerprint %s and -accept-fingerprint named", r, s.fp)
	}
	notSaved("no terminal")
	wrong := strings.Repeat("ab", 32)
	r = login("secret\n", "-accept-fingerprint", wrong)
	if r.code != exitError || !strings.Contains(r.stderr, "not the "+wrong) {
		t.Errorf("login with a wrong fingerprint: %s", r)
	}
	notSaved("wrong fingerprint")

	// On a terminal (script(1) gives the CLI one; its stdin is typed
	// into it): "n" refuses, "y" trusts.
	if _, err := exec.LookPath("script"); err != nil {
		t.Fatalf("script(1) is needed to give quantix login a terminal: %v", err)
	}
	onTTY := func(answer string) string {
		line := fmt.Sprintf("%q login -username admin", e2e.cli)
		cmd := exec.Command("script", "-qec", line, "/dev/null")
		cmd.Env = env
		cmd.Stdin = strings.NewReader(answer + "\nsecret\n")
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	out := onTTY("n")
	if !strings.Contains(out, "SHA-256 fingerprint: "+s.fp) || !strings.Contains(out, "Trust this CA for "+s.url+"? [y/N]") || !strings.Contains(out, "was not trusted") {
		t.Errorf("answering n on a terminal:\n%s", out)
	}
	notSaved("answer n")
	out = onTTY("y")
	if !strings.Contains(out, "Trusting the CA for "+s.url) {
		t.Fatalf("answering y on a terminal:\n%s", out)
	}
	b, err := os.ReadFile(savedCA)
	if err != nil {
		t.Fatalf("the trusted CA was not saved in %s: %v\n%s", savedCA, err, out)
	}
	if ca, err := parseCert(b); err != nil || pki.Fingerprint(ca) != s.fp {
		t.Errorf("the saved CA is not the server's: %v", err)
	}
	for _, p := range []string{filepath.Join(cfg, "quantix"), filepath.Join(cfg, "quantix", "ca")} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, want mode 0700", p, err)
		}
	}
	// Later commands to that address trust it with no flag.
	if r := runCLI(t, append(env, s.adminEnv(t)...), "node", "list"); r.code != 0 {
		t.Errorf("node list after trusting the CA at login: %s", r)
	}
	// -accept-fingerprint with the right value (colons and upper case
	// allowed) trusts it without a terminal.
	_ = os.Remove(savedCA)
	var colon []string
	for i := 0; i < len(s.fp); i += 2 {
		colon = append(colon, strings.ToUpper(s.fp[i:i+2]))
	}
	r = login("secret\n", "-accept-fingerprint", strings.Join(colon, ":"))
	if !strings.Contains(r.stderr, "Trusting the CA for "+s.url) {
		t.Errorf("login with the right fingerprint: %s", r)
	}
	if _, err := os.Stat(savedCA); err != nil {
		t.Errorf("the CA accepted by fingerprint was not saved: %v", err)
	}
}

// pemDecode returns the DER of the first PEM CERTIFICATE block of b and
// what follows it.
func pemDecode(b []byte) ([]byte, []byte) {
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, rest
	}
	return blk.Bytes, rest
}
