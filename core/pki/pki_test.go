package pki

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func newCA(t *testing.T) *CA {
	t.Helper()
	ca, err := LoadOrCreateCA(filepath.Join(t.TempDir(), "tls"), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestLoadOrCreateCA: the first call creates the CA with the modes the
// package promises, later calls load the same CA, and the fingerprint is
// the SHA-256 of the DER certificate stored in ca.crt.
func TestLoadOrCreateCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "tls")
	ca, err := LoadOrCreateCA(dir, "cluster CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700},
		{filepath.Join(dir, CAKeyFile), 0o600},
		{filepath.Join(dir, CACertFile), 0o644},
	} {
		if got := mode(t, c.path); got != c.want {
			t.Errorf("%s: mode %04o, want %04o", c.path, got, c.want)
		}
	}
	cert := ca.Certificate()
	if !cert.IsCA || cert.Subject.CommonName != "cluster CA" {
		t.Errorf("CA certificate IsCA=%v CN=%q", cert.IsCA, cert.Subject.CommonName)
	}
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || cert.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", cert.PublicKey)
	}
	if v := cert.NotAfter.Sub(cert.NotBefore); v < CAValidity || v > CAValidity+time.Hour {
		t.Errorf("CA validity %s, want %s", v, CAValidity)
	}

	stored, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(stored)
	sum := sha256.Sum256(b.Bytes)
	fp := ca.Fingerprint()
	if fp != hex.EncodeToString(sum[:]) || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(fp) {
		t.Errorf("fingerprint %q, want lowercase hex SHA-256 of the stored DER %x", fp, sum)
	}
	if !bytes.Equal(ca.CertPEM(), stored) {
		t.Error("CertPEM differs from ca.crt")
	}

	again, err := LoadOrCreateCA(dir, "ignored on load")
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint() != fp {
		t.Errorf("loaded CA fingerprint %s, created %s", again.Fingerprint(), fp)
	}
	if !again.key.Equal(ca.key) {
		t.Error("loaded CA key differs from the created one")
	}
}

// TestLoadOrCreateCARefuses: bad files are errors naming the file and the
// fix, and are left as they were (never regenerated).
func TestLoadOrCreateCARefuses(t *testing.T) {
	otherKey, err := os.ReadFile(filepath.Join(newCA(t).Dir(), CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		spoil func(t *testing.T, certPath, keyPath string)
		want  []string // substrings the error must hold; "CERT"/"KEY" stand for the paths
	}{
		{"key readable by others", func(t *testing.T, _, k string) { chmod(t, k, 0o644) }, []string{"KEY", "chmod 600"}},
		{"key readable by group", func(t *testing.T, _, k string) { chmod(t, k, 0o640) }, []string{"KEY", "chmod 600"}},
		{"corrupt certificate", func(t *testing.T, c, _ string) { write(t, c, []byte("not a certificate"), 0o644) }, []string{"CERT", "PEM"}},
		{"truncated certificate", func(t *testing.T, c, _ string) { truncate(t, c) }, []string{"CERT"}},
		{"corrupt key", func(t *testing.T, _, k string) { write(t, k, []byte("garbage"), 0o600) }, []string{"KEY", "PEM"}},
		{"truncated key", func(t *testing.T, _, k string) { truncate(t, k) }, []string{"KEY"}},
		{"key of another CA", func(t *testing.T, _, k string) { write(t, k, otherKey, 0o600) }, []string{"KEY", "CERT", "does not match"}},
		{"certificate missing", func(t *testing.T, c, _ string) { remove(t, c) }, []string{"KEY", "CERT", "missing"}},
		{"key missing", func(t *testing.T, _, k string) { remove(t, k) }, []string{"KEY", "CERT", "missing"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := newCA(t).Dir()
			certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
			c.spoil(t, certPath, keyPath)
			before := snapshot(t, dir)
			_, err := LoadOrCreateCA(dir, "test CA")
			if err == nil {
				t.Fatal("loading succeeded")
			}
			for _, w := range c.want {
				w = strings.NewReplacer("CERT", certPath, "KEY", keyPath).Replace(w)
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if after := snapshot(t, dir); !maps.Equal(before, after) {
				t.Errorf("files changed after a refused load: %v -> %v", before, after)
			}
		})
	}
}

// TestServerCertificate: SANs follow the hosts; the certificate is kept
// across calls and reissued when the hosts change, when it nears expiry
// or when another CA issued it; a server key readable by others is
// refused.
func TestServerCertificate(t *testing.T) {
	ca := newCA(t)
	dir := ca.Dir()
	hosts := []string{"node1.example", "10.1.2.3", "::1", "127.0.0.1", "[fe80::1]"}
	first, err := ca.LoadOrIssueServer(dir, hosts)
	if err != nil {
		t.Fatal(err)
	}
	leaf := first.Leaf
	if !slices.Equal(leaf.DNSNames, []string{"node1.example"}) {
		t.Errorf("DNS SANs %v, want [node1.example]", leaf.DNSNames)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(ips, []string{"10.1.2.3", "::1", "127.0.0.1", "fe80::1"}) {
		t.Errorf("IP SANs %v", ips)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) || leaf.IsCA {
		t.Errorf("ExtKeyUsage %v IsCA %v, want server auth only", leaf.ExtKeyUsage, leaf.IsCA)
	}
	if mode(t, filepath.Join(dir, ServerKeyFile)) != 0o600 || mode(t, filepath.Join(dir, ServerCertFile)) != 0o644 {
		t.Error("server key or certificate has the wrong mode")
	}

	serialOf := func(c tls.Certificate) string { return c.Leaf.SerialNumber.String() }
	kept, err := ca.LoadOrIssueServer(dir, []string{"127.0.0.1", "NODE1.example"})
	if err != nil {
		t.Fatal(err)
	}
	if serialOf(kept) != serialOf(first) {
		t.Error("a certificate covering a subset of its hosts was reissued")
	}

	moved, err := ca.LoadOrIssueServer(dir, []string{"node2.example", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if serialOf(moved) == serialOf(first) || !Covers(moved.Leaf, []string{"node2.example", "127.0.0.1"}) {
		t.Errorf("after a host change: serial kept=%v, DNS SANs %v", serialOf(moved) == serialOf(first), moved.Leaf.DNSNames)
	}
	if Covers(moved.Leaf, []string{"node1.example"}) {
		t.Error("the reissued certificate still covers the old host")
	}

	// A certificate expiring within ReissueBefore is replaced.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "h"}, DNSNames: []string{"h"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := ca.sign(tmpl, &key.PublicKey, ReissueBefore-time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, dir, der, key)
	renewed, err := ca.LoadOrIssueServer(dir, []string{"h"})
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(renewed.Leaf.NotAfter) < ServerValidity-time.Hour {
		t.Errorf("near-expiry certificate not reissued: expires %s", renewed.Leaf.NotAfter)
	}

	// A certificate another CA issued is replaced by one from this CA.
	other := newCA(t)
	if _, err := other.IssueServer(dir, []string{"h"}); err != nil {
		t.Fatal(err)
	}
	mine, err := ca.LoadOrIssueServer(dir, []string{"h"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mine.Leaf.CheckSignatureFrom(ca.Certificate()); err != nil {
		t.Errorf("certificate of another CA kept: %v", err)
	}

	chmod(t, filepath.Join(dir, ServerKeyFile), 0o644)
	if _, err := ca.LoadOrIssueServer(dir, []string{"h"}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("server key 0644: err %v, want one naming chmod 600", err)
	}
	if _, err := ca.IssueServer(dir, nil); err == nil {
		t.Error("issuing for no hosts succeeded")
	}
}

func TestDefaultServerHosts(t *testing.T) {
	hn, err := os.Hostname()
	if err != nil || hn == "" {
		t.Skip("no hostname")
	}
	base := []string{hn, "localhost", "127.0.0.1", "::1"}
	cases := []struct {
		addr string
		want []string
	}{
		{":8443", base},
		{"0.0.0.0:8443", base},
		{"[::]:8443", base},
		{"10.0.0.5:8443", append([]string{"10.0.0.5"}, base...)},
		{"[fd00::5]:8443", append([]string{"fd00::5"}, base...)},
		{"api.example:8443", append([]string{"api.example"}, base...)},
		{"127.0.0.1:8443", []string{"127.0.0.1", hn, "localhost", "::1"}},
	}
	for _, c := range cases {
		if got := DefaultServerHosts(c.addr); !slices.Equal(got, c.want) {
			t.Errorf("DefaultServerHosts(%q) = %v, want %v", c.addr, got, c.want)
		}
	}
}

// TestTLSHandshake: a loopback TLS handshake with a server certificate
// from IssueServer succeeds for a client trusting only the CA's pool and
// fails for one trusting another CA; with mutual TLS, a client
// certificate from SignClientCSR is accepted and one from another CA is
// not.
func TestTLSHandshake(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	serverCert, err := ca.IssueServer(t.TempDir(), DefaultServerHosts("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	clientCert := func(signer *CA) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := signer.SignClientCSR(csr(t, key, "node-1"), "node-1", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	cases := []struct {
		name       string
		roots      *x509.CertPool
		mutual     bool
		client     *tls.Certificate
		serverName string
		wantErr    string // "" for success
	}{
		{"trusting the CA", ca.Pool(), false, nil, "", ""},
		{"trusting the CA, by name", ca.Pool(), false, nil, "localhost", ""},
		{"trusting another CA", other.Pool(), false, nil, "", "unknown authority"},
		{"name not covered", ca.Pool(), false, nil, "elsewhere.example", "certificate is valid for"},
		{"mutual, client of the CA", ca.Pool(), true, ptr(clientCert(ca)), "", ""},
		{"mutual, client of another CA", ca.Pool(), true, ptr(clientCert(other)), "", "server"},
		{"mutual, no client certificate", ca.Pool(), true, nil, "", "server"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS13}
			if c.mutual {
				cfg.ClientAuth = tls.RequireAndVerifyClientCert
				cfg.ClientCAs = ca.Pool()
			}
			ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			serverErr := make(chan error, 1)
			go func() {
				conn, err := ln.Accept()
				if err != nil {
					serverErr <- err
					return
				}
				defer conn.Close()
				err = conn.(*tls.Conn).Handshake()
				if err == nil {
					// Under TLS 1.3 the client learns of a refused
					// certificate on its first read: answer one byte.
					_, err = conn.Write([]byte{1})
				}
				serverErr <- err
			}()
			ccfg := &tls.Config{RootCAs: c.roots, ServerName: c.serverName, MinVersion: tls.VersionTLS13}
			if c.client != nil {
				ccfg.Certificates = []tls.Certificate{*c.client}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = dialAndRead(ctx, ln.Addr().String(), ccfg)
			sErr := <-serverErr
			if c.wantErr == "" {
				if err != nil || sErr != nil {
					t.Fatalf("client: %v; server: %v", err, sErr)
				}
				return
			}
			if err == nil {
				t.Fatalf("handshake succeeded (server: %v)", sErr)
			}
			if c.wantErr == "server" {
				if sErr == nil {
					t.Fatalf("server accepted the client; client: %v", err)
				}
				return
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("client error %q, want %q", err, c.wantErr)
			}
		})
	}
}

func dialAndRead(ctx context.Context, addr string, cfg *tls.Config) error {
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	b := make([]byte, 1)
	_, err = conn.Read(b)
	return err
}

// TestSignClientCSR: the certificate's subject is the node name whatever
// the CSR asks for, it carries client authentication only and verifies
// with VerifyClient; bad CSRs and arguments are refused.
func TestSignClientCSR(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	req := csr(t, key, "admin")
	der, err := ca.SignClientCSR(req, "node-1", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "node-1" || len(cert.Subject.Organization) != 0 {
		t.Errorf("subject %v, want CN=node-1 only", cert.Subject)
	}
	if len(cert.DNSNames) != 0 || len(cert.IPAddresses) != 0 {
		t.Errorf("SANs from the CSR copied: %v %v", cert.DNSNames, cert.IPAddresses)
	}
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || cert.IsCA {
		t.Errorf("ExtKeyUsage %v IsCA %v, want client auth only", cert.ExtKeyUsage, cert.IsCA)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		t.Error("certificate is not for the CSR's key")
	}
	if d := time.Until(cert.NotAfter); d < 2*time.Hour-time.Minute || d > 2*time.Hour {
		t.Errorf("certificate expires in %s, want 2h", d)
	}
	if err := ca.VerifyClient(cert); err != nil {
		t.Errorf("VerifyClient: %v", err)
	}
	if err := other.VerifyClient(cert); err == nil {
		t.Error("another CA verified the client certificate")
	}
	server, err := ca.IssueServer(t.TempDir(), []string{"h"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.VerifyClient(server.Leaf); err == nil {
		t.Error("a server certificate verified as a client certificate")
	}
	if err := ca.VerifyClient(nil); err == nil {
		t.Error("VerifyClient(nil) succeeded")
	}

	tampered := bytes.Clone(req)
	tampered[len(tampered)-1] ^= 0xff
	for _, c := range []struct {
		name string
		csr  []byte
		cn   string
		ttl  time.Duration
		want string
	}{
		{"bad signature", tampered, "node-1", time.Hour, "signature"},
		{"not a CSR", []byte("garbage"), "node-1", time.Hour, "parsing"},
		{"empty node name", req, "", time.Hour, "node name"},
		{"zero ttl", req, "node-1", 0, "ttl"},
	} {
		if _, err := ca.SignClientCSR(c.csr, c.cn, c.ttl); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// csr makes a CSR for key asking for CN=cn and a DNS SAN, as a client
// might try.
func csr(t *testing.T, key *ecdsa.PrivateKey, cn string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: cn, Organization: []string{"system:masters"}},
		DNSNames: []string{cn + ".example"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func ptr[T any](v T) *T { return &v }

func chmod(t *testing.T, path string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, m); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path string, data []byte, m os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, m); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	// Keep the PEM armour valid but cut the body: the last line before
	// the END line loses its content.
	lines := strings.Split(string(b), "\n")
	cut := strings.Join(append(lines[:len(lines)-3], lines[len(lines)-2:]...), "\n")
	write(t, path, []byte(cut), fi.Mode().Perm())
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func writePair(t *testing.T, dir string, der []byte, key *ecdsa.PrivateKey) {
	t.Helper()
	keyPEM, err := encodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, ServerCertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	write(t, filepath.Join(dir, ServerKeyFile), keyPEM, 0o600)
}

// snapshot maps each file in dir to its mode and content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, de := range des {
		p := filepath.Join(dir, de.Name())
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		m[de.Name()] = mode(t, p).String() + ":" + string(b)
	}
	return m
}
