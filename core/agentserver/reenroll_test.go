package agentserver

import (
	"bytes"
	"context"
	"crypto/x509"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/quantixvm/quantix/core/agent/nodecert"
	"github.com/quantixvm/quantix/core/enroll"
	"github.com/quantixvm/quantix/internal/teststore"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

// losingReply is the enrollment records of the server with one fault: once
// armed, the next enrollment's certificate is recorded, then lost calls
// the client's cancel and waits until the server sees the call cancelled,
// so that its reply never reaches the client.
type losingReply struct {
	*enroll.Service
	armed atomic.Bool
	lost  context.CancelFunc
}

func (l *losingReply) RecordEnrollment(ctx context.Context, node string, cert *x509.Certificate, token string) error {
	if err := l.Service.RecordEnrollment(ctx, node, cert, token); err != nil {
		return err
	}
	if l.armed.CompareAndSwap(true, false) {
		l.lost()
		<-ctx.Done()
	}
	return nil
}

// TestAgentServerEnrollRetry: an enrollment whose reply is lost after the
// server recorded the certificate is retried with the same key and join
// token: the retry gets the same certificate, which opens sessions, and
// the one-use token counts one use. A retry with another key is refused,
// as is one with the key but another token.
func TestAgentServerEnrollRetry(t *testing.T) {
	st := teststore.Open(t, "sqlite")
	rec := &losingReply{}
	e := startAgentServer(t, nil, func(o *Options) {
		svc, err := enroll.New(st.JoinTokens(), st.NodeCerts(), enroll.Options{CAFingerprint: o.CA.Fingerprint()})
		if err != nil {
			t.Fatal(err)
		}
		rec.Service = svc
		o.Enrollment = rec
	})
	ctx := context.Background()
	tok, text, err := rec.Create(ctx, enroll.Spec{TTL: time.Hour, Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := rec.Create(ctx, enroll.Spec{TTL: time.Hour, Uses: 1})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(nodecert.PinnedTLS(e.ca.Fingerprint(), nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := agentv1.NewAgentServiceClient(conn)
	key, csr, err := nodecert.NewRequest("n1")
	if err != nil {
		t.Fatal(err)
	}
	req := &agentv1.EnrollRequest{JoinToken: text, NodeName: "n1", Csr: csr}

	first, cancel := context.WithCancel(ctx)
	rec.lost = cancel
	rec.armed.Store(true)
	if _, err := client.Enroll(first, req); status.Code(err) != codes.Canceled {
		t.Fatalf("the enrollment whose reply is lost: %v; want it cancelled", err)
	}
	serial, ok, err := rec.ActiveCert(ctx, "n1")
	if err != nil || !ok {
		t.Fatalf("the server recorded no certificate for the lost reply: %v, %v", ok, err)
	}

	resp, err := client.Enroll(ctx, req)
	if err != nil {
		t.Fatalf("the retry with the same key and token: %v", err)
	}
	id, err := nodecert.Save(t.TempDir(), key, resp.GetCertificate(), resp.GetCaCertificate())
	if err != nil {
		t.Fatal(err)
	}
	if got := SerialHex(id.Cert.Leaf); got != serial {
		t.Errorf("the retry got certificate %s, want the one recorded for the lost reply, %s", got, serial)
	}
	if ra := resp.GetRenewAfter().AsTime(); !ra.After(time.Now()) || !ra.Before(id.NotAfter()) {
		t.Errorf("renew after %s, want between now and the expiry %s", ra, id.NotAfter())
	}
	tokens, err := rec.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tokens {
		if tk.ID == tok.ID && tk.Used != 1 {
			t.Errorf("the token counts %d uses after the lost reply and the retry, want 1", tk.Used)
		}
	}
	// A second retry gets the same again.
	if again, err := client.Enroll(ctx, req); err != nil || !bytes.Equal(again.GetCertificate(), resp.GetCertificate()) {
		t.Errorf("a second retry: %v", err)
	}

	// The certificate opens a session.
	a := dialScripted(t, e)
	if _, err := agentv1.NewAgentServiceClient(a.dialAs(id)).Register(ctx, &agentv1.RegisterRequest{ProtocolVersion: agentv1.ProtocolVersion_PROTOCOL_VERSION_1}); err != nil {
		t.Errorf("register with the certificate of the retry: %v", err)
	}

	// Holding the token does not take over the node: another key is
	// refused, and so is the key with another token.
	_, otherCSR, err := nodecert.NewRequest("n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enroll(ctx, &agentv1.EnrollRequest{JoinToken: text, NodeName: "n1", Csr: otherCSR}); status.Code(err) != codes.AlreadyExists ||
		!strings.Contains(err.Error(), "node n1 already has a certificate") {
		t.Errorf("a retry with another key: %v; want AlreadyExists", err)
	}
	if _, err := client.Enroll(ctx, &agentv1.EnrollRequest{JoinToken: other, NodeName: "n1", Csr: csr}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("a retry with the key and another token: %v; want AlreadyExists", err)
	}
	if s, _, _ := rec.ActiveCert(ctx, "n1"); s != serial {
		t.Errorf("the node's certificate is now %s, want %s still", s, serial)
	}
	// The token is used up for any other node.
	if _, err := client.Enroll(ctx, &agentv1.EnrollRequest{JoinToken: text, NodeName: "n2", Csr: otherCSR}); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "used up") {
		t.Errorf("the token for another node after the retries: %v; want used up", err)
	}
}
