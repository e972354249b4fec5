package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/store"
)

// Nodes returns every node, in name order. A node stored as READY that no
// agent serves right now is shown UNREACHABLE: READY means commands reach
// it.
func (s *Service) Nodes(ctx context.Context) ([]*node.Node, error) {
	list, err := s.store.Nodes().List(ctx)
	if err != nil {
		return nil, storeError("listing nodes", err)
	}
	connected := s.exec.Connected()
	for _, n := range list {
		liveness(n, connected)
	}
	return list, nil
}

// Node returns the node with id ref, or else the node named ref.
func (s *Service) Node(ctx context.Context, ref string) (*node.Node, error) {
	n, err := s.node(ctx, ref)
	if err != nil {
		return nil, err
	}
	liveness(n, s.exec.Connected())
	return n, nil
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

func liveness(n *node.Node, connected []string) {
	if n.State == node.StateReady && !slices.Contains(connected, n.ID) {
		n.State = node.StateUnreachable
	}
}
