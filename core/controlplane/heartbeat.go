package controlplane

import (
	"context"
	"fmt"

	"github.com/quantixvm/quantix/core/nodeapi"
)

// Heartbeat records that node nodeID is alive (in memory; see beat for
// when the node row is written) and compares the agent's state hash with
// the hash of what the database says the node runs. It asks for a full sync
// on a mismatch and when the node comes back from UNREACHABLE. A heartbeat
// that matches writes nothing.
func (r *Reconciler) Heartbeat(ctx context.Context, nodeID string, hb nodeapi.HeartbeatReport) (bool, error) {
	revived, err := r.nodes.beat(ctx, nodeID, &hb.Backend)
	if err != nil {
		return false, fmt.Errorf("heartbeat of node %s: %w", nodeID, err)
	}
	want, err := r.NodeStateHash(ctx, nodeID)
	if err != nil {
		return false, fmt.Errorf("heartbeat of node %s: %w", nodeID, err)
	}
	return revived || want != hb.StateHash, nil
}

// NodeStateHash is vm.StateHash over what the database says node nodeID
// runs, as its agent would see it (vm.HostView). On PostgreSQL the database
// computes it (store.VMRepo.StateHashByNode): a heartbeat reads one value,
// not the node's every VM.
func (r *Reconciler) NodeStateHash(ctx context.Context, nodeID string) (string, error) {
	return r.store.VMs().StateHashByNode(ctx, nodeID)
}
