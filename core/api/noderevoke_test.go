package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/enroll"
	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/testnode"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
)

// newRevokeEnv is an env whose control plane revokes removed nodes'
// certificates through certs, which is an enrollment service over certStore
// (the env's store when nil).
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
	svc, err := controlplane.New(controlplane.Options{Store: e.store, Executor: e.disp, Logger: logger, NodeCerts: certs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Reconciler().Close)
	e.svc = svc
	e.host = testnode.Start(t, testnode.Options{Handler: svc.Reconciler(), Dispatcher: e.disp, Name: "api-test", Logger: logger})
	e.b, e.node = e.host.Sim, e.host.ID
	e.srv = New(Options{Service: svc, Logger: logger, Enroll: certs})
	return e, certs
}

// TestNodeRemoveRevokes: removing a node revokes its certificates (and
// no other node's) and ends its agent's session at once; with
// certificates to revoke, a connected agent needs no force.
func TestNodeRemoveRevokes(t *testing.T) {
	e, certs := newRevokeEnv(t, nil)
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	for _, c := range []struct{ node, serial string }{{"api-test", "a1"}, {"api-test", "a2"}, {"other", "b1"}} {
		if err := certs.RecordCert(ctx, c.node, c.serial, later); err != nil {
			t.Fatal(err)
		}
	}
	id := e.node
	r := e.do(t, "DELETE", "/api/nodes/api-test", "")
	r.want(t, http.StatusOK, "")
	if r.str("node.id") != id || r.body["node"].(map[string]any)["connected"] != true {
		t.Errorf("removing the connected node: %s", r.raw)
	}
	for serial, want := range map[string]bool{"a1": true, "a2": true, "b1": false} {
		if rev, err := certs.Revoked(ctx, serial); err != nil || rev != want {
			t.Errorf("Revoked(%s) = %v, %v after removing api-test; want %v", serial, rev, err, want)
		}
	}
	if _, ok, _ := certs.ActiveCert(ctx, "api-test"); ok {
		t.Error("the removed node still has an active certificate")
	}
	// The session ended: the agent (which this server does not check
	// certificates of) comes back and registers again, as a new node.
	wait.Until(t, 10*time.Second, "the agent's session ended and a new one registered", func() bool {
		n := e.do(t, "GET", "/api/nodes/api-test", "")
		return n.status == http.StatusOK && n.str("id") != id
	})
}

// TestNodeRemoveRevokeFails: when the certificates cannot be revoked the
// node is not removed and its session goes on.
func TestNodeRemoveRevokeFails(t *testing.T) {
	certStore := teststore.Open(t, "sqlite")
	e, _ := newRevokeEnv(t, certStore)
	if err := certStore.Close(); err != nil {
		t.Fatal(err)
	}
	e.do(t, "DELETE", "/api/nodes/api-test", "").want(t, http.StatusInternalServerError, codeInternal)
	n := e.do(t, "GET", "/api/nodes/api-test", "")
	n.want(t, http.StatusOK, "")
	if n.str("id") != e.node || n.body["connected"] != true {
		t.Errorf("the node after a failed removal: %s", n.raw)
	}
}
