package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/quantixvm/quantix/core/vm"
)

// idChunk bounds the ids of one IN (...) list.
const idChunk = 500

// UpdateStatus writes the status fields and desired_state of v if the
// stored version is still v.Version. On success v is normalised, v.UpdatedAt
// is now and v.Version the new version; the other fields of v are not
// looked at, so a caller holding a stale spec cannot write it back.
func (r vmRepo) UpdateStatus(ctx context.Context, v *vm.VM) error {
	if v == nil || v.ID == "" {
		return fmt.Errorf("updating status of vm: %w: empty id", ErrInvalid)
	}
	nv := *v
	nv.Labels = maps.Clone(v.Labels)
	normalizeVM(&nv)
	nv.UpdatedAt = normTime(time.Now())
	nv.Version = v.Version + 1
	row, _ := toVMRow(&nv)
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		res := tx.Model(&vmRow{}).Where("id = ? AND version = ?", v.ID, v.Version).Updates(map[string]any{
			"node_id":          row.NodeID,
			"state":            row.State,
			"last_known_state": row.LastKnownState,
			"state_changed_at": row.StateChangedAt,
			"desired_state":    row.DesiredState,
			"last_seen":        row.LastSeen,
			"observed_at":      row.ObservedAt,
			"lost_reason":      row.LostReason,
			"lost_at":          row.LostAt,
			"message":          row.Message,
			"updated_at":       row.UpdatedAt,
			"version":          gorm.Expr("version + 1"),
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected > 0 {
			return nil
		}
		var n int64
		if err := tx.Model(&vmRow{}).Where("id = ?", v.ID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return ErrStale
	})
	if err != nil {
		if errors.Is(err, ErrStale) {
			return fmt.Errorf("updating status of vm %s at version %d: %w", v.ID, v.Version, err)
		}
		return fmt.Errorf("updating status of vm %s: %w", v.ID, dbError(err))
	}
	*v = nv
	return nil
}

// GetMany returns the VMs with the given ids that exist, in id order.
func (r vmRepo) GetMany(ctx context.Context, ids []string) ([]*vm.VM, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	db := r.s.read(ctx)
	out := make([]*vm.VM, 0, len(ids))
	for chunk := range slices.Chunk(ids, idChunk) {
		var rows []vmRow
		if err := db.Where("id IN ?", chunk).Order("id").Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("getting %d vms: %w", len(ids), err)
		}
		vms, err := withLabels(db, rows)
		if err != nil {
			return nil, fmt.Errorf("getting %d vms: %w", len(ids), err)
		}
		out = append(out, vms...)
	}
	return out, nil
}

// StatesByNode returns id, state and last_known_state of the VMs of nodeID,
// in id order.
func (r vmRepo) StatesByNode(ctx context.Context, nodeID string) ([]VMState, error) {
	rows, err := r.s.read(ctx).Model(&vmRow{}).Select("id, state, last_known_state").
		Where("node_id = ?", nodeID).Order("id").Rows()
	if err != nil {
		return nil, fmt.Errorf("listing vm states of node %s: %w", nodeID, err)
	}
	defer rows.Close()
	var out []VMState
	for rows.Next() {
		var s VMState
		var state, last string
		if err := rows.Scan(&s.ID, &state, &last); err != nil {
			return nil, fmt.Errorf("listing vm states of node %s: %w", nodeID, err)
		}
		s.State, s.LastKnownState = vm.State(state), vm.State(last)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing vm states of node %s: %w", nodeID, err)
	}
	return out, nil
}

// CountByNode counts the VMs that are not TERMINATED per node id.
func (r vmRepo) CountByNode(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		NodeID string `gorm:"column:node_id"`
		N      int    `gorm:"column:n"`
	}
	err := r.s.read(ctx).Model(&vmRow{}).Select("node_id, COUNT(*) AS n").
		Where("state <> ?", string(vm.StateTerminated)).Group("node_id").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("counting vms per node: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, row := range rows {
		out[row.NodeID] = row.N
	}
	return out, nil
}

// ListTransitional returns up to limit VMs in a transitional state entered
// before before, oldest state change first.
func (r vmRepo) ListTransitional(ctx context.Context, before time.Time, limit int) ([]*vm.VM, error) {
	if limit < 1 || limit > maxPageSize {
		return nil, fmt.Errorf("listing vms in transitional states: %w: limit %d is outside 1..%d", ErrInvalid, limit, maxPageSize)
	}
	var states []string
	for _, s := range vm.States {
		if s.Transitional() {
			states = append(states, string(s))
		}
	}
	db := r.s.read(ctx)
	var rows []vmRow
	err := db.Where("state IN ? AND state_changed_at < ?", states, dbTime(before)).
		Order("state_changed_at, id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("listing vms in transitional states: %w", err)
	}
	out, err := withLabels(db, rows)
	if err != nil {
		return nil, fmt.Errorf("listing vms in transitional states: %w", err)
	}
	return out, nil
}

// batchRows bounds the rows of one multi-row INSERT, well within both
// databases' limits on bound parameters.
const batchRows = 500

// sqliteBatchRows bounds them on SQLite, whose driver (glebarez/go-sqlite)
// looks each parameter of a statement up among all of them when it binds
// it: a statement costs the square of its parameters there, so short
// batches insert faster (a node's first full sync of 250 VMs, with their
// events: some 20ms in statements of 32 rows, 30ms in one statement).
const sqliteBatchRows = 32

// insertBatch is how many rows one multi-row INSERT takes on s's database.
func (s *sqlStore) insertBatch() int {
	if s.dialect == dialectSQLite {
		return sqliteBatchRows
	}
	return batchRows
}

// CreateMany inserts vms, each normalised and stamped as Create does, in
// one transaction (a savepoint inside one).
func (r vmRepo) CreateMany(ctx context.Context, vms []*vm.VM) error {
	if len(vms) == 0 {
		return nil
	}
	now := normTime(time.Now())
	norm := make([]vm.VM, len(vms))
	rows := make([]vmRow, len(vms))
	var labels []labelRow
	for i, v := range vms {
		if v == nil || v.ID == "" {
			return fmt.Errorf("creating %d vms: %w: empty id", len(vms), ErrInvalid)
		}
		nv := *v
		nv.Labels = maps.Clone(v.Labels)
		normalizeVM(&nv)
		if nv.CreatedAt.IsZero() {
			nv.CreatedAt = now
		}
		if nv.UpdatedAt.IsZero() {
			nv.UpdatedAt = nv.CreatedAt
		}
		if nv.StateChangedAt.IsZero() {
			nv.StateChangedAt = nv.CreatedAt
		}
		nv.Version = 1
		var lr []labelRow
		rows[i], lr = toVMRow(&nv)
		labels = append(labels, lr...)
		norm[i] = nv
	}
	batch := r.s.insertBatch()
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		if r.s.pg != nil {
			if err := insertVMsPG(ctx, tx, rows); err != nil {
				return err
			}
		} else if err := tx.CreateInBatches(&rows, batch).Error; err != nil {
			return err
		}
		if len(labels) > 0 {
			return tx.CreateInBatches(&labels, batch).Error
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("creating %d vms: %w", len(vms), dbError(err))
	}
	for i := range vms {
		*vms[i] = norm[i]
	}
	return nil
}

// insertVMsPG inserts rows in one statement, their columns as arrays: a
// node's first full sync brings hundreds of VMs at once, and a multi-row
// INSERT of them binds twenty parameters a row that gorm builds and
// PostgreSQL parses one by one.
func insertVMsPG(ctx context.Context, tx *gorm.DB, rows []vmRow) error {
	n := len(rows)
	var (
		ids, names, descs, origins, nodes, states, lastKnown = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		desired, policies, specs, lostReasons, messages      = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		managed                                              = make([]bool, n)
		changed, created, updated                            = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
		lastSeen, observed, lostAt                           = make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
		versions                                             = make([]int64, n)
	)
	for i, r := range rows {
		spec, err := r.Spec.Value()
		if err != nil {
			return fmt.Errorf("vm %s: %w", r.ID, err)
		}
		ids[i], names[i], descs[i], origins[i], nodes[i], states[i], lastKnown[i] = r.ID, r.Name, r.Description, r.Origin, r.NodeID, r.State, r.LastKnownState
		desired[i], policies[i], specs[i], lostReasons[i], messages[i] = r.DesiredState, r.RestartPolicy, spec.(string), r.LostReason, r.Message
		managed[i] = r.IsManaged
		changed[i], created[i], updated[i] = normTime(time.Time(r.StateChangedAt)), normTime(time.Time(r.CreatedAt)), normTime(time.Time(r.UpdatedAt))
		lastSeen[i], observed[i], lostAt[i] = fromDBTimePtr(r.LastSeen), fromDBTimePtr(r.ObservedAt), fromDBTimePtr(r.LostAt)
		versions[i] = r.Version
	}
	const q = `INSERT INTO vms (id, name, description, origin, is_managed, node_id, state, last_known_state,
			state_changed_at, desired_state, restart_policy, spec, last_seen, observed_at, lost_reason, lost_at,
			message, created_at, updated_at, version)
		SELECT id, name, description, origin, is_managed, node_id, state, last_known_state,
			state_changed_at, desired_state, restart_policy, spec::jsonb, last_seen, observed_at, lost_reason, lost_at,
			message, created_at, updated_at, version
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::text[], $7::text[], $8::text[],
			$9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::timestamptz[], $15::text[], $16::timestamptz[],
			$17::text[], $18::timestamptz[], $19::timestamptz[], $20::int8[])
			AS u(id, name, description, origin, is_managed, node_id, state, last_known_state,
			state_changed_at, desired_state, restart_policy, spec, last_seen, observed_at, lost_reason, lost_at,
			message, created_at, updated_at, version)`
	_, err := tx.Statement.ConnPool.ExecContext(ctx, q, ids, names, descs, origins, managed, nodes, states, lastKnown,
		changed, desired, policies, specs, lastSeen, observed, lostReasons, lostAt, messages, created, updated, versions)
	return err
}

// ListRestartable returns managed VMs down with desired_state running and
// a restart policy, the longest down first.
func (r vmRepo) ListRestartable(ctx context.Context, limit int) ([]*vm.VM, error) {
	if limit < 1 || limit > maxPageSize {
		return nil, fmt.Errorf("listing vms to restart: %w: limit %d is outside 1..%d", ErrInvalid, limit, maxPageSize)
	}
	db := r.s.read(ctx)
	var rows []vmRow
	err := db.Where("state IN ? AND is_managed = ? AND desired_state = ? AND restart_policy IN ?",
		[]string{string(vm.StateStopped), string(vm.StateCrashed)}, true, string(vm.DesiredRunning),
		[]string{string(vm.RestartAlways), string(vm.RestartOnCrash)}).
		Order("state_changed_at, id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("listing vms to restart: %w", err)
	}
	out, err := withLabels(db, rows)
	if err != nil {
		return nil, fmt.Errorf("listing vms to restart: %w", err)
	}
	return out, nil
}
