package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/quantixvm/quantix/core/agent/nodecert"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

// Renewal retries: a renewal that fails is tried again after a tenth of
// the time left, within these bounds.
const (
	minRenewRetry = time.Second
	maxRenewRetry = 5 * time.Minute
)

// trust is how an agent without a certificate knows the server: the CA
// fingerprint pinned by the join token or agent.ca_fingerprint, or the CA
// of agent.ca_cert.
type trust struct {
	pin string
	ca  *x509.Certificate
}

// loadIdentity loads the node's certificate kept in CertDir; without one it
// checks that the agent can enroll: a join token and a way to know the
// server's CA.
func (a *Agent) loadIdentity() error {
	id, err := nodecert.Load(a.cfg.CertDir)
	switch {
	case err == nil:
		if id.Node() != a.cfg.NodeName {
			return fmt.Errorf("the certificate in %s is for node %q but agent.node_name is %q: set agent.node_name to %q, or remove %s and %s there and enroll as %q with a new join token",
				a.cfg.CertDir, id.Node(), a.cfg.NodeName, id.Node(), nodecert.CertFile, nodecert.KeyFile, a.cfg.NodeName)
		}
		a.id, a.renewAt = id, id.RenewAt()
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if a.cfg.JoinToken == "" {
		return fmt.Errorf("no node certificate in %s and no join token to enroll with: set agent.join_token to a token of `quantix node token create`", a.cfg.CertDir)
	}
	if pin, ok := nodecert.PinFromToken(a.cfg.JoinToken); ok {
		a.trust.pin = pin
	}
	if a.cfg.CAFingerprint != "" {
		pin, err := nodecert.NormalizeFingerprint(a.cfg.CAFingerprint)
		if err != nil {
			return fmt.Errorf("agent.ca_fingerprint: %w", err)
		}
		if a.trust.pin != "" && a.trust.pin != pin {
			return fmt.Errorf("agent.ca_fingerprint %s differs from the CA fingerprint %s the join token carries: drop agent.ca_fingerprint, or use a token of this cluster", pin, a.trust.pin)
		}
		a.trust.pin = pin
	}
	if a.cfg.CAFile != "" {
		ca, err := nodecert.ReadCAFile(a.cfg.CAFile)
		if err != nil {
			return fmt.Errorf("agent.ca_cert: %w", err)
		}
		if a.trust.pin != "" && nodecert.Fingerprint(ca) != a.trust.pin {
			return fmt.Errorf("agent.ca_cert %s has fingerprint %s, not the %s the join token or agent.ca_fingerprint pins", a.cfg.CAFile, nodecert.Fingerprint(ca), a.trust.pin)
		}
		a.trust.ca = ca
	}
	if a.trust.pin == "" && a.trust.ca == nil {
		return errors.New("agent.join_token carries no CA fingerprint (it is not a token of `quantix node token create`): set agent.ca_fingerprint to the fingerprint the server logs for its agent CA, or agent.ca_cert to a copy of the server's <data_dir>/pki/agents/ca.crt")
	}
	return nil
}

// identity is the node's certificate, nil before enrollment.
func (a *Agent) identity() *nodecert.Identity {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

// clientCert is the certificate presented at each handshake.
func (a *Agent) clientCert() *tls.Certificate {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.id == nil {
		return &tls.Certificate{}
	}
	c := a.id.Cert
	return &c
}

// setIdentity keeps a certificate just issued.
func (a *Agent) setIdentity(id *nodecert.Identity, resp *agentv1.EnrollResponse) {
	renewAt := id.RenewAt()
	if t := resp.GetRenewAfter(); t != nil && t.AsTime().Before(id.NotAfter()) {
		renewAt = t.AsTime()
	}
	a.mu.Lock()
	a.id, a.renewAt = id, renewAt
	a.status.CertNotAfter = id.NotAfter()
	a.mu.Unlock()
}

// enroll gets the node its certificate from server with the join token.
func (a *Agent) enroll(ctx context.Context, server string) (*nodecert.Identity, error) {
	var conf *tls.Config
	if a.trust.pin != "" {
		conf = nodecert.PinnedTLS(a.trust.pin, nil)
	} else {
		conf = nodecert.ServerTLS(a.trust.ca, nil)
	}
	conn, err := grpc.NewClient(server, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	if err != nil {
		return nil, fmt.Errorf("server %s: %w; agent.servers takes host:port addresses", server, err)
	}
	defer conn.Close()
	// The key is kept before it is sent, so that a retry after a lost
	// reply presents the same key and gets the certificate issued for it.
	key, err := nodecert.EnrollKey(a.cfg.CertDir)
	if err != nil {
		return nil, fmt.Errorf("the key to enroll with: %w", err)
	}
	csr, err := nodecert.RequestFor(key, a.cfg.NodeName)
	if err != nil {
		return nil, err
	}
	ectx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	resp, err := agentv1.NewAgentServiceClient(conn).Enroll(ectx, &agentv1.EnrollRequest{
		JoinToken: a.cfg.JoinToken,
		NodeName:  a.cfg.NodeName,
		Csr:       csr,
	})
	if err != nil {
		return nil, callError(server, "enrolling", err)
	}
	if a.trust.pin != "" {
		if ca, err := x509.ParseCertificate(resp.GetCaCertificate()); err != nil || nodecert.Fingerprint(ca) != a.trust.pin {
			return nil, fmt.Errorf("server %s: enrolling: the CA the server sent is not the one pinned (%s): %w", server, a.trust.pin, errRefused)
		}
	}
	id, err := nodecert.Save(a.cfg.CertDir, key, resp.GetCertificate(), resp.GetCaCertificate())
	if err != nil {
		return nil, fmt.Errorf("server %s: enrolling: %w", server, err)
	}
	a.setIdentity(id, resp)
	a.log.Info("node enrolled: its certificate is kept for later connections", "server", server, "node", id.Node(), "dir", a.cfg.CertDir, "not_after", id.NotAfter())
	return id, nil
}

// renewLoop renews the node's certificate over client when it is due,
// until ctx ends. A renewal that fails is retried; the session goes on
// with the certificate it has.
func (a *Agent) renewLoop(ctx context.Context, client agentv1.AgentServiceClient) {
	for {
		a.mu.Lock()
		at := a.renewAt
		a.mu.Unlock()
		t := time.NewTimer(time.Until(at))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := a.renew(ctx, client); err != nil {
			if ctx.Err() != nil {
				return
			}
			retry := min(max(time.Until(a.identity().NotAfter())/10, minRenewRetry), maxRenewRetry)
			a.log.Warn("renewing the node certificate failed; retrying", "error", err, "retry_in", retry, "not_after", a.identity().NotAfter())
			a.mu.Lock()
			a.renewAt = time.Now().Add(retry)
			a.mu.Unlock()
		}
	}
}

// renew asks for a certificate for a new key and keeps it.
func (a *Agent) renew(ctx context.Context, client agentv1.AgentServiceClient) error {
	key, csr, err := nodecert.NewRequest(a.cfg.NodeName)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	resp, err := client.Renew(rctx, &agentv1.RenewRequest{Csr: csr})
	if err != nil {
		return fmt.Errorf("renewing the node certificate: %w", err)
	}
	id, err := nodecert.Save(a.cfg.CertDir, key, resp.GetCertificate(), resp.GetCaCertificate())
	if err != nil {
		return fmt.Errorf("renewing the node certificate: %w", err)
	}
	a.setIdentity(id, resp)
	a.mu.Lock()
	a.status.Renewals++
	a.mu.Unlock()
	a.log.Info("node certificate renewed", "node", id.Node(), "not_after", id.NotAfter())
	return nil
}
