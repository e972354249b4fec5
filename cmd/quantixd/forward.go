package main

import (
	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/cluster"
	"github.com/quantixvm/quantix/core/config"
)

// enableForwarding makes the dispatcher this server's part of the
// cluster: the sessions its agent server attaches are claimed in the
// database (node_sessions), commands for nodes whose session another
// server holds are forwarded to that server's agent port over mTLS, with
// a peer certificate of the agent CA marking this server as one, and the
// nodes other live servers hold count as connected. A server is live while
// its heartbeat is within the lease ttl (server.cluster.lease_ttl), as the
// cluster status judges it.
func (d *daemon) enableForwarding(cfg *config.Config, dispatcher *agentserver.Dispatcher) error {
	ttl := cfg.Server.Cluster.LeaseTTL
	if ttl == 0 {
		ttl = cluster.DefaultLeaseTTL
	}
	return dispatcher.EnableCluster(agentserver.ClusterOptions{
		ServerID:   d.cluster.ID(),
		Records:    d.store.Cluster(),
		CA:         d.agentCA,
		LiveWithin: ttl,
		Logger:     d.log,
	})
}
