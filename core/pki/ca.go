// Package pki keeps the certificate authorities Quantix generates for
// itself: a CA kept under a directory (typically <data_dir>/pki/<name>) or,
// for the servers of a cluster, in the database with its private key
// sealed by the cluster key (LoadOrCreateSharedCA); the server
// certificates it issues for the REST API and the agent port; and the
// client certificates it signs for nodes from their CSRs.
//
// Keys are ECDSA P-256. Files are written atomically; private keys have
// mode 0600 and a key file readable by group or others is refused, never
// silently fixed. A corrupt or mismatched pair of files is an error naming
// the files, never a reason to generate new ones.
package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/quantixvm/quantix/internal/fsutil"
)

// File names under a CA directory.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
)

// CAValidity is how long a generated CA certificate is valid.
const CAValidity = 10 * 365 * 24 * time.Hour

// clockSkew is how far before now issued certificates start to be valid,
// so a peer whose clock is a little behind accepts them.
const clockSkew = 5 * time.Minute

// CA is a certificate authority whose certificate and key are kept in a
// directory. Its methods are safe for concurrent use.
type CA struct {
	dir     string
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
}

// LoadOrCreateCA loads the CA kept in dir (ca.crt, ca.key). When neither
// file exists it creates dir (mode 0700) and a self-signed CA with the
// given common name, valid for CAValidity. Only one of the two files
// present, a key file readable by group or others, files that do not
// parse, a key that does not match the certificate, a certificate that is
// not a CA or has expired: each is an error naming the file(s) and what
// to do.
func LoadOrCreateCA(dir, name string) (*CA, error) {
	if dir == "" {
		return nil, errors.New("pki: CA directory is empty")
	}
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certExists, err := exists(certPath)
	if err != nil {
		return nil, err
	}
	keyExists, err := exists(keyPath)
	if err != nil {
		return nil, err
	}
	switch {
	case certExists && keyExists:
		return loadCA(dir)
	case certExists:
		return nil, fmt.Errorf("pki: %s exists but its key %s is missing: restore the key, or remove %s to generate a new CA (certificates it issued stop being trusted)", certPath, keyPath, certPath)
	case keyExists:
		return nil, fmt.Errorf("pki: %s exists but its certificate %s is missing: restore the certificate, or remove %s to generate a new CA", keyPath, certPath, keyPath)
	}
	if name == "" {
		return nil, errors.New("pki: CA common name is empty")
	}
	return createCA(dir, name)
}

func createCA(dir, name string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: creating CA directory: %w", err)
	}
	ca, err := generateCA(name)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(ca.key)
	if err != nil {
		return nil, err
	}
	// The key first: a crash between the two writes leaves a key without a
	// certificate, which the next start reports instead of overwriting.
	if err := fsutil.WriteFileAtomicMode(filepath.Join(dir, CAKeyFile), keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	if err := fsutil.WriteFileAtomicMode(filepath.Join(dir, CACertFile), ca.certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	ca.dir = dir
	return ca, nil
}

// generateCA makes a self-signed CA called name, valid for CAValidity, in
// memory only (no Dir).
func generateCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generating CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Quantix"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parsing the new CA certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &CA{cert: cert, certPEM: certPEM, key: key}, nil
}

func loadCA(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	cert, certPEM, key, err := loadPair(certPath, keyPath)
	if err != nil {
		return nil, err
	}
	if err := checkCACert(cert); err != nil {
		return nil, fmt.Errorf("pki: %s %w: remove %s and %s to generate a new CA", certPath, err, certPath, keyPath)
	}
	return &CA{dir: dir, cert: cert, certPEM: certPEM, key: key}, nil
}

// checkCACert checks that cert is a self-signed CA certificate valid now;
// the error completes "<the certificate> ...".
func checkCACert(cert *x509.Certificate) error {
	if !cert.IsCA || !cert.BasicConstraintsValid || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errors.New("is not a CA certificate")
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return fmt.Errorf("is not self-signed (%v)", err)
	}
	if time.Now().After(cert.NotAfter) {
		return fmt.Errorf("expired on %s", cert.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// loadPair reads a PEM certificate and its PEM private key, refusing a key
// file readable by group or others and a key that does not match the
// certificate.
func loadPair(certPath, keyPath string) (*x509.Certificate, []byte, *ecdsa.PrivateKey, error) {
	fi, err := os.Stat(keyPath)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pki: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, nil, nil, fmt.Errorf("pki: private key %s has mode %04o, readable by group or others: run chmod 600 %s", keyPath, fi.Mode().Perm(), keyPath)
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pki: %w", err)
	}
	cert, err := decodeCert(certPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pki: %s: %w", certPath, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pki: %w", err)
	}
	key, err := decodeKey(keyPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pki: %s: %w", keyPath, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, nil, fmt.Errorf("pki: private key %s does not match certificate %s: restore the matching pair", keyPath, certPath)
	}
	return cert, certPEM, key, nil
}

// Dir is the directory the CA is kept in; for a CA kept in the database
// (LoadOrCreateSharedCA), the directory holding its certificate (ca.crt)
// and this server's server certificates.
func (ca *CA) Dir() string { return ca.dir }

// Certificate is the CA certificate. Callers must not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM is the CA certificate, PEM-encoded, as stored in ca.crt.
func (ca *CA) CertPEM() []byte { return bytes.Clone(ca.certPEM) }

// Fingerprint is the SHA-256 of the CA certificate's DER encoding as 64
// lowercase hex digits, with no prefix or separators (the form a join
// token pins and `openssl x509 -fingerprint -sha256` prints, without its
// colons and upper case).
func (ca *CA) Fingerprint() string { return Fingerprint(ca.cert) }

// Fingerprint is the SHA-256 of cert's DER encoding as lowercase hex, the
// same form as (*CA).Fingerprint.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// Pool is a new pool holding only the CA certificate, for tls.Config's
// RootCAs (clients) or ClientCAs (servers).
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// VerifyClient checks that cert was issued by this CA, is valid now and
// is meant for client authentication.
func (ca *CA) VerifyClient(cert *x509.Certificate) error {
	if cert == nil {
		return errors.New("pki: no client certificate")
	}
	_, err := cert.Verify(x509.VerifyOptions{
		Roots:     ca.Pool(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("pki: client certificate %q: %w", cert.Subject.CommonName, err)
	}
	return nil
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("pki: %w", err)
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: generating serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func decodeKey(data []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block: the file is not a PEM private key")
	}
	var k any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("PEM block is %q, want PRIVATE KEY", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, want ECDSA", k)
	}
	return ek, nil
}

func decodeCert(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block: the file is not a PEM certificate")
	}
	if b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("PEM block is %q, want CERTIFICATE", b.Type)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate: %w", err)
	}
	return c, nil
}
