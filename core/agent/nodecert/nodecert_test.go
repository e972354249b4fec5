package nodecert_test

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/agent/nodecert"
	"github.com/quantixvm/quantix/internal/testenroll"
)

// TestSaveLoad: an issued certificate is kept with its key and CA (0600)
// and loads back; a key readable by others, a certificate of another key
// and no certificate at all are told apart.
func TestSaveLoad(t *testing.T) {
	ca, _ := testenroll.TLS(t)
	key, csr, err := nodecert.NewRequest("n1")
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.SignClientCSR(csr, "n1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "agent")
	if _, err := nodecert.Load(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of an empty dir: %v; want not exist", err)
	}
	other, _, _ := nodecert.NewRequest("n1")
	if _, err := nodecert.Save(dir, other, der, ca.Certificate().Raw); err == nil || !strings.Contains(err.Error(), "another key") {
		t.Errorf("Save with another key: %v", err)
	}
	id, err := nodecert.Save(dir, key, der, ca.Certificate().Raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{nodecert.KeyFile, nodecert.CertFile, nodecert.CAFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v; want mode 0600", f, err, fi.Mode().Perm())
		}
	}
	got, err := nodecert.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Node() != "n1" || !got.NotAfter().Equal(id.NotAfter()) || nodecert.Fingerprint(got.CA) != ca.Fingerprint() {
		t.Errorf("loaded %q until %s, CA %s", got.Node(), got.NotAfter(), nodecert.Fingerprint(got.CA))
	}
	if ra := got.RenewAt(); !ra.After(time.Now()) || !ra.Before(got.NotAfter()) {
		t.Errorf("renew at %s, certificate until %s", ra, got.NotAfter())
	}
	if err := os.Chmod(filepath.Join(dir, nodecert.KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := nodecert.Load(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("Load with a key readable by others: %v", err)
	}
}

func TestPinFromToken(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		token, want string
		ok          bool
	}{
		{"qxjoin.abcdefgh.secret." + fp, fp, true},
		{"qxjoin.abcdefgh.secret." + strings.ToUpper(fp), fp, true},
		{"qxjoin.abcdefgh.secret.abc", "", false},
		{"qxjoin.abcdefgh." + fp, "", false},
		{"static-token", "", false},
	} {
		got, ok := nodecert.PinFromToken(tc.token)
		if got != tc.want || ok != tc.ok {
			t.Errorf("PinFromToken(%q) = %q, %v; want %q, %v", tc.token, got, ok, tc.want, tc.ok)
		}
	}
	if _, err := nodecert.NormalizeFingerprint("AB:" + strings.Repeat("ab:", 30) + "ab"); err != nil {
		t.Errorf("a fingerprint with colons: %v", err)
	}
}

// TestPinnedTLS: a server whose certificate another CA issued fails the
// handshake with a message naming the pinned fingerprint; the right one
// passes and its CA is found.
func TestPinnedTLS(t *testing.T) {
	ca, cert := testenroll.TLS(t)
	other, _ := testenroll.TLS(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				_ = c.Close()
			}()
		}
	}()
	dial := func(conf *tls.Config) error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return tls.Client(c, conf).Handshake()
	}
	if err := dial(nodecert.PinnedTLS(other.Fingerprint(), nil)); err == nil || !strings.Contains(err.Error(), other.Fingerprint()) {
		t.Errorf("handshake pinning another CA: %v", err)
	}
	var found *x509.Certificate
	if err := dial(nodecert.PinnedTLS(ca.Fingerprint(), func(c *x509.Certificate) { found = c })); err != nil {
		t.Errorf("handshake pinning the server's CA: %v", err)
	}
	if found == nil || nodecert.Fingerprint(found) != ca.Fingerprint() {
		t.Error("the pinned CA was not found in the server's chain")
	}
	if err := dial(nodecert.ServerTLS(other.Certificate(), nil)); err == nil {
		t.Error("a server of another CA was trusted")
	}
	if err := dial(nodecert.ServerTLS(ca.Certificate(), nil)); err != nil {
		t.Errorf("a server of the CA: %v", err)
	}
}

// TestEnrollKey: the key to enroll with is written (0600) before it is
// used and read back by every later attempt, so that retries present one
// key; Save keeps it beside the certificate; a key file open to others or
// that does not parse is refused naming the file.
func TestEnrollKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "agent")
	key, err := nodecert.EnrollKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, nodecert.KeyFile)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	again, err := nodecert.EnrollKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Equal(key) {
		t.Error("a second attempt got another key")
	}
	csr, err := nodecert.RequestFor(again, "n1")
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := testenroll.TLS(t)
	der, err := ca.SignClientCSR(csr, "n1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodecert.Save(dir, key, der, ca.Certificate().Raw); err != nil {
		t.Fatalf("saving the certificate for the kept key: %v", err)
	}
	if id, err := nodecert.Load(dir); err != nil || !id.Cert.PrivateKey.(interface{ Equal(crypto.PrivateKey) bool }).Equal(key) {
		t.Errorf("load after enrolling: %v", err)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := nodecert.EnrollKey(dir); err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("a key readable by others: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := nodecert.EnrollKey(dir); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("a key that does not parse: %v", err)
	}
}
