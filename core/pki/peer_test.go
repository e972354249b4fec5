package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"
)

// TestServerPeer: a server peer certificate verifies as a client of the
// CA and names its server; a node certificate signed from a CSR asking for
// the server mark carries none of it and is no server's.
func TestServerPeer(t *testing.T) {
	ca := newCA(t)
	cert, err := ca.IssueServerPeer("3f1c-ab", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.VerifyClient(cert.Leaf); err != nil {
		t.Fatalf("server peer certificate does not verify as a client: %v", err)
	}
	if id, ok := ServerPeerID(cert.Leaf); !ok || id != "3f1c-ab" {
		t.Fatalf("ServerPeerID = %q, %v; want 3f1c-ab, true", id, ok)
	}
	if !IsServerMarked(cert.Leaf) {
		t.Fatal("server peer certificate is not marked")
	}
	if left := time.Until(cert.Leaf.NotAfter); left < ServerPeerValidity-time.Minute || left > ServerPeerValidity {
		t.Fatalf("validity left %s, want about %s", left, ServerPeerValidity)
	}
	for _, bad := range []string{"", "a:b", "a/b", "x y"} {
		if _, err := ca.IssueServerPeer(bad, 0); err == nil {
			t.Errorf("IssueServerPeer(%q) succeeded", bad)
		}
	}

	// A node asking, in its CSR, for the server's subject and URI SAN gets
	// neither: the CA signs the node name only.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "quantix-server:3f1c-ab", OrganizationalUnit: []string{ServerPeerOU}},
		URIs:    cert.Leaf.URIs,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.SignClientCSR(csr, "node-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	node, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := ServerPeerID(node); ok {
		t.Fatalf("a node certificate names server %q", id)
	}
	if IsServerMarked(node) {
		t.Fatalf("a node certificate carries the server mark: %+v %v", node.Subject, node.URIs)
	}
}
