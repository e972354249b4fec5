package controlplane

import (
	"context"
	"fmt"
	"slices"

	"github.com/quantixvm/quantix/core/reconcile"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

// FullSync applies the complete list of VMs on node nodeID, in one
// transaction:
//
//   - a UUID the inventory does not know is inserted as host-discovered,
//     not managed, with the spec and name the host reports, unless it is
//     the VM this control plane is creating on that node (a CREATING
//     placeholder of the same name): Complete records that one;
//   - a known UUID gets its status (reconcile.Judge.Report); one the
//     inventory places on another node moved here, and its record follows;
//   - a VM the inventory places on the node and the list lacks: DELETING →
//     TERMINATED, unmanaged → record removed, managed → LOST
//     (reconcile.Judge.Gone).
//
// Ignored UUIDs (nil, all zero, all 0xFF) are dropped. Applying the same
// list twice writes nothing the second time (last_seen aside, which is
// refreshed at most every LastSeenRefresh). The decisions are made on a
// read outside the transaction; a record written meanwhile is read again
// inside it and judged anew, so the common case, nothing changed, opens no
// transaction at all. Full syncs that arrive while another's transaction
// runs are committed together, in one transaction (reportGroups); each
// still succeeds or fails on its own.
func (r *Reconciler) FullSync(ctx context.Context, nodeID string, list []*backend.VM) error {
	if _, err := r.nodes.beat(ctx, nodeID, nil); err != nil {
		return fmt.Errorf("applying the full sync of node %s: %w", nodeID, err)
	}
	now := r.now()
	reported := make(map[string]*backend.VM, len(list))
	for _, observed := range list {
		if observed == nil || vm.IgnoredUUID(observed.ID) {
			continue
		}
		reported[observed.ID] = observed
	}
	known, err := r.store.VMs().ListByNode(ctx, nodeID)
	if err != nil {
		return fmt.Errorf("applying the full sync of node %s: %w", nodeID, err)
	}
	gone := func(c *vm.VM) reconcile.Verdict { return r.judge.Gone(c, nodeID, now) }
	report := func(observed *backend.VM) rule {
		return r.reportRule(reconcile.HostReport{NodeID: nodeID, Observed: observed, Now: now})
	}
	items := make([]item, 0, len(known)+len(reported))
	creating := make(map[string]bool)
	onNode := make(map[string]bool, len(known))
	for _, cur := range known {
		onNode[cur.ID] = true
		if isPlaceholderFor(cur, nodeID) {
			creating[cur.Name] = true
		}
		if observed, ok := reported[cur.ID]; ok {
			items = append(items, newItem(cur, report(observed)))
		} else {
			items = append(items, newItem(cur, gone))
		}
	}
	var elsewhere []string
	for id := range reported {
		if !onNode[id] {
			elsewhere = append(elsewhere, id)
		}
	}
	slices.Sort(elsewhere)
	var discover []*backend.VM
	if len(elsewhere) > 0 {
		others, err := r.store.VMs().GetMany(ctx, elsewhere)
		if err != nil {
			return fmt.Errorf("applying the full sync of node %s: %w", nodeID, err)
		}
		found := make(map[string]bool, len(others))
		for _, cur := range others {
			found[cur.ID] = true
			items = append(items, newItem(cur, report(reported[cur.ID])))
		}
		for _, id := range elsewhere {
			if observed := reported[id]; !found[id] && !creating[observed.Name] {
				discover = append(discover, observed)
			}
		}
	}
	rep := newReport(items, discover, nodeID, now)
	if rep == nil {
		return nil
	}
	if err := r.commitGrouped(ctx, rep); err != nil {
		return fmt.Errorf("applying the full sync of node %s: %w", nodeID, err)
	}
	return nil
}
