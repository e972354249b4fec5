package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/quantixvm/quantix/core/node"
)

// nodeRepo is the NodeRepo of a sqlStore.
type nodeRepo struct{ s *sqlStore }

// upsertNodeSQL inserts a node or replaces every field of the one with the
// same id but created_at, and returns the stored created_at.
const upsertNodeSQL = `INSERT INTO nodes (id, name, state, address, claimed_address, host, backend, last_heartbeat, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
	name = excluded.name,
	state = excluded.state,
	address = excluded.address,
	claimed_address = excluded.claimed_address,
	host = excluded.host,
	backend = excluded.backend,
	last_heartbeat = excluded.last_heartbeat,
	updated_at = excluded.updated_at
RETURNING created_at`

// Upsert inserts n, or replaces the node with n.ID keeping its first
// CreatedAt. n.UpdatedAt becomes now and n.CreatedAt the stored one; times
// are normalised to UTC with microsecond precision. A name used by another
// node is ErrConflict.
func (r nodeRepo) Upsert(ctx context.Context, n *node.Node) error {
	if n == nil || n.ID == "" {
		return fmt.Errorf("upserting node: %w: empty id", ErrInvalid)
	}
	nn := *n
	now := normTime(time.Now())
	if nn.CreatedAt.IsZero() {
		nn.CreatedAt = now
	}
	nn.CreatedAt = normTime(nn.CreatedAt)
	nn.UpdatedAt = now
	nn.LastHeartbeat = normTimePtr(nn.LastHeartbeat)
	row := toNodeRow(&nn)
	var stored struct {
		CreatedAt dbTime `gorm:"column:created_at"`
	}
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		return tx.Raw(upsertNodeSQL, row.ID, row.Name, row.State, row.Address, row.ClaimedAddress, row.Host, row.Backend,
			row.LastHeartbeat, row.CreatedAt, row.UpdatedAt).Scan(&stored).Error
	})
	if err != nil {
		return fmt.Errorf("upserting node %s: %w", n.ID, dbError(err))
	}
	nn.CreatedAt = time.Time(stored.CreatedAt)
	*n = nn
	return nil
}

// Get returns the node with id, or ErrNotFound.
func (r nodeRepo) Get(ctx context.Context, id string) (*node.Node, error) {
	var rows []nodeRow
	if err := r.s.read(ctx).Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("getting node %s: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("getting node %s: %w", id, ErrNotFound)
	}
	return rows[0].toNode(), nil
}

// GetByName returns the node called name, or ErrNotFound.
func (r nodeRepo) GetByName(ctx context.Context, name string) (*node.Node, error) {
	var rows []nodeRow
	if err := r.s.read(ctx).Where("name = ?", name).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("getting node named %q: %w", name, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("getting node named %q: %w", name, ErrNotFound)
	}
	return rows[0].toNode(), nil
}

// List returns every node in name order.
func (r nodeRepo) List(ctx context.Context) ([]*node.Node, error) {
	var rows []nodeRow
	if err := r.s.read(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	out := make([]*node.Node, len(rows))
	for i := range rows {
		out[i] = rows[i].toNode()
	}
	return out, nil
}

// UpdateStatus writes state, backend and last_heartbeat of node id, and
// updated_at; ErrNotFound if there is no such node.
func (r nodeRepo) UpdateStatus(ctx context.Context, id string, st NodeStatus) error {
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		res := tx.Model(&nodeRow{}).Where("id = ?", id).Updates(map[string]any{
			"state":          string(st.State),
			"backend":        jsonColumn[node.Backend]{V: st.Backend},
			"last_heartbeat": toDBTimePtr(st.LastHeartbeat),
			"updated_at":     dbTime(normTime(time.Now())),
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("updating status of node %s: %w", id, dbError(err))
	}
	return nil
}

// ListPage returns one page of nodes in name order. A limit outside
// 0..1000 or a cursor this store did not make is ErrInvalid.
func (r nodeRepo) ListPage(ctx context.Context, opts NodeListOptions) ([]*node.Node, string, error) {
	limit := opts.Limit
	switch {
	case limit == 0:
		limit = defaultPageSize
	case limit < 0 || limit > maxPageSize:
		return nil, "", fmt.Errorf("listing nodes: %w: limit %d is outside 1..%d", ErrInvalid, opts.Limit, maxPageSize)
	}
	q := r.s.read(ctx)
	if opts.Cursor != "" {
		after, err := decodeNodeCursor(opts.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("listing nodes: %w", err)
		}
		q = q.Where("name > ?", after)
	}
	var rows []nodeRow
	if err := q.Order("name").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("listing nodes: %w", err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = encodeNodeCursor(rows[limit-1].Name)
	}
	out := make([]*node.Node, len(rows))
	for i := range rows {
		out[i] = rows[i].toNode()
	}
	return out, next, nil
}

// nodeCursorPrefix tells a node cursor from a VM cursor.
const nodeCursorPrefix = "node|"

// encodeNodeCursor returns the cursor of the node page that ends at name:
// base64url of "node|<name>". Clients treat it as opaque.
func encodeNodeCursor(name string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(nodeCursorPrefix + name))
}

// decodeNodeCursor parses a cursor made by encodeNodeCursor.
func decodeNodeCursor(c string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", fmt.Errorf("%w: malformed cursor: not base64url", ErrInvalid)
	}
	name, ok := strings.CutPrefix(string(raw), nodeCursorPrefix)
	if !ok || name == "" {
		return "", fmt.Errorf("%w: malformed cursor: not a node cursor", ErrInvalid)
	}
	return name, nil
}

// Delete removes node id with the VM records placed on it that are not
// managed and not TERMINATED (the host's VMs as last reported, which a
// returning agent reports again). TERMINATED VMs stay as history. A managed
// VM placed on the node that is not TERMINATED makes it ErrConflict, and
// nothing is removed; no such node is ErrNotFound.
func (r nodeRepo) Delete(ctx context.Context, id string) error {
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		var managed int64
		if err := tx.Model(&vmRow{}).Where("node_id = ? AND is_managed AND state <> ?", id, "TERMINATED").Count(&managed).Error; err != nil {
			return err
		}
		if managed > 0 {
			return fmt.Errorf("%w: %d managed vms are placed on the node", ErrConflict, managed)
		}
		if err := tx.Where("node_id = ? AND NOT is_managed AND state <> ?", id, "TERMINATED").Delete(&vmRow{}).Error; err != nil {
			return err
		}
		res := tx.Where("id = ?", id).Delete(&nodeRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting node %s: %w", id, dbError(err))
	}
	return nil
}

// dbNow is the database's time now: PostgreSQL's now() (the time the
// transaction began), the host clock on SQLite, where the database is in
// this process.
func (r nodeRepo) dbNow(ctx context.Context) (time.Time, error) {
	if r.s.dialect != dialectPostgres {
		return normTime(time.Now()), nil
	}
	var now time.Time
	if err := r.s.read(ctx).Raw("SELECT now()").Scan(&now).Error; err != nil {
		return time.Time{}, fmt.Errorf("reading the database's time: %w", err)
	}
	return normTime(now), nil
}

// TouchHeartbeats sets last_heartbeat of the nodes with ids to the
// database's time in one UPDATE and returns their stored states.
func (r nodeRepo) TouchHeartbeats(ctx context.Context, ids []string) (map[string]node.State, error) {
	out := make(map[string]node.State, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID    string `gorm:"column:id"`
		State string `gorm:"column:state"`
	}
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		if r.s.dialect == dialectPostgres {
			return tx.Raw("UPDATE nodes SET last_heartbeat = now() WHERE id IN ? RETURNING id, state", ids).Scan(&rows).Error
		}
		now := time.Now().UTC().Format(sqliteTimeFormat)
		return tx.Raw("UPDATE nodes SET last_heartbeat = ? WHERE id IN ? RETURNING id, state", now, ids).Scan(&rows).Error
	})
	if err != nil {
		return nil, fmt.Errorf("recording the heartbeats of %d nodes: %w", len(ids), dbError(err))
	}
	for _, row := range rows {
		out[row.ID] = node.State(row.State)
	}
	return out, nil
}

// Heartbeats returns every node's state and last heartbeat, and the
// database's time.
func (r nodeRepo) Heartbeats(ctx context.Context) ([]NodeHeartbeat, time.Time, error) {
	now, err := r.dbNow(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	var rows []struct {
		ID            string  `gorm:"column:id"`
		State         string  `gorm:"column:state"`
		LastHeartbeat *dbTime `gorm:"column:last_heartbeat"`
	}
	if err := r.s.read(ctx).Raw("SELECT id, state, last_heartbeat FROM nodes ORDER BY id").Scan(&rows).Error; err != nil {
		return nil, time.Time{}, fmt.Errorf("reading the nodes' heartbeats: %w", err)
	}
	out := make([]NodeHeartbeat, len(rows))
	for i, row := range rows {
		out[i] = NodeHeartbeat{ID: row.ID, State: node.State(row.State), LastHeartbeat: fromDBTimePtr(row.LastHeartbeat)}
	}
	return out, now, nil
}
