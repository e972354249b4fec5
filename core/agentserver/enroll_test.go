package agentserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/quantixvm/quantix/core/agent/nodecert"
	"github.com/quantixvm/quantix/internal/testenroll"
	"github.com/quantixvm/quantix/internal/wait"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
)

// TestAgentServerEnrollment: a join token missing or refused is refused
// with a message naming the fix; a second host claiming a node that has a
// certificate is refused while the node's session goes on.
func TestAgentServerEnrollment(t *testing.T) {
	e := startAgentServer(t, nil)
	a := dialScripted(t, e)
	for _, tc := range []struct{ token, want string }{
		{"", "no join token: set agent.join_token to a token from `quantix node token create`"},
		{"wrong", "join token refused: unknown join token: create one with quantix node token create"},
	} {
		_, err := a.enroll("n1", tc.token)
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("enroll with token %q: %v; want Unauthenticated saying %q", tc.token, err, tc.want)
		}
	}
	e.enroll.AddToken("once", 1)
	if _, err := a.enroll("n0", "once"); err != nil {
		t.Fatalf("enroll with a one-use token: %v", err)
	}
	if _, err := a.enroll("n9", "once"); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "used up") {
		t.Errorf("enroll with a used-up token: %v", err)
	}

	a.mustConnect("n1")
	other := dialScripted(t, e)
	_, err := other.enroll("n1", agentToken)
	if status.Code(err) != codes.AlreadyExists || !strings.Contains(err.Error(), "node n1 already has a certificate; remove it with quantix node remove n1") {
		t.Errorf("a second host enrolling as n1: %v; want AlreadyExists naming quantix node remove", err)
	}
	// The claim used up none of the token's uses.
	e.enroll.AddToken("twice", 1)
	if _, err := other.enroll("n1", "twice"); status.Code(err) != codes.AlreadyExists {
		t.Errorf("a second host enrolling as n1 with a one-use token: %v", err)
	}
	if _, err := other.enroll("n3", "twice"); err != nil {
		t.Errorf("the one-use token after a refused claim: %v", err)
	}
	// The real node's session is untouched.
	a.report(a.session, 1, &agentv1.Heartbeat{StateHash: "h"})
	if r := a.recvHeartbeatReply(); r.GetSeq() != 1 {
		t.Errorf("heartbeat reply %v", r)
	}
	if regs := e.rec.registrations(); regs != 1 {
		t.Errorf("%d registrations, want the real node's only", regs)
	}

	// A certificate request that does not verify is refused.
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(nodecert.PinnedTLS(e.ca.Fingerprint(), nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = agentv1.NewAgentServiceClient(conn).Enroll(context.Background(), &agentv1.EnrollRequest{JoinToken: agentToken, NodeName: "n2", Csr: []byte("junk")})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "certificate request") {
		t.Errorf("enroll with a junk request: %v", err)
	}
}

// TestAgentServerNeedsClientCertificate: every call but Enroll needs a
// client certificate of the cluster's CA; a plaintext client and a client
// of another CA fail the TLS handshake.
func TestAgentServerNeedsClientCertificate(t *testing.T) {
	e := startAgentServer(t, nil)
	ctx := context.Background()
	reg := &agentv1.RegisterRequest{ProtocolVersion: agentv1.ProtocolVersion_PROTOCOL_VERSION_1, NodeName: "n1", Host: &backendv1.HostInfo{Hostname: "h"}}

	noCert, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(nodecert.ServerTLS(e.ca.Certificate(), nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer noCert.Close()
	c := agentv1.NewAgentServiceClient(noCert)
	if _, err := c.Register(ctx, reg); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "no client certificate") || !strings.Contains(err.Error(), "agent.join_token") {
		t.Errorf("register without a client certificate: %v", err)
	}
	if _, err := c.Renew(ctx, &agentv1.RenewRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("renew without a client certificate: %v", err)
	}

	plain, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := agentv1.NewAgentServiceClient(plain).Register(ctx, reg); status.Code(err) != codes.Unavailable {
		t.Errorf("register in plaintext: %v; want the connection refused", err)
	}

	// A certificate of another CA, with the node's name, is refused at the
	// handshake.
	otherCA, _ := testenroll.TLS(t)
	key, csr, err := nodecert.NewRequest("n1")
	if err != nil {
		t.Fatal(err)
	}
	der, err := otherCA.SignClientCSR(csr, "n1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	forged := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	fc, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(nodecert.ServerTLS(e.ca.Certificate(), func() *tls.Certificate { return &forged }))))
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	if _, err := agentv1.NewAgentServiceClient(fc).Register(ctx, reg); err == nil {
		t.Error("a certificate of another CA was taken")
	}
	if regs := e.rec.registrations(); regs != 0 {
		t.Errorf("%d refused registrations reached the handler", regs)
	}
}

// TestAgentServerRevocation: a revoked certificate's session ends at once
// when the server is told, and the certificate opens no other; the node's
// name can then be enrolled again.
func TestAgentServerRevocation(t *testing.T) {
	e := startAgentServer(t, nil)
	a := dialScripted(t, e)
	a.mustConnect("n1")
	if err := e.enroll.RevokeNode("n1"); err != nil {
		t.Fatal(err)
	}
	if !e.srv.EndNode("n1", "the node was removed") {
		t.Error("EndNode found no session of n1")
	}
	for {
		_, err := a.stream.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "revoked") {
			t.Errorf("revoked session ended with %v; want Unauthenticated saying revoked", err)
		}
		break
	}
	wait.Until(t, 5*time.Second, "the node disconnected", func() bool { return len(e.disp.Connected()) == 0 })
	if err := a.register("n1", time.Minute); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), `the certificate of node "n1" is revoked`) {
		t.Errorf("register with a revoked certificate: %v", err)
	}
	if e.srv.EndNode("n1", "again") {
		t.Error("EndNode ended a session of a node with none")
	}
	if _, err := dialScripted(t, e).enroll("n1", agentToken); err != nil {
		t.Errorf("enrolling a removed node's name again: %v", err)
	}
}

// TestAgentServerRenew: a node renews its certificate over its connection;
// the new one names the same node, is recorded as the node's, and opens
// sessions.
func TestAgentServerRenew(t *testing.T) {
	e := startAgentServer(t, nil, func(o *Options) { o.ClientCertTTL = time.Hour })
	a := dialScripted(t, e)
	a.mustConnect("n1")
	old := e.ids["n1"]
	if d := time.Until(old.NotAfter()); d > time.Hour || d < 50*time.Minute {
		t.Errorf("certificate valid for %s, want the hour of ClientCertTTL", d)
	}
	key, csr, err := nodecert.NewRequest("whatever")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.client.Renew(context.Background(), &agentv1.RenewRequest{Csr: csr})
	if err != nil {
		t.Fatal(err)
	}
	if ra := resp.GetRenewAfter().AsTime(); time.Until(ra) < 35*time.Minute || time.Until(ra) > 41*time.Minute {
		t.Errorf("renew after %s, want two thirds of the hour from now", ra)
	}
	id, err := nodecert.Save(t.TempDir(), key, resp.GetCertificate(), resp.GetCaCertificate())
	if err != nil {
		t.Fatal(err)
	}
	if id.Node() != "n1" || SerialHex(id.Cert.Leaf) == SerialHex(old.Cert.Leaf) {
		t.Errorf("renewed certificate for %q serial %s; want n1 with a new serial", id.Node(), SerialHex(id.Cert.Leaf))
	}
	if serial, ok, _ := e.enroll.ActiveCert(context.Background(), "n1"); !ok || serial != SerialHex(id.Cert.Leaf) {
		t.Errorf("active certificate %s, want the renewed %s", serial, SerialHex(id.Cert.Leaf))
	}
	next := dialScripted(t, e)
	next.client = agentv1.NewAgentServiceClient(next.dialAs(id))
	if _, err := next.client.Register(context.Background(), &agentv1.RegisterRequest{ProtocolVersion: agentv1.ProtocolVersion_PROTOCOL_VERSION_1}); err != nil {
		t.Errorf("register with the renewed certificate: %v", err)
	}
}

// TestAgentServerDisconnectTellsWhy: a session ended through the
// dispatcher (node removal) ends with the reason, for the agent's log.
func TestAgentServerDisconnectTellsWhy(t *testing.T) {
	e := startAgentServer(t, nil)
	a := dialScripted(t, e)
	a.mustConnect("n1")
	if !e.disp.Disconnect(a.node, "the node was removed from the inventory") {
		t.Fatal("Disconnect found no session")
	}
	for {
		_, err := a.stream.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), "the node was removed from the inventory") {
			t.Errorf("session ended with %v; want Aborted with the reason", err)
		}
		break
	}
}
