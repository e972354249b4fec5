package agent_test

import (
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/agent"
	"github.com/quantixvm/quantix/core/agent/nodecert"
	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/wait"
)

// TestAgentRenewsCertificate: with certificates valid for three seconds
// the agent renews its certificate over the session every two, the
// session going on; the certificate kept is the newest, and after the
// server restarts the agent connects with it (the first expired long ago).
func TestAgentRenewsCertificate(t *testing.T) {
	const ttl = 3 * time.Second
	short := func(o *agentserver.Options) { o.ClientCertTTL = ttl }
	srv := startServerOpts(t, "", nil, short)
	b := testlibvirt.LaunchTestDriver(t)
	dir := t.TempDir()
	a := runAgent(t, agent.Config{Servers: []string{srv.addr}, CertDir: dir, Backend: b, HeartbeatInterval: 200 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	srv.rec.waitReport(t, 0, 10*time.Second, "first full sync", isKind("full_sync"))
	first := a.Status().CertNotAfter
	wait.Until(t, 4*ttl, "three renewals", func() bool { return a.Status().Renewals >= 3 })
	st := a.Status()
	if st.Sessions != 1 || !st.Connected {
		t.Errorf("status after renewals: %+v; want the first session still attached", st)
	}
	if !st.CertNotAfter.After(first.Add(ttl)) {
		t.Errorf("certificate expires %s; the first expired %s: want a later one", st.CertNotAfter, first)
	}
	id, err := nodecert.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !id.NotAfter().After(first.Add(ttl)) {
		t.Errorf("the certificate kept expires %s, want a renewed one", id.NotAfter())
	}
	wait.Until(t, 2*ttl, "the first certificate to expire", func() bool { return time.Now().After(first) })
	addr := srv.addr
	srv.stop(t)
	next := startServerOpts(t, addr, nil, short)
	next.rec.waitReport(t, 0, 10*time.Second, "registration with the renewed certificate", isKind("register"))
}
