package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/quantixvm/quantix/core/node"
)

// NodeEvent is a stored change of a node, as the event stream carried it
// (kind node): registration, a heartbeat that changed something, a
// disconnection, liveness, removal.
type NodeEvent struct {
	// ID is given by the store, in the order the events were stored.
	ID       int64
	NodeID   string
	NodeName string
	Time     time.Time
	Action   string
	OldState node.State
	NewState node.State
	Healthy  bool
	Message  string
	// StreamVMEvent and StreamSeq are the event's position on the event
	// stream of the server that published it: the last VM event id
	// published before it and its number among memory-only events (0, 0
	// when not known). The VM event id places the node event among the VM
	// events: after that one, before the next.
	StreamVMEvent int64
	StreamSeq     int64
}

// NodeEventQuery selects node events for NodeEventRepo.Latest. Zero values
// do not filter.
type NodeEventQuery struct {
	// NodeID: the events of this node (an id, exact).
	NodeID string
	// Before: only events with an ID below it (paging back from the
	// oldest event of a page); 0 does not bound.
	Before int64
	Limit  int
}

// NodeEventRepo stores node events. They outlive their node: the history
// of a removed node stays listable by its id.
type NodeEventRepo interface {
	// Append stores e and sets its ID; a zero Time is now. An event without
	// a node id or an action is ErrInvalid.
	Append(ctx context.Context, e *NodeEvent) error
	// Latest returns the newest events that match q, newest first, at most
	// q.Limit (0 means 100; over 1000 is ErrInvalid), read backwards from
	// an index so that the cost follows the limit.
	Latest(ctx context.Context, q NodeEventQuery) ([]*NodeEvent, error)
	// LastID returns the highest node event id stored, 0 when there is
	// none.
	LastID(ctx context.Context) (int64, error)
}

// nodeEventRow is a row of node_events.
type nodeEventRow struct {
	ID            int64  `gorm:"column:id;primaryKey;autoIncrement"`
	NodeID        string `gorm:"column:node_id"`
	NodeName      string `gorm:"column:node_name"`
	Time          dbTime `gorm:"column:time"`
	Action        string `gorm:"column:action"`
	OldState      string `gorm:"column:old_state"`
	NewState      string `gorm:"column:new_state"`
	Healthy       bool   `gorm:"column:healthy"`
	Message       string `gorm:"column:message"`
	StreamVMEvent int64  `gorm:"column:stream_vm_event"`
	StreamSeq     int64  `gorm:"column:stream_seq"`
}

// TableName is the table of nodeEventRow.
func (nodeEventRow) TableName() string { return "node_events" }

func (r *nodeEventRow) toNodeEvent() *NodeEvent {
	return &NodeEvent{
		ID: r.ID, NodeID: r.NodeID, NodeName: r.NodeName, Time: time.Time(r.Time).UTC(), Action: r.Action,
		OldState: node.State(r.OldState), NewState: node.State(r.NewState), Healthy: r.Healthy, Message: r.Message,
		StreamVMEvent: r.StreamVMEvent, StreamSeq: r.StreamSeq,
	}
}

// nodeEventRepo is the NodeEventRepo of a sqlStore.
type nodeEventRepo struct{ s *sqlStore }

// NodeEvents returns the node event repository.
func (s *sqlStore) NodeEvents() NodeEventRepo { return nodeEventRepo{s} }

func (r nodeEventRepo) Append(ctx context.Context, e *NodeEvent) error {
	switch {
	case e == nil || e.NodeID == "":
		return fmt.Errorf("appending node event: %w: empty node id", ErrInvalid)
	case e.Action == "":
		return fmt.Errorf("appending event of node %s: %w: empty action", e.NodeID, ErrInvalid)
	case e.StreamVMEvent < 0 || e.StreamSeq < 0:
		return fmt.Errorf("appending event of node %s: %w: negative stream position %d.%d", e.NodeID, ErrInvalid, e.StreamVMEvent, e.StreamSeq)
	}
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	t = normTime(t)
	row := nodeEventRow{
		NodeID: e.NodeID, NodeName: e.NodeName, Time: dbTime(t), Action: e.Action,
		OldState: string(e.OldState), NewState: string(e.NewState), Healthy: e.Healthy, Message: e.Message,
		StreamVMEvent: e.StreamVMEvent, StreamSeq: e.StreamSeq,
	}
	err := r.s.write(ctx, false, func(tx *gorm.DB) error { return tx.Create(&row).Error })
	if err != nil {
		return fmt.Errorf("appending event of node %s: %w", e.NodeID, dbError(err))
	}
	e.ID, e.Time = row.ID, t
	return nil
}

func (r nodeEventRepo) Latest(ctx context.Context, q NodeEventQuery) ([]*NodeEvent, error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = defaultPageSize
	case limit < 0 || limit > maxPageSize:
		return nil, fmt.Errorf("listing the latest node events: %w: limit %d is outside 1..%d", ErrInvalid, limit, maxPageSize)
	}
	if q.Before < 0 {
		return nil, fmt.Errorf("listing the latest node events: %w: before %d is negative", ErrInvalid, q.Before)
	}
	db := r.s.read(ctx).Model(&nodeEventRow{})
	if q.NodeID != "" {
		db = db.Where("node_id = ?", q.NodeID)
	}
	if q.Before > 0 {
		db = db.Where("id < ?", q.Before)
	}
	out, err := allRows(db.Order("id DESC").Limit(limit), (*nodeEventRow).toNodeEvent)
	if err != nil {
		return nil, fmt.Errorf("listing the latest node events: %w", err)
	}
	return out, nil
}

func (r nodeEventRepo) LastID(ctx context.Context) (int64, error) {
	var id *int64
	if err := r.s.read(ctx).Model(&nodeEventRow{}).Select("MAX(id)").Scan(&id).Error; err != nil {
		return 0, fmt.Errorf("reading the last node event id: %w", err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}
