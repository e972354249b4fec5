// Package testenroll keeps join tokens and node certificates in memory for
// tests of the agent port that run without an inventory database: it
// implements agentserver.Enrollment with the rules of core/enroll (tokens
// count their uses, a node has one current certificate, revoking a node
// revokes its certificates).
package testenroll

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/pki"
)

// Records are the join tokens and node certificates of one test server.
type Records struct {
	mu      sync.Mutex
	tokens  map[string]int // token -> uses left
	current map[string]cert
	issued  map[string][]string // node -> every serial recorded
	revoked map[string]bool     // serials
	known   map[string]bool     // serials recorded
}

type cert struct {
	serial   string
	notAfter time.Time
	// token, key and der are set for a certificate issued by enrollment:
	// the join token, the public key (DER SubjectPublicKeyInfo), the
	// certificate.
	token    string
	key, der []byte
}

// New returns records holding token, good for uses enrollments.
func New(token string, uses int) *Records {
	r := &Records{tokens: map[string]int{}, current: map[string]cert{}, issued: map[string][]string{}, revoked: map[string]bool{}, known: map[string]bool{}}
	r.AddToken(token, uses)
	return r
}

// AddToken makes token good for uses more enrollments.
func (r *Records) AddToken(token string, uses int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens[token] += uses
}

// Redeem counts one use of token.
func (r *Records) Redeem(_ context.Context, token string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	left, ok := r.tokens[token]
	switch {
	case !ok:
		return errors.New("unknown join token: create one with quantix node token create")
	case left <= 0:
		return errors.New("join token used up: create another with quantix node token create")
	}
	r.tokens[token] = left - 1
	return nil
}

// RecordCert makes serial node's current certificate.
func (r *Records) RecordCert(_ context.Context, node, serial string, notAfter time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current[node] = cert{serial: serial, notAfter: notAfter}
	r.issued[node] = append(r.issued[node], serial)
	r.known[serial] = true
	return nil
}

// RecordEnrollment makes cert node's current certificate, issued because
// node enrolled with token.
func (r *Records) RecordEnrollment(_ context.Context, node string, c *x509.Certificate, token string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	serial := c.SerialNumber.Text(16)
	r.current[node] = cert{serial: serial, notAfter: c.NotAfter, token: token, key: c.RawSubjectPublicKeyInfo, der: c.Raw}
	r.issued[node] = append(r.issued[node], serial)
	r.known[serial] = true
	return nil
}

// Reenrollment returns node's current certificate when an enrollment with
// token for pubKey issued it and token is still known (used up or not).
func (r *Records) Reenrollment(_ context.Context, node, token string, pubKey []byte) ([]byte, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.current[node]
	_, known := r.tokens[token]
	if !ok || r.revoked[c.serial] || time.Now().After(c.notAfter) || c.der == nil || c.token != token || !known || !bytes.Equal(c.key, pubKey) {
		return nil, false, nil
	}
	return c.der, true, nil
}

// ActiveCert returns node's current certificate unless revoked or expired.
func (r *Records) ActiveCert(_ context.Context, node string) (string, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.current[node]
	if !ok || r.revoked[c.serial] || time.Now().After(c.notAfter) {
		return "", false, nil
	}
	return c.serial, true, nil
}

// Revoked reports whether serial was revoked; a serial never recorded
// counts as revoked.
func (r *Records) Revoked(_ context.Context, serial string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.revoked[serial] || !r.known[serial], nil
}

// RevokeNode revokes every certificate of node.
func (r *Records) RevokeNode(node string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.issued[node]) == 0 {
		return fmt.Errorf("node %q has no certificate", node)
	}
	for _, s := range r.issued[node] {
		r.revoked[s] = true
	}
	delete(r.current, node)
	return nil
}

// TLS makes a cluster agent CA in a temporary directory of t and a server
// certificate it issued for the loopback addresses.
func TLS(t testing.TB) (*pki.CA, tls.Certificate) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir, "Quantix test agent CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServer(dir, []string{"127.0.0.1", "::1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	return ca, cert
}

// Token is a join token in the form the server makes, with secret and the
// fingerprint of ca, so that an agent given it pins ca.
func Token(ca *pki.CA, secret string) string {
	return "qxjoin.test." + secret + "." + ca.Fingerprint()
}
