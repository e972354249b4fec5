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

// RemoveNode removes node ref (an id or a name) from the inventory and
// returns it as it was. Without force a node whose agent is connected, or
// that holds VMs that are not TERMINATED, is refused (KindConflict). With
// force the agent's session is ended and the node goes with the unmanaged
// VM records on it (a returning agent reports its VMs again); managed VMs
// that are not TERMINATED are refused even then, since removing them would
// lose what the control plane manages: delete them first. TERMINATED VMs
// stay as history. An agent still running registers its node again, as a
// new node.
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
	case !force && info.Connected:
		return nil, &Error{Kind: KindConflict, Message: fmt.Sprintf("node %q has a connected agent: stop the agent first, or use force=true to end its session", n.Name)}
	case !force && live > 0:
		return nil, &Error{Kind: KindConflict, Message: fmt.Sprintf("node %q holds %d vms: use force=true to remove their records with the node", n.Name, live)}
	}
	if info.Connected {
		if dc, ok := s.exec.(nodeapi.Disconnecter); ok {
			dc.Disconnect(n.ID, "the node was removed from the inventory")
		}
	}
	if err := s.store.Nodes().Delete(ctx, n.ID); err != nil {
		return nil, storeError(fmt.Sprintf("removing node %q", n.Name), err)
	}
	s.rec.nodes.forget(n.ID)
	now := s.rec.now()
	s.rec.publishNode(ctx, events.NodeEvent{NodeID: n.ID, NodeName: n.Name, Time: now, Action: "remove",
		OldState: info.State, Message: fmt.Sprintf("removed from the inventory (forced: %v)", force)})
	s.log.Info("node removed", "node", n.Name, "id", n.ID, "forced", force, "vm_records_removed", live)
	return info, nil
}

// forget stops tracking node id, which was removed.
func (l *liveness) forget(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.nodes, id)
	delete(l.names, id)
}
