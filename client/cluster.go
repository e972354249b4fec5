package client

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// ClusterStatus is the reply of GET /api/cluster: the servers sharing the
// database, the leader and the nodes whose agent each server holds. Like
// every type of this package it mirrors the API's reply rather than
// importing core/api, so that the client depends on the standard library
// only; core/api's TestClusterReplyMatchesClient fails when the two differ.
type ClusterStatus struct {
	// Server is the id of the server that answered.
	Server string `json:"server"`
	// Now is the database's clock when the status was read; heartbeats and
	// the lease's expiry are on that clock.
	Now     time.Time       `json:"now"`
	Servers []ClusterServer `json:"servers"`
	// Leader is nil while no server holds a live lease.
	Leader *ClusterLeader `json:"leader"`
	// Epoch is the lease's epoch as stored (it counts the leaders).
	Epoch int64 `json:"epoch"`
	// Raw is the reply as the API sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a status and keeps the JSON in Raw.
func (s *ClusterStatus) UnmarshalJSON(b []byte) error {
	type plain ClusterStatus
	if err := json.Unmarshal(b, (*plain)(s)); err != nil {
		return err
	}
	s.Raw = slices.Clone(b)
	return nil
}

// ClusterServer is one quantixd server process of the cluster.
type ClusterServer struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	APIAddr     string     `json:"api_addr"`
	RPCAddr     string     `json:"rpc_addr"`
	Version     string     `json:"version"`
	StartedAt   time.Time  `json:"started_at"`
	HeartbeatAt time.Time  `json:"heartbeat_at"`
	StoppedAt   *time.Time `json:"stopped_at"`
	// Alive: not stopped, with a heartbeat within the lease ttl.
	Alive  bool `json:"alive"`
	Leader bool `json:"leader"`
	// Nodes are the nodes whose agent session the server holds.
	Nodes []ClusterNode `json:"nodes"`
}

// ClusterNode names a node a server holds.
type ClusterNode struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ClusterLeader is the live leader lease.
type ClusterLeader struct {
	ServerID   string    `json:"server_id"`
	Name       string    `json:"name"`
	Epoch      int64     `json:"epoch"`
	AcquiredAt time.Time `json:"acquired_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// ClusterStatus returns the cluster's servers, its leader and the nodes
// each server holds.
func (c *Client) ClusterStatus(ctx context.Context) (*ClusterStatus, error) {
	var s ClusterStatus
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/cluster"}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
