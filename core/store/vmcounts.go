package store

import (
	"context"
	"fmt"

	"github.com/quantixvm/quantix/core/vm"
)

// VMCount is how many VM records are placed on one node in one state.
type VMCount struct {
	// NodeID is the node's id, "" for records placed on no node.
	NodeID string
	State  vm.State
	N      int
}

// CountByNodeState counts the VM records per node and state, in one
// grouped query, in node id and state order.
func (r vmRepo) CountByNodeState(ctx context.Context) ([]VMCount, error) {
	var rows []struct {
		NodeID string `gorm:"column:node_id"`
		State  string `gorm:"column:state"`
		N      int    `gorm:"column:n"`
	}
	err := r.s.read(ctx).Model(&vmRow{}).Select("node_id, state, COUNT(*) AS n").
		Group("node_id, state").Order("node_id, state").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("counting vms per node and state: %w", err)
	}
	out := make([]VMCount, len(rows))
	for i, row := range rows {
		out[i] = VMCount{NodeID: row.NodeID, State: vm.State(row.State), N: row.N}
	}
	return out, nil
}
