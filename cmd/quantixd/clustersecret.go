package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/cluster"
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
// a secret set it up) and, on PostgreSQL, while another server is live on
// the database. A secret other than the cluster's is refused naming the
// key, and so is setting the cluster up while a server without a secret is
// live. The secret itself is never logged.
func openClusterKey(ctx context.Context, cfg *config.Config, st store.Store, logger hclog.Logger) (*clusterkey.Key, error) {
	secret, err := cfg.ClusterSecret()
	if err != nil {
		return nil, err
	}
	self, ttl := clusterLiveness(cfg)
	if secret == "" {
		if err := checkNoClusterKey(ctx, st); err != nil {
			return nil, err
		}
		if cfg.Server.Database.Driver != "postgres" {
			return nil, nil
		}
		if other, err := liveServer(ctx, st, self, ttl); err != nil {
			return nil, err
		} else if other != nil {
			return nil, fmt.Errorf("server %q (%s) is running on this database: servers sharing a database need the same cluster secret, so that they share their CAs: "+
				"set server.cluster_secret (or QUANTIX_SERVER_CLUSTER_SECRET) on every server, %s", other.Name, other.RPCAddr, config.GenerateSecretHint)
		}
		return nil, nil
	}
	if _, err := st.ClusterSecrets().Key(ctx); errors.Is(err, store.ErrNotFound) && cfg.Server.Database.Driver == "postgres" {
		// No server set the cluster key up: a live server runs without a
		// secret, with CAs of its own the cluster's would not be.
		if other, err := liveServer(ctx, st, self, ttl); err != nil {
			return nil, err
		} else if other != nil {
			return nil, fmt.Errorf("server %q (%s) is running on this database without server.cluster_secret: set the same server.cluster_secret on every server, "+
				"restarting that one with it first so that it imports its CAs into the database", other.Name, other.RPCAddr)
		}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
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

// clusterLiveness is how this server is known in cluster_servers (the
// address it advertises for its agent port, server.advertise_addr) and how
// long a server's heartbeat keeps it live (server.cluster.lease_ttl).
func clusterLiveness(cfg *config.Config) (self string, ttl time.Duration) {
	ttl = cfg.Server.Cluster.LeaseTTL
	if ttl <= 0 {
		ttl = cluster.DefaultLeaseTTL
	}
	return cfg.Advertise(), ttl
}

// liveServer returns a server registered in cluster_servers that is live
// (not stopped, a heartbeat within ttl by the database's clock) and is not
// this one (an earlier run of this server, killed, registered under self);
// nil when there is none.
func liveServer(ctx context.Context, st store.Store, self string, ttl time.Duration) (*store.ServerRecord, error) {
	now, err := st.Cluster().Now(ctx)
	if err != nil {
		return nil, err
	}
	servers, err := st.Cluster().Servers(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the servers of the cluster: %w", err)
	}
	for i, r := range servers {
		if r.AliveAt(now, ttl) && r.RPCAddr != self {
			return &servers[i], nil
		}
	}
	return nil, nil
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
