package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/store"
)

// NodeInfo is a node as the API shows it: the stored record, with the
// liveness this server sees and how many VMs it holds.
type NodeInfo struct {
	node.Node
	// VMCount counts the VMs placed on the node that are not TERMINATED.
	VMCount int
	// Connected tells whether an agent serving the node takes commands
	// now.
	Connected bool
}

// Nodes returns every node, in name order. A node stored as READY that no
// agent serves right now is shown UNREACHABLE: READY means commands reach
// it. LastHeartbeat is the last sign of life this server saw when that is
// newer than the stored one (which is written at most every
// NodeWriteInterval).
func (s *Service) Nodes(ctx context.Context) ([]*NodeInfo, error) {
	list, err := s.store.Nodes().List(ctx)
	if err != nil {
		return nil, storeError("listing nodes", err)
	}
	counts, err := s.store.VMs().CountByNode(ctx)
	if err != nil {
		return nil, storeError("counting vms per node", err)
	}
	connected := s.exec.Connected()
	out := make([]*NodeInfo, len(list))
	for i, n := range list {
		out[i] = s.nodeInfo(n, connected, counts[n.ID])
	}
	return out, nil
}

// Node returns the node with id ref, or else the node named ref.
func (s *Service) Node(ctx context.Context, ref string) (*NodeInfo, error) {
	n, err := s.node(ctx, ref)
	if err != nil {
		return nil, err
	}
	counts, err := s.store.VMs().CountByNode(ctx)
	if err != nil {
		return nil, storeError("counting vms per node", err)
	}
	return s.nodeInfo(n, s.exec.Connected(), counts[n.ID]), nil
}

func (s *Service) nodeInfo(n *node.Node, connected []string, count int) *NodeInfo {
	info := &NodeInfo{Node: *n, VMCount: count, Connected: slices.Contains(connected, n.ID)}
	if info.State == node.StateReady && !info.Connected {
		info.State = node.StateUnreachable
	}
	if beat, _, ok := s.rec.nodes.lastBeat(n.ID); ok && !beat.IsZero() && (n.LastHeartbeat == nil || beat.After(*n.LastHeartbeat)) {
		info.LastHeartbeat = &beat
	}
	return info
}

func (s *Service) node(ctx context.Context, ref string) (*node.Node, error) {
	n, err := s.store.Nodes().Get(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		n, err = s.store.Nodes().GetByName(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Kind: KindNotFound, Message: fmt.Sprintf("node %q not found", ref), Err: err}
	}
	if err != nil {
		return nil, storeError(fmt.Sprintf("getting node %q", ref), err)
	}
	return n, nil
}
