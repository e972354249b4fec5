package controlplane

import (
	"context"
	"fmt"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
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
// runs, as its agent would see it: VMs the host does not have (TERMINATED,
// LOST, MIGRATING away, placeholders of creates, ignored UUIDs) are left
// out, and a VM in a transitional state of the control plane's own counts
// with the state it had when the action began (last_known_state), which
// the host still shows while the action runs.
func (r *Reconciler) NodeStateHash(ctx context.Context, nodeID string) (string, error) {
	rows, err := r.store.VMs().StatesByNode(ctx, nodeID)
	if err != nil {
		return "", err
	}
	states := make(map[string]vm.State, len(rows))
	for _, row := range rows {
		if s, ok := hostView(row); ok {
			states[row.ID] = s
		}
	}
	return vm.StateHash(states), nil
}

// hostView is the state a node's agent sees for a VM the database places on
// the node, and whether the agent sees it at all.
func hostView(row store.VMState) (vm.State, bool) {
	switch {
	case vm.IgnoredUUID(row.ID):
		return "", false
	case row.State == vm.StateTerminated, row.State == vm.StateLost, row.State == vm.StateCreating, row.State == vm.StateMigrating:
		return "", false
	case row.State.Transitional() && row.LastKnownState != "":
		return row.LastKnownState, true
	}
	return row.State, true
}
