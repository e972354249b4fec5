package controlplane

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/enroll"
	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/testnode"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
)

// newRevokeEnv is an env whose service revokes removed nodes' certificates
// through an enrollment service over certStore (the env's store when nil),
// with a simulated host's real agent connected as node "revoke-test".
func newRevokeEnv(t *testing.T, certStore store.Store) (*env, *enroll.Service) {
	t.Helper()
	e := &env{store: teststore.Open(t, "sqlite"), disp: agentserver.NewDispatcher()}
	if certStore == nil {
		certStore = e.store
	}
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "quantix agents test CA")
	if err != nil {
		t.Fatal(err)
	}
	logger := testlog.New(t, hclog.Warn)
	certs, err := enroll.New(certStore.JoinTokens(), certStore.NodeCerts(), enroll.Options{CAFingerprint: ca.Fingerprint(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(Options{Store: e.store, Executor: e.disp, Logger: logger, NodeCerts: certs})
	if err != nil {
		t.Fatal(err)
	}
	e.svc, e.rec = svc, svc.Reconciler()
	t.Cleanup(e.rec.Close)
	e.host = testnode.Start(t, testnode.Options{Handler: e.rec, Dispatcher: e.disp, Name: "revoke-test", Logger: logger})
	e.b, e.node = e.host.Sim, e.host.ID
	return e, certs
}

// TestRemoveNodeRevokes: removing a node revokes its certificates (and no
// other node's) and ends its agent's session at once; with certificates
// to revoke, a connected agent needs no force.
func TestRemoveNodeRevokes(t *testing.T) {
	e, certs := newRevokeEnv(t, nil)
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	for _, c := range []struct{ node, serial string }{{"revoke-test", "a1"}, {"revoke-test", "a2"}, {"other", "b1"}} {
		if err := certs.RecordCert(ctx, c.node, c.serial, later); err != nil {
			t.Fatal(err)
		}
	}
	id := e.node
	info, err := e.svc.RemoveNode(ctx, "revoke-test", false)
	if err != nil {
		t.Fatalf("removing the connected node without force: %v", err)
	}
	if info.ID != id || !info.Connected {
		t.Errorf("removed %+v, want node %s as it was, connected", info, id)
	}
	for serial, want := range map[string]bool{"a1": true, "a2": true, "b1": false} {
		if rev, err := certs.Revoked(ctx, serial); err != nil || rev != want {
			t.Errorf("Revoked(%s) = %v, %v after removing revoke-test; want %v", serial, rev, err, want)
		}
	}
	if _, ok, _ := certs.ActiveCert(ctx, "revoke-test"); ok {
		t.Error("the removed node still has an active certificate")
	}
	// The session ended: the agent (whose agent server here checks no
	// certificates) comes back and registers again, as a new node.
	wait.Until(t, 10*time.Second, "the agent's session ended and a new one registered", func() bool {
		n, err := e.store.Nodes().GetByName(ctx, "revoke-test")
		return err == nil && n.ID != id
	})
}

// TestRemoveNodeRevokeFails: when the certificates cannot be revoked the
// node is not removed and its session goes on.
func TestRemoveNodeRevokeFails(t *testing.T) {
	certStore := teststore.Open(t, "sqlite")
	e, _ := newRevokeEnv(t, certStore)
	if err := certStore.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.RemoveNode(context.Background(), "revoke-test", true)
	wantKind(t, err, KindInternal, `revoking the certificates of node "revoke-test"`)
	n, err := e.svc.Node(context.Background(), "revoke-test")
	if err != nil {
		t.Fatalf("the node after a failed removal: %v", err)
	}
	if n.ID != e.node || !n.Connected {
		t.Errorf("the node after a failed removal: %+v", n)
	}
}
