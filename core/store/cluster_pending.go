// The types of the store's cluster records as declared for the cluster
// repository (node_sessions, cluster_servers), so that the agent server
// builds against them until that repository is merged; this file goes then.
package store

import (
	"context"
	"time"
)

type ServerRecord struct {
	ID, Name, APIAddr, RPCAddr, Version string
	StartedAt, HeartbeatAt              time.Time
	StoppedAt                           *time.Time
}
type NodeSession struct {
	NodeID, ServerID, SessionID string
	AttachedAt, HeartbeatAt     time.Time
}
type ClusterRepo interface {
	RegisterServer(ctx context.Context, r *ServerRecord) error
	Servers(ctx context.Context) ([]ServerRecord, error)
	ClaimNode(ctx context.Context, s NodeSession) error
	ReleaseNode(ctx context.Context, nodeID, sessionID string) error
	TouchNodes(ctx context.Context, serverID string, nodeIDs []string) error
	NodeHolder(ctx context.Context, nodeID string) (NodeSession, error)
	NodeSessions(ctx context.Context) ([]NodeSession, error)
}
