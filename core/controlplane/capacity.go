package controlplane

import (
	"context"
	"fmt"

	"github.com/quantixvm/quantix/core/vm"
)

// checkFits refuses a VM of vcpus and memMiB that node nodeID cannot hold
// even alone (invalid, naming the field). A node the inventory does not
// have (any more) is not checked.
func (s *Service) checkFits(ctx context.Context, nodeID string, vcpus uint32, memMiB uint64) error {
	n, err := s.node(ctx, nodeID)
	if KindOf(err) == KindNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	return admit(s.overcommit.Fits(n, vcpus, memMiB), nil)
}

// checkRoom refuses to start v when the VMs allocated on its node and v
// together would ask for more than the node can hold (admission's Room: a
// conflict naming the field and the numbers). Concurrent starts may both
// pass: the check is a guard against mistakes, not a reservation.
func (s *Service) checkRoom(ctx context.Context, v *vm.VM) error {
	n, err := s.node(ctx, v.NodeID)
	if KindOf(err) == KindNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	var onNode []*vm.VM
	if maxCPU, maxMem := s.overcommit.Limits(n); maxCPU > 0 || maxMem > 0 {
		if onNode, err = s.store.VMs().ListByNode(ctx, v.NodeID); err != nil {
			return storeError(fmt.Sprintf("starting vm %q", v.Name), err)
		}
	}
	return admit(s.overcommit.Room(n, v, onNode), v)
}
