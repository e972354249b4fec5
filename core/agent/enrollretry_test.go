package agent_test

import (
	"context"
	"crypto/x509"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/agent"
	"github.com/quantixvm/quantix/core/agent/nodecert"
	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/enroll"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/teststore"
)

// failAfterRecord is the server's enrollment records with one fault: the
// first enrollment's certificate is recorded, then the call fails, as when
// the reply is lost after the server committed.
type failAfterRecord struct {
	*enroll.Service
	failed atomic.Bool
}

func (f *failAfterRecord) RecordEnrollment(ctx context.Context, node string, cert *x509.Certificate, token string) error {
	if err := f.Service.RecordEnrollment(ctx, node, cert, token); err != nil {
		return err
	}
	if f.failed.CompareAndSwap(false, true) {
		return errors.New("the reply is lost")
	}
	return nil
}

// TestAgentEnrollRetry: an agent whose enrollment reply is lost after the
// server recorded its certificate retries with the key it kept, gets that
// certificate and connects; its one-use join token counts one use.
func TestAgentEnrollRetry(t *testing.T) {
	st := teststore.Open(t, "sqlite")
	rec := &failAfterRecord{}
	srv := startServerOpts(t, "", nil, func(o *agentserver.Options) {
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
	b := testlibvirt.LaunchTestDriver(t)
	dir := t.TempDir()
	runAgent(t, agent.Config{NodeName: "retry-node", Servers: []string{srv.addr}, JoinToken: text, CertDir: dir, Backend: b, MaxBackoff: 300 * time.Millisecond})
	srv.rec.waitReport(t, 0, 10*time.Second, "registration after the lost reply", isKind("register"))
	if !rec.failed.Load() {
		t.Fatal("no enrollment reply was lost")
	}
	id, err := nodecert.Load(dir)
	if err != nil {
		t.Fatalf("the certificate kept: %v", err)
	}
	serial, ok, err := rec.ActiveCert(ctx, "retry-node")
	if err != nil || !ok || serial != agentserver.SerialHex(id.Cert.Leaf) {
		t.Errorf("the node's certificate is %q (%v, %v), the agent has %s; want the one issued before the reply was lost",
			serial, ok, err, agentserver.SerialHex(id.Cert.Leaf))
	}
	list, err := rec.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range list {
		if tk.ID == tok.ID && tk.Used != 1 {
			t.Errorf("the token counts %d uses, want 1", tk.Used)
		}
	}
}
