// Package nodecert is the agent's side of node identity on the agent port:
// the node's key, its client certificate and the cluster's agent CA kept
// in a directory, the certificate requests the agent sends to enroll and
// renew, the TLS configurations it dials with, and the CA fingerprint a
// join token carries.
//
// The key never leaves the agent: it is made here, and only a certificate
// request signed by it is sent. Files are written atomically with mode
// 0600. A server is trusted when its certificate chains to the cluster's
// agent CA (pinned by fingerprint before the agent has that CA); host names
// are not checked, since that CA issues certificates for Quantix servers
// only.
package nodecert

import (
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
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/quantixvm/quantix/internal/fsutil"
)

// File names under the agent's certificate directory.
const (
	KeyFile  = "node.key"
	CertFile = "node.crt"
	CAFile   = "ca.crt"
)

// JoinTokenPrefix starts a join token made by the server
// (`qxjoin.<id>.<secret>.<ca-sha256-hex>`).
const JoinTokenPrefix = "qxjoin."

// Identity is a node's client certificate, its key and the CA that issued
// it.
type Identity struct {
	// Cert is the client certificate with its key; Leaf is set.
	Cert tls.Certificate
	// CA is the cluster's agent CA.
	CA *x509.Certificate
}

// Node is the node name the certificate is for (its common name).
func (id *Identity) Node() string { return id.Cert.Leaf.Subject.CommonName }

// NotAfter is when the certificate expires.
func (id *Identity) NotAfter() time.Time { return id.Cert.Leaf.NotAfter }

// RenewAt is when a certificate loaded from disk should be renewed: once
// two thirds of its validity have passed.
func (id *Identity) RenewAt() time.Time {
	l := id.Cert.Leaf
	return l.NotAfter.Add(-l.NotAfter.Sub(l.NotBefore) / 3)
}

// Load reads the identity kept in dir. When none is kept (no certificate
// file) the error wraps fs.ErrNotExist. A key file readable by group or
// others, files that do not parse, a key that does not match the
// certificate or a certificate the CA did not issue are errors naming the
// files.
func Load(dir string) (*Identity, error) {
	certPath, keyPath, caPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile), filepath.Join(dir, CAFile)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no node certificate in %s: %w", dir, err)
		}
		return nil, fmt.Errorf("reading the node certificate: %w", err)
	}
	fi, err := os.Stat(keyPath)
	if err != nil {
		return nil, fmt.Errorf("%s exists but its key cannot be read: %v; remove %s to enroll again with a join token", certPath, err, certPath)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("node key %s has mode %04o, readable by group or others: run chmod 600 %s", keyPath, fi.Mode().Perm(), keyPath)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("reading the node key: %w", err)
	}
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		return nil, fmt.Errorf("%s exists but the CA certificate cannot be read: %v; remove %s to enroll again with a join token", certPath, err, certPath)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("node certificate %s and key %s: %w; remove both to enroll again with a join token", certPath, keyPath, err)
	}
	ca, err := parsePEMCert(caPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate %s: %w", caPath, err)
	}
	id := &Identity{Cert: cert, CA: ca}
	if err := id.verify(); err != nil {
		return nil, fmt.Errorf("node certificate %s: %w; remove %s to enroll again with a join token", certPath, err, certPath)
	}
	return id, nil
}

// Save checks that certDER is a client certificate for key issued by the
// CA caDER and keeps the three in dir (created with mode 0700): the key
// first, so that a crash never leaves a certificate whose key is another.
func Save(dir string, key *ecdsa.PrivateKey, certDER, caDER []byte) (*Identity, error) {
	leaf, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("the server sent a certificate that does not parse: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("the server sent a CA certificate that does not parse: %w", err)
	}
	if !key.PublicKey.Equal(leaf.PublicKey) {
		return nil, errors.New("the server sent a certificate for another key")
	}
	id := &Identity{Cert: tls.Certificate{Certificate: [][]byte{certDER}, PrivateKey: key, Leaf: leaf}, CA: ca}
	if err := id.verify(); err != nil {
		return nil, fmt.Errorf("the server sent a certificate that does not verify: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the node key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the certificate directory: %w", err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})},
		{CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})},
		{CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})},
	}
	for _, f := range files {
		if err := fsutil.WriteFileAtomicMode(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			return nil, fmt.Errorf("keeping the node certificate: %w", err)
		}
	}
	return id, nil
}

// verify checks that the certificate chains to the CA for client
// authentication and is valid now.
func (id *Identity) verify() error {
	pool := x509.NewCertPool()
	pool.AddCert(id.CA)
	_, err := id.Cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err
}

// NewRequest makes a P-256 key and a certificate request for node signed
// by it (DER).
func NewRequest(node string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating the node key: %w", err)
	}
	csr, err := RequestFor(key, node)
	if err != nil {
		return nil, nil, err
	}
	return key, csr, nil
}

// RequestFor makes a certificate request for node signed by key (DER).
func RequestFor(key *ecdsa.PrivateKey, node string) ([]byte, error) {
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: node}}, key)
	if err != nil {
		return nil, fmt.Errorf("making the certificate request: %w", err)
	}
	return csr, nil
}

// EnrollKey returns the key a node without a certificate enrolls with: the
// one kept in dir's KeyFile, or a new P-256 key written there (mode 0600,
// dir created with mode 0700) before it is returned. Every attempt to
// enroll thus presents the same key, across restarts too, so that a retry
// of an enrollment whose reply was lost gets the certificate the server
// issued for it. A key file readable by group or others, or that does not
// parse, is an error naming the file.
func EnrollKey(dir string) (*ecdsa.PrivateKey, error) {
	path := filepath.Join(dir, KeyFile)
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("node key %s has mode %04o, readable by group or others: run chmod 600 %s", path, fi.Mode().Perm(), path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading the node key: %w", err)
		}
		return parseKey(path, data)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading the node key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the node key: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the node key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the certificate directory: %w", err)
	}
	if err := fsutil.WriteFileAtomicMode(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, fmt.Errorf("keeping the node key: %w", err)
	}
	return key, nil
}

// parseKey reads the PEM P-256 key of file path.
func parseKey(path string, data []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("node key %s is not a PEM private key: remove it to enroll with a new key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("node key %s: %w; remove it to enroll with a new key", path, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("node key %s is a %T, not an ECDSA key: remove it to enroll with a new key", path, k)
	}
	return key, nil
}

// PinFromToken returns the CA fingerprint a join token made by the server
// carries (its last dot-separated part), false for another token (the
// static server.join_token).
func PinFromToken(token string) (string, bool) {
	if !strings.HasPrefix(token, JoinTokenPrefix) {
		return "", false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 4 {
		return "", false
	}
	fp, err := NormalizeFingerprint(parts[3])
	if err != nil {
		return "", false
	}
	return fp, true
}

// NormalizeFingerprint returns a SHA-256 fingerprint as 64 lowercase hex
// digits; colons and upper case, as openssl prints it, are accepted.
func NormalizeFingerprint(fp string) (string, error) {
	s := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(fp), ":", ""))
	if b, err := hex.DecodeString(s); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%q is not a SHA-256 fingerprint (64 hex digits)", fp)
	}
	return s, nil
}

// Fingerprint is the SHA-256 of cert's DER encoding as lowercase hex.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// ReadCAFile reads a PEM CA certificate (agent.ca_cert).
func ReadCAFile(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := parsePEMCert(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !c.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate: give the cluster's agent CA (<data_dir>/pki/agents/ca.crt on the server)", path)
	}
	return c, nil
}

// PinnedTLS is the TLS configuration of an enrollment: the server is
// trusted when its chain holds a CA certificate of SHA-256 fingerprint fp
// that issued its certificate. The CA is returned through found once seen.
func PinnedTLS(fp string, found func(*x509.Certificate)) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is verified by VerifyConnection, against the pinned CA
		// rather than the system's roots and without a host name.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			for _, c := range cs.PeerCertificates[1:] {
				if Fingerprint(c) != fp {
					continue
				}
				if err := verifyServer(cs.PeerCertificates, c); err != nil {
					return err
				}
				if found != nil {
					found(c)
				}
				return nil
			}
			return fmt.Errorf("the server's certificate is not issued by the CA of fingerprint %s the join token (or agent.ca_fingerprint) pins: this is not that cluster's server, or the token is for another cluster", fp)
		},
	}
}

// ServerTLS is the TLS configuration of an agent that trusts ca: the
// server's certificate must chain to it. cert, when not nil, gives the
// client certificate at each handshake (it may change with renewals).
func ServerTLS(ca *x509.Certificate, cert func() *tls.Certificate) *tls.Config {
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			return verifyServer(cs.PeerCertificates, ca)
		},
	}
	if cert != nil {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert(), nil }
	}
	return c
}

// verifyServer checks that chain[0] is a server certificate issued by ca.
func verifyServer(chain []*x509.Certificate, ca *x509.Certificate) error {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("the server's certificate is not issued by the cluster's agent CA (fingerprint %s): %w", Fingerprint(ca), err)
	}
	return nil
}

func parsePEMCert(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}
