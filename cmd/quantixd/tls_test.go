package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/internal/wait"
)

// startTLSServer runs `quantixd server` with args and waits until its API
// answers over TLS, trusting only the certificates of roots. url is the
// https base URL to reach it at.
func startTLSServer(t *testing.T, url string, roots func() *x509.CertPool, args ...string) *proc {
	t.Helper()
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd is needed: %v", e2e.daemonErr)
	}
	p := spawn(t, append([]string{"server"}, args...)...)
	p.url = url
	wait.UntilNil(t, 30*time.Second, "quantixd server to answer over TLS on "+url, func() error {
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("quantixd server exited at start (%v):\n%s", p.err, b)
		default:
		}
		pool := roots()
		if pool == nil {
			return errors.New("no CA certificate yet")
		}
		resp, err := tlsClient(pool).Get(url + "/api/health")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /api/health: %s", resp.Status)
		}
		return nil
	})
	return p
}

func tlsClient(roots *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
}

// filePool reads the PEM certificate at path into a pool, nil while the
// file is not there yet.
func filePool(path string) func() *x509.CertPool {
	return func() *x509.CertPool {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(b) {
			return nil
		}
		return p
	}
}

// portOf returns the port of a host:port.
func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestAPITLSGeneratedCA: `quantixd server` on an address of every
// interface serves TLS by default with a certificate of the CA it
// generated under <data_dir>/pki/api; it logs the CA file and its
// fingerprint; curl and Go clients trusting that CA succeed, without it
// they fail; plain HTTP gets no API; a restart keeps the same CA and
// certificate.
func TestAPITLSGeneratedCA(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	port := portOf(t, freeAddr(t))
	url := "https://127.0.0.1:" + port
	caFile := filepath.Join(data, "pki", "api", pki.CACertFile)
	args := []string{"-data-dir", data, "-http-addr", "0.0.0.0:" + port, "-rpc-addr", freeAddr(t)}
	p := startTLSServer(t, url, filePool(caFile), args...)

	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	ca := parsePEMCert(t, caPEM)
	fp := pki.Fingerprint(ca)
	logText, _ := os.ReadFile(p.log)
	absCA, _ := filepath.Abs(caFile)
	if !strings.Contains(string(logText), "ca_sha256="+fp) || !strings.Contains(string(logText), "ca_file="+absCA) {
		t.Errorf("the log does not name the CA file %s and its fingerprint %s:\n%s", absCA, fp, logText)
	}
	if n := strings.Count(string(logText), "ca_sha256="); n != 1 {
		t.Errorf("the CA fingerprint is logged %d times, want once", n)
	}
	if !strings.Contains(string(logText), "url=https://") {
		t.Errorf("the log does not give the https URL of the API:\n%s", logText)
	}
	for _, f := range []string{pki.CAKeyFile, pki.ServerKeyFile} {
		fi, err := os.Stat(filepath.Join(data, "pki", "api", f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v, want 0600", f, err, fi.Mode().Perm())
		}
	}

	// The served chain ends at the CA and covers 127.0.0.1.
	conn, err := tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: filePool(caFile)()})
	if err != nil {
		t.Fatalf("TLS handshake trusting the generated CA: %v", err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	_ = conn.Close()

	if _, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command("curl", "-sS", "--fail", "--cacert", caFile, url+"/api/health").CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"status":"ok"`) {
			t.Errorf("curl --cacert %s: %v\n%s", caFile, err, out)
		}
		out, err = exec.Command("curl", "-sS", url+"/api/health").CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 60 || !strings.Contains(string(out), "certificate") {
			t.Errorf("curl without the CA: %v, want exit 60 naming the certificate\n%s", err, out)
		}
	} else {
		t.Log("curl is not installed: the Go client stands in for it")
	}
	if _, err := tlsClient(x509.NewCertPool()).Get(url + "/api/health"); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("a client without the CA: %v, want an unknown authority", err)
	}
	resp, err := http.Get("http://127.0.0.1:" + port + "/api/health")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP on the TLS port answered 200: %s", b)
		}
	}

	p.stop(t)
	p = startTLSServer(t, url, filePool(caFile), args...)
	again, err := os.ReadFile(caFile)
	if err != nil || !bytes.Equal(again, caPEM) {
		t.Fatalf("the CA changed across a restart (%v)", err)
	}
	conn, err = tls.Dial("tcp", "127.0.0.1:"+port, &tls.Config{RootCAs: filePool(caFile)()})
	if err != nil {
		t.Fatal(err)
	}
	if !conn.ConnectionState().PeerCertificates[0].Equal(leaf) {
		t.Error("the server certificate changed across a restart")
	}
	_ = conn.Close()
	p.stop(t)
}

// TestAPITLSCertFiles: with -tls-mode on on loopback and a certificate of
// the operator's (here made by core/pki in the test), the API serves that
// certificate and generates no CA of its own; a bad pair stops the start
// naming the keys.
func TestAPITLSCertFiles(t *testing.T) {
	dir := t.TempDir()
	own, err := pki.LoadOrCreateCA(filepath.Join(dir, "own"), "operator CA")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := own.IssueServer(filepath.Join(dir, "own"), []string{"127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "own", pki.ServerCertFile), filepath.Join(dir, "own", pki.ServerKeyFile)
	data := filepath.Join(dir, "data")
	addr := freeAddr(t)
	p := startTLSServer(t, "https://"+addr, own.Pool,
		"-data-dir", data, "-http-addr", addr, "-rpc-addr", freeAddr(t), "-tls-mode", "on",
		"-tls-cert-file", certFile, "-tls-key-file", keyFile)
	if _, err := os.Stat(filepath.Join(data, "pki", "api")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a CA was generated although server.tls.cert_file is set: %v", err)
	}
	p.stop(t)

	bad := spawn(t, "server", "-data-dir", data, "-http-addr", freeAddr(t), "-rpc-addr", freeAddr(t),
		"-tls-cert-file", certFile, "-tls-key-file", certFile)
	<-bad.done
	b, _ := os.ReadFile(bad.log)
	if bad.err == nil || !strings.Contains(string(b), "server.tls.cert_file") || !strings.Contains(string(b), "server.tls.key_file") {
		t.Errorf("a key file that is not a key: %v, want a failed start naming the keys:\n%s", bad.err, b)
	}
}

// TestAPIPlainRefusedOffLoopback: plain HTTP on an address that is not
// loopback stops `quantixd server` before it listens, with an error naming
// server.tls.mode, from a flag as from a file.
func TestAPIPlainRefusedOffLoopback(t *testing.T) {
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd is needed: %v", e2e.daemonErr)
	}
	dir := t.TempDir()
	port := portOf(t, freeAddr(t))
	cfg := filepath.Join(dir, "q.hcl")
	if err := os.WriteFile(cfg, []byte("server {\n  http_addr = \"0.0.0.0:"+port+"\"\n  tls {\n    mode = \"off\"\n  }\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"server", "-data-dir", dir, "-http-addr", "0.0.0.0:" + port, "-tls-mode", "off"},
		{"server", "-data-dir", dir, "-config", cfg},
	} {
		p := spawn(t, args...)
		<-p.done
		b, _ := os.ReadFile(p.log)
		var ee *exec.ExitError
		if !errors.As(p.err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("quantixd %s: %v, want exit code 2", strings.Join(args, " "), p.err)
		}
		if !strings.Contains(string(b), `server.tls.mode is "off", but plain HTTP is allowed only on a loopback server.http_addr`) {
			t.Errorf("quantixd %s: the error does not name server.tls.mode:\n%s", strings.Join(args, " "), b)
		}
		if args[len(args)-2] == "-config" && !strings.Contains(string(b), cfg+":4,") {
			t.Errorf("the error does not point into %s:\n%s", cfg, b)
		}
	}
	// Nothing listened.
	if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
		_ = c.Close()
		t.Error("something listens on the refused port")
	}
}

func parsePEMCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatal("not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
