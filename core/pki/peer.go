package pki

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// A server of the cluster proves it is one to the other servers with a
// client certificate of the cluster (agent) CA that marks it as a server:
// its subject is CN=quantix-server:<id>, OU=quantix-servers, and it carries
// the URI SAN urn:quantix:server:<id>. Node certificates (SignClientCSR)
// carry no SAN and a CN that is a node name, which never contains ':', so
// no node can pose as a server; and a certificate with the server mark is
// never taken as a node's.

// ServerPeerOU is the organizational unit of server peer certificates.
const ServerPeerOU = "quantix-servers"

// serverPeerCN and serverPeerURN prefix the server id in the common name
// and the URI SAN.
const (
	serverPeerCN  = "quantix-server:"
	serverPeerURN = "urn:quantix:server:"
)

// ServerPeerValidity is how long an issued server peer certificate is
// valid.
const ServerPeerValidity = 7 * 24 * time.Hour

// IssueServerPeer issues, in memory, a client certificate marking its
// holder as the cluster server id, signed by the CA, valid for ttl (zero:
// ServerPeerValidity). Nothing is written: a server issues one each time it
// starts. id must be a non-empty string of letters, digits, '-', '_' and
// '.'.
func (ca *CA) IssueServerPeer(id string, ttl time.Duration) (tls.Certificate, error) {
	if err := validServerID(id); err != nil {
		return tls.Certificate{}, err
	}
	if ttl <= 0 {
		ttl = ServerPeerValidity
	}
	u, err := url.Parse(serverPeerURN + id)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: server id %q: %w", id, err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: serverPeerCN + id, OrganizationalUnit: []string{ServerPeerOU}, Organization: []string{"Quantix"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:        []*url.URL{u},
	}
	leaf, key, err := ca.issueKeyed(tmpl, ttl, "server peer")
	if err != nil {
		return tls.Certificate{}, err
	}
	return ca.tlsCert(leaf, key), nil
}

// ServerPeerID returns the server id a server peer certificate names, and
// whether cert is one: it must carry exactly one URI SAN
// urn:quantix:server:<id>, the OU ServerPeerOU and CN quantix-server:<id>
// with the same id. It does not verify the signature: callers take cert
// from a verified chain.
func ServerPeerID(cert *x509.Certificate) (string, bool) {
	if cert == nil || len(cert.URIs) != 1 {
		return "", false
	}
	s := cert.URIs[0].String()
	id, ok := strings.CutPrefix(s, serverPeerURN)
	if !ok || validServerID(id) != nil {
		return "", false
	}
	if cert.Subject.CommonName != serverPeerCN+id || len(cert.Subject.OrganizationalUnit) != 1 || cert.Subject.OrganizationalUnit[0] != ServerPeerOU {
		return "", false
	}
	return id, true
}

// IsServerMarked reports whether cert carries any part of the server
// mark (a URI SAN, the OU or the CN prefix): such a certificate is never
// taken as a node's, even when it is not a well-formed server peer
// certificate.
func IsServerMarked(cert *x509.Certificate) bool {
	if cert == nil {
		return false
	}
	if len(cert.URIs) > 0 || strings.HasPrefix(cert.Subject.CommonName, serverPeerCN) {
		return true
	}
	for _, ou := range cert.Subject.OrganizationalUnit {
		if ou == ServerPeerOU {
			return true
		}
	}
	return false
}

func validServerID(id string) error {
	if id == "" {
		return errors.New("pki: the server id of a server peer certificate is empty")
	}
	if len(id) > 128 {
		return fmt.Errorf("pki: server id %q: longer than 128 characters", id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("pki: server id %q: may only contain letters, digits, '-', '_' and '.'", id)
		}
	}
	return nil
}
