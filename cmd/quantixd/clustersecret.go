package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/clusterkey"
	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/core/store"
)

// Names of the cluster's CAs in the database (cluster_cas).
const (
	clusterCAAgents = "agents"
	clusterCAAPI    = "api"
)

// openClusterKey returns the cluster key derived from server.cluster_secret,
// setting it up in the database on the cluster's first start, or nil when
// no secret is configured: the server then keeps its CAs under data_dir,
// which it refuses when the database holds the cluster's CAs (servers with
// a secret set it up). A secret other than the cluster's is refused naming
// the key. The secret itself is never logged.
func openClusterKey(ctx context.Context, cfg *config.Config, st store.Store, logger hclog.Logger) (*clusterkey.Key, error) {
	secret, err := cfg.ClusterSecret()
	if err != nil {
		return nil, err
	}
	if secret == "" {
		return nil, checkNoClusterKey(ctx, st)
	}
	key, created, err := clusterkey.Open(ctx, st.ClusterSecrets(), secret)
	if errors.Is(err, clusterkey.ErrWrongSecret) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("the cluster key of server.cluster_secret: %w", err)
	}
	if created {
		logger.Info("cluster key set up in the database from server.cluster_secret: give every server of the cluster the same secret")
	} else {
		logger.Info("server.cluster_secret matches the cluster's")
	}
	return key, nil
}

// checkNoClusterKey refuses a server without a secret on a database whose
// CAs are kept in it, sealed with the cluster's secret.
func checkNoClusterKey(ctx context.Context, st store.Store) error {
	_, err := st.ClusterSecrets().Key(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return errors.New("this database is a cluster's, whose CAs are kept in it sealed with its secret: " +
		"set server.cluster_secret (or QUANTIX_SERVER_CLUSTER_SECRET, or server.cluster_secret_file) to that secret on this server, as on every server of the cluster")
}

// loadCA loads the CA called name: from the database when the cluster has
// a key, with its certificate and this server's server certificates under
// dir; from dir alone otherwise (made there on the first start). It logs
// how it got it when that is news: made, or imported from dir.
func loadCA(ctx context.Context, st store.Store, key *clusterkey.Key, name, commonName, dir string, logger hclog.Logger) (*pki.CA, error) {
	if key == nil {
		return pki.LoadOrCreateCA(dir, commonName)
	}
	ca, origin, err := pki.LoadOrCreateSharedCA(ctx, pki.SharedCAOptions{
		Repo: st.ClusterSecrets(), Key: key, Name: name, CommonName: commonName, Dir: dir,
	})
	if err != nil {
		return nil, err
	}
	switch origin {
	case pki.Imported:
		logger.Info("imported the CA kept under data_dir into the database: every server of the cluster uses it from now on",
			"ca", name, "dir", dir, "sha256", ca.Fingerprint())
	case pki.Created:
		logger.Info("made the cluster's CA and stored it in the database, its key sealed with the cluster key",
			"ca", name, "sha256", ca.Fingerprint())
	}
	return ca, nil
}

// caSource says where a CA is kept, for the log.
func caSource(key *clusterkey.Key) string {
	if key == nil {
		return "data_dir"
	}
	return "database"
}
