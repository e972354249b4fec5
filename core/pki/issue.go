package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/quantixvm/quantix/internal/fsutil"
)

// ServerValidity is how long an issued server certificate is valid.
const ServerValidity = 365 * 24 * time.Hour

// ReissueBefore is how long before its expiry LoadOrIssueServer replaces a
// server certificate.
const ReissueBefore = 30 * 24 * time.Hour

// DefaultServerHosts is the hosts a server certificate for listenAddr
// ("host:port", ":port") covers by default: the listen host unless it is
// empty or a wildcard (0.0.0.0, ::), the machine's hostname if known,
// localhost, 127.0.0.1 and ::1. Duplicates are removed.
func DefaultServerHosts(listenAddr string) []string {
	var hosts []string
	host, _, err := net.SplitHostPort(listenAddr)
	if err != nil {
		host = strings.Trim(listenAddr, "[]")
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		hosts = append(hosts, host)
	}
	if hn, err := os.Hostname(); err == nil && hn != "" {
		hosts = append(hosts, hn)
	}
	hosts = append(hosts, "localhost", "127.0.0.1", "::1")
	return dedupHosts(hosts)
}

func dedupHosts(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		if !slices.ContainsFunc(out, func(o string) bool { return sameHost(o, h) }) {
			out = append(out, h)
		}
	}
	return out
}

func sameHost(a, b string) bool {
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	if ia != nil || ib != nil {
		return ia != nil && ib != nil && ia.Equal(ib)
	}
	return strings.EqualFold(a, b)
}

// IssueServer issues a new server certificate for hosts (IP addresses
// become IP SANs, anything else DNS SANs; the first host is also the
// common name), signed by the CA and valid for ServerValidity, writes it
// and its new key to dir (server.crt 0644, server.key 0600, replacing
// what was there) and returns it with the CA certificate as its chain and
// Leaf set. hosts must not be empty.
func (ca *CA) IssueServer(dir string, hosts []string) (tls.Certificate, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, errors.New("pki: a server certificate needs at least one host")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0], Organization: []string{"Quantix"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range dedupHosts(hosts) {
		h = strings.Trim(h, "[]")
		if h == "" {
			return tls.Certificate{}, errors.New("pki: empty host in server certificate hosts")
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	leaf, key, err := ca.issueKeyed(tmpl, ServerValidity, "server")
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: creating %s: %w", dir, err)
	}
	certPath, keyPath := filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile)
	if err := fsutil.WriteFileAtomicMode(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	if err := fsutil.WriteFileAtomicMode(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: %w", err)
	}
	return ca.tlsCert(leaf, key), nil
}

// LoadOrIssueServer returns the server certificate kept in dir when it
// was issued by this CA, does not expire within ReissueBefore and covers
// every host; otherwise (including when there is none yet) it issues a new
// one with IssueServer. A key file readable by group or others, files that
// do not parse or a key that does not match the certificate are errors
// naming the files.
func (ca *CA) LoadOrIssueServer(dir string, hosts []string) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile)
	certExists, err := exists(certPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyExists, err := exists(keyPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	if !certExists || !keyExists {
		return ca.IssueServer(dir, hosts)
	}
	leaf, _, key, err := loadPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	if ca.serverCertCurrent(leaf, hosts) {
		return ca.tlsCert(leaf, key), nil
	}
	return ca.IssueServer(dir, hosts)
}

// serverCertCurrent reports whether leaf was issued by this CA for server
// authentication, stays valid for more than ReissueBefore and covers hosts.
func (ca *CA) serverCertCurrent(leaf *x509.Certificate, hosts []string) bool {
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:     ca.Pool(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil || time.Until(leaf.NotAfter) < ReissueBefore {
		return false
	}
	return Covers(leaf, hosts)
}

// Covers reports whether cert names every host among its SANs (IP SANs
// for IP addresses, DNS SANs, compared case-insensitively, otherwise).
func Covers(cert *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		h = strings.Trim(h, "[]")
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.ContainsFunc(cert.DNSNames, func(n string) bool { return strings.EqualFold(n, h) }) {
			return false
		}
	}
	return true
}

// SignClientCSR signs a client certificate for the key in the DER-encoded
// CSR, valid for ttl from now. The subject is CN=commonName whatever the
// CSR asks for; the certificate carries no SANs and the client
// authentication usage only. The CSR's signature must verify (the
// requester holds the key). The result is DER.
func (ca *CA) SignClientCSR(csrDER []byte, commonName string, ttl time.Duration) ([]byte, error) {
	if commonName == "" {
		return nil, errors.New("pki: client certificate common name (node name) is empty")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("pki: client certificate ttl %s must be positive", ttl)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("pki: parsing certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("pki: certificate request signature does not verify: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.sign(tmpl, csr.PublicKey, ttl)
}

// sign fills serial, validity and basic constraints into tmpl and signs
// it with the CA key, never past the CA's own expiry.
func (ca *CA) sign(tmpl *x509.Certificate, pub any, ttl time.Duration) ([]byte, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = now.Add(ttl)
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: signing certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	return der, nil
}

// issueKeyed issues the certificate tmpl describes, valid for ttl, for
// a new P-256 key, and returns it parsed with the key; what names the
// certificate in errors ("server", "server peer").
func (ca *CA) issueKeyed(tmpl *x509.Certificate, ttl time.Duration, what string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generating %s key: %w", what, err)
	}
	der, err := ca.sign(tmpl, &key.PublicKey, ttl)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parsing the new %s certificate: %w", what, err)
	}
	return leaf, key, nil
}

func (ca *CA) tlsCert(leaf *x509.Certificate, key *ecdsa.PrivateKey) tls.Certificate {
	return tls.Certificate{
		Certificate: [][]byte{leaf.Raw, ca.cert.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}
}
