package controlplane

import (
	"context"
	"fmt"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
)

// NodePage is one page of nodes and the cursor of the next ("" at the
// end).
type NodePage struct {
	Nodes      []*NodeInfo
	NextCursor string
}

// NodesPage returns one page of nodes in name order, shown as Nodes shows
// them; limit is 1..MaxPageSize (0 means DefaultPageSize), cursor the
// NextCursor of the previous page.
func (s *Service) NodesPage(ctx context.Context, limit int, cursor string) (*NodePage, error) {
	list, next, err := s.store.Nodes().ListPage(ctx, store.NodeListOptions{Limit: limit, Cursor: cursor})
	if err != nil {
		return nil, storeError("listing nodes", err)
	}
	counts, err := s.store.VMs().CountByNode(ctx)
	if err != nil {
		return nil, storeError("counting vms per node", err)
	}
	connected := s.exec.Connected()
	page := &NodePage{Nodes: make([]*NodeInfo, len(list)), NextCursor: next}
	for i, n := range list {
		page.Nodes[i] = s.nodeInfo(n, connected, counts[n.ID])
	}
	return page, nil
}

// NodeCertRevoker revokes the client certificates of a node's agent
// (enroll.Service does).
type NodeCertRevoker interface {
	// RevokeNode revokes every certificate issued to node name: its agent
	// is refused from then on.
	RevokeNode(ctx context.Context, node string) error
}

// RemoveNode removes node ref (an id or a name) from the inventory and
// returns it as it was. A node that holds VMs that are not TERMINATED is
// refused without force (KindConflict); with force it goes with the
// unmanaged VM records on it (a returning agent reports its VMs again).
// Managed VMs that are not TERMINATED are refused even then, since
// removing them would lose what the control plane manages: delete them
// first. TERMINATED VMs stay as history.
//
// With Options.NodeCerts the node's certificates are revoked first (a
// failure there changes nothing), then its agent's session is ended and
// the node removed: the agent cannot come back without enrolling anew
// with a join token, so a connected agent needs no force. Without it a
// node whose agent is connected is refused unless forced, since the
// agent, still running, registers its node again, as a new node.
func (s *Service) RemoveNode(ctx context.Context, ref string, force bool) (*NodeInfo, error) {
	n, err := s.node(ctx, ref)
	if err != nil {
		return nil, err
	}
	vms, err := s.store.VMs().ListByNode(ctx, n.ID)
	if err != nil {
		return nil, storeError(fmt.Sprintf("listing the vms of node %q", n.Name), err)
	}
	live, managed := 0, 0
	for _, v := range vms {
		if v.State == vm.StateTerminated {
			continue
		}
		live++
		if v.IsManaged {
			managed++
		}
	}
	info := s.nodeInfo(n, s.exec.Connected(), live)
	switch {
	case managed > 0:
		return nil, &Error{Kind: KindConflict, Message: fmt.Sprintf("node %q holds %d managed vms: delete them first (force does not remove managed vms)", n.Name, managed)}
	case !force && info.Connected && s.certs == nil:
		return nil, &Error{Kind: KindConflict, Message: fmt.Sprintf("node %q has a connected agent: stop the agent first, or use force=true to end its session", n.Name)}
	case !force && live > 0:
		return nil, &Error{Kind: KindConflict, Message: fmt.Sprintf("node %q holds %d vms: use force=true to remove their records with the node", n.Name, live)}
	}
	reason := "the node was removed from the inventory"
	if s.certs != nil {
		if err := s.certs.RevokeNode(ctx, n.Name); err != nil {
			return nil, &Error{Kind: KindInternal, Message: fmt.Sprintf("revoking the certificates of node %q: %v", n.Name, err), Err: err}
		}
		reason = "the node was removed from the inventory and its certificates revoked: enroll it again with a new join token"
	}
	if info.Connected {
		if dc, ok := s.exec.(nodeapi.Disconnecter); ok {
			dc.Disconnect(n.ID, reason)
		}
	}
	if err := s.store.Nodes().Delete(ctx, n.ID); err != nil {
		return nil, storeError(fmt.Sprintf("removing node %q", n.Name), err)
	}
	s.rec.nodes.forget(n.ID)
	now := s.rec.now()
	s.rec.publishNode(ctx, events.NodeEvent{NodeID: n.ID, NodeName: n.Name, Time: now, Action: "remove",
		OldState: info.State, Message: fmt.Sprintf("removed from the inventory (forced: %v)", force)})
	s.log.Info("node removed", "node", n.Name, "id", n.ID, "forced", force, "vm_records_removed", live, "certificates_revoked", s.certs != nil)
	return info, nil
}

// forget stops tracking node id, which was removed.
func (l *liveness) forget(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.nodes, id)
	delete(l.names, id)
}
