package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/clusterkey"
	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/core/enroll"
	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/core/store"
)

// agentCAName is the common name of the agent cluster CA a server makes on
// its first start.
const agentCAName = "Quantix agent CA"

// agentCADir is where the agent cluster CA is kept: <data_dir>/pki/agents.
func agentCADir(dataDir string) string { return filepath.Join(dataDir, "pki", "agents") }

// openEnrollment loads the agent cluster CA (making it on the first start)
// and returns it with the enrollment service over st: the join tokens it
// makes pin the CA's fingerprint, and server.join_token is its static
// token. With a cluster key the CA is the cluster's, kept in the database
// (pki.LoadOrCreateSharedCA); otherwise it is kept under data_dir. The
// fingerprint is logged, for agents given it by hand.
func openEnrollment(ctx context.Context, cfg *config.Config, st store.Store, key *clusterkey.Key, logger hclog.Logger) (*pki.CA, *enroll.Service, error) {
	ca, err := loadCA(ctx, st, key, clusterCAAgents, agentCAName, agentCADir(cfg.DataDir), logger)
	if err != nil {
		return nil, nil, fmt.Errorf("the agent CA: %w", err)
	}
	svc, err := enroll.New(st.JoinTokens(), st.NodeCerts(), enroll.Options{
		CAFingerprint: ca.Fingerprint(), StaticToken: cfg.Server.JoinToken, Logger: logger,
	})
	if err != nil {
		return nil, nil, err
	}
	logger.Info("agent CA", "kept_in", caSource(key), "dir", ca.Dir(), "sha256", ca.Fingerprint())
	return ca, svc, nil
}
