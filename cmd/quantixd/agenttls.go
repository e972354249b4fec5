package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/quantixvm/quantix/core/agent/nodecert"
	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/core/enroll"
	"github.com/quantixvm/quantix/core/pki"
)

// localTokenTTL bounds the join token `quantix dev` mints for its own
// agent; the agent redeems it at once.
const localTokenTTL = 10 * time.Minute

// agentCertDir is where an agent keeps its key, certificate and the
// cluster's CA.
func agentCertDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "agent") }

// agentServerCert is the agent port's server certificate, issued by the
// agent cluster CA for the hosts of server.rpc_addr and kept beside it
// (reissued when it no longer covers them or nears its expiry).
func agentServerCert(cfg *config.Config, ca *pki.CA) (tls.Certificate, error) {
	cert, err := ca.LoadOrIssueServer(agentCADir(cfg.DataDir), pki.DefaultServerHosts(cfg.Server.RPCAddr))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("the agent port's certificate: %w", err)
	}
	return cert, nil
}

// localJoinToken prepares the enrollment of `quantixd dev`'s own agent,
// which goes through Enroll over TLS like any other: when the agent's
// certificate directory holds no certificate this server would take (none,
// another CA's, a revoked one, another node's), what is there is removed,
// a certificate the node still has (its files were lost) is revoked, and a
// one-use join token is returned; "" when the agent's certificate is good.
func localJoinToken(ctx context.Context, cfg *config.Config, ca *pki.CA, svc *enroll.Service) (string, error) {
	dir, node := agentCertDir(cfg), cfg.Agent.NodeName
	id, err := nodecert.Load(dir)
	switch {
	case err == nil:
		revoked, rerr := svc.Revoked(ctx, agentserver.SerialHex(id.Cert.Leaf))
		if rerr != nil {
			return "", rerr
		}
		if !revoked && id.Node() == node && nodecert.Fingerprint(id.CA) == ca.Fingerprint() {
			return "", nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		// A damaged certificate of the local agent is replaced.
	}
	for _, f := range []string{nodecert.CertFile, nodecert.KeyFile, nodecert.CAFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("removing the local agent's stale certificate: %w", err)
		}
	}
	if _, ok, err := svc.ActiveCert(ctx, node); err != nil {
		return "", err
	} else if ok {
		if err := svc.RevokeNode(ctx, node); err != nil {
			return "", err
		}
	}
	_, text, err := svc.Create(ctx, enroll.Spec{TTL: localTokenTTL, Uses: 1, Description: "the local agent of quantixd dev"})
	if err != nil {
		return "", fmt.Errorf("a join token for the local agent: %w", err)
	}
	return text, nil
}
