package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/quantixvm/quantix/core/vm"
)

// List page sizes, and how many label filters one List takes (each is a
// join).
const (
	defaultPageSize = 100
	maxPageSize     = 1000
	maxLabelFilters = 32
)

// vmRepo is the VMRepo of a sqlStore.
type vmRepo struct{ s *sqlStore }

// Create inserts v with Version 1. v is normalised in place first (times UTC
// with microsecond precision, nil labels and spec slices made empty), so that
// it equals what a read returns; a zero CreatedAt is now, a zero UpdatedAt
// and StateChangedAt are CreatedAt.
func (r vmRepo) Create(ctx context.Context, v *vm.VM) error {
	if v == nil || v.ID == "" {
		return fmt.Errorf("creating vm: %w: empty id", ErrInvalid)
	}
	nv := *v
	nv.Labels = maps.Clone(v.Labels)
	normalizeVM(&nv)
	if nv.CreatedAt.IsZero() {
		nv.CreatedAt = normTime(time.Now())
	}
	if nv.UpdatedAt.IsZero() {
		nv.UpdatedAt = nv.CreatedAt
	}
	if nv.StateChangedAt.IsZero() {
		nv.StateChangedAt = nv.CreatedAt
	}
	nv.Version = 1
	row, labels := toVMRow(&nv)
	err := r.s.write(ctx, len(labels) > 0, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		if len(labels) > 0 {
			return tx.Create(&labels).Error
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("creating vm %s: %w", v.ID, dbError(err))
	}
	*v = nv
	return nil
}

// Get returns the VM with id.
func (r vmRepo) Get(ctx context.Context, id string) (*vm.VM, error) {
	db := r.s.read(ctx)
	var rows []vmRow
	if err := db.Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("getting vm %s: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("getting vm %s: %w", id, ErrNotFound)
	}
	out, err := withLabels(db, rows)
	if err != nil {
		return nil, fmt.Errorf("getting vm %s: %w", id, err)
	}
	return out[0], nil
}

// GetByName returns the VM called name that is not TERMINATED: the managed
// one if there is one, otherwise the oldest host-discovered one.
func (r vmRepo) GetByName(ctx context.Context, name string) (*vm.VM, error) {
	db := r.s.read(ctx)
	var rows []vmRow
	err := db.Where("name = ? AND state <> ?", name, string(vm.StateTerminated)).
		Order("is_managed DESC, created_at, id").Limit(1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("getting vm named %q: %w", name, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("getting vm named %q: %w", name, ErrNotFound)
	}
	out, err := withLabels(db, rows)
	if err != nil {
		return nil, fmt.Errorf("getting vm named %q: %w", name, err)
	}
	return out[0], nil
}

// List returns one page of VMs in (created_at, id) order. A limit outside
// 0..1000, more than 32 label filters or a cursor this store did not make is
// ErrInvalid.
func (r vmRepo) List(ctx context.Context, opts ListOptions) ([]*vm.VM, string, error) {
	limit := opts.Limit
	switch {
	case limit == 0:
		limit = defaultPageSize
	case limit < 0 || limit > maxPageSize:
		return nil, "", fmt.Errorf("listing vms: %w: limit %d is outside 1..%d", ErrInvalid, opts.Limit, maxPageSize)
	}
	if len(opts.Labels) > maxLabelFilters {
		return nil, "", fmt.Errorf("listing vms: %w: %d label filters, at most %d", ErrInvalid, len(opts.Labels), maxLabelFilters)
	}
	db := r.s.read(ctx)
	// Each VM's labels come with it, as one JSON object, so that a page
	// costs one query (one round trip to the database) rather than a second
	// one for the labels of its VMs.
	q := db.Model(&vmRow{}).Select("vms.*, " + r.s.labelsJSONColumn())
	if opts.State != "" {
		q = q.Where("vms.state = ?", string(opts.State))
	}
	if opts.NodeID != "" {
		q = q.Where("vms.node_id = ?", opts.NodeID)
	}
	if opts.Origin != "" {
		q = q.Where("vms.origin = ?", string(opts.Origin))
	}
	if opts.Search != "" {
		// LOWER on both sides: SQLite's LIKE ignores the case of ASCII
		// letters only, PostgreSQL's not at all.
		lit := likeEscaper.Replace(strings.ToLower(opts.Search))
		q = q.Where(`(LOWER(vms.name) LIKE ? ESCAPE '\' OR LOWER(vms.id) LIKE ? ESCAPE '\')`, "%"+lit+"%", lit+"%")
	}
	// One join per label: (vm_id, key) is vm_labels' primary key, so each
	// join matches at most one row and the VMs stay distinct. Joins (rather
	// than EXISTS) let the planner start from a rare label's index.
	for i, k := range slices.Sorted(maps.Keys(opts.Labels)) {
		a := fmt.Sprintf("l%d", i)
		q = q.Joins(fmt.Sprintf("JOIN vm_labels %[1]s ON %[1]s.vm_id = vms.id AND %[1]s.key = ? AND %[1]s.value = ?", a), k, opts.Labels[k])
	}
	if opts.Cursor != "" {
		t, id, err := decodeCursor(opts.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("listing vms: %w", err)
		}
		q = q.Where("(vms.created_at, vms.id) > (?, ?)", dbTime(t), id)
	}
	var rows []labeledVMRow
	if err := q.Order("vms.created_at, vms.id").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("listing vms: %w", err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1].VM
		next = encodeCursor(time.Time(last.CreatedAt), last.ID)
	}
	out := make([]*vm.VM, len(rows))
	for i := range rows {
		labels, err := rows[i].labels()
		if err != nil {
			return nil, "", fmt.Errorf("listing vms: %w", err)
		}
		out[i] = rows[i].VM.toVM(labels)
	}
	return out, next, nil
}

// labeledVMRow is a row of vms with its labels as one JSON object
// (labelsJSONColumn): NULL or "{}" when it has none.
type labeledVMRow struct {
	VM         vmRow   `gorm:"embedded"`
	LabelsJSON *string `gorm:"column:labels_json"`
}

// TableName is the table of labeledVMRow.
func (labeledVMRow) TableName() string { return "vms" }

// labels decodes the row's labels; nil when it has none.
func (r *labeledVMRow) labels() (map[string]string, error) {
	if r.LabelsJSON == nil || *r.LabelsJSON == "" || *r.LabelsJSON == "{}" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(*r.LabelsJSON), &m); err != nil {
		return nil, fmt.Errorf("decoding the labels of vm %s: %w", r.VM.ID, err)
	}
	return m, nil
}

// labelsJSONColumn is the select expression labels_json of labeledVMRow:
// the labels of the VM of the row (vms.id) as one JSON object of strings.
func (s *sqlStore) labelsJSONColumn() string {
	if s.dialect == dialectPostgres {
		return "(SELECT json_object_agg(vl.key, vl.value)::text FROM vm_labels vl WHERE vl.vm_id = vms.id) AS labels_json"
	}
	return "(SELECT json_group_object(vl.key, vl.value) FROM vm_labels vl WHERE vl.vm_id = vms.id) AS labels_json"
}

// ListByNode returns every VM placed on nodeID, in id order.
func (r vmRepo) ListByNode(ctx context.Context, nodeID string) ([]*vm.VM, error) {
	db := r.s.read(ctx)
	var rows []vmRow
	if err := db.Where("node_id = ?", nodeID).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing vms of node %s: %w", nodeID, err)
	}
	out, err := withLabels(db, rows)
	if err != nil {
		return nil, fmt.Errorf("listing vms of node %s: %w", nodeID, err)
	}
	return out, nil
}

// Update writes every field of v but ID and CreatedAt, and replaces its
// labels, if the stored version is still v.Version. On success v is
// normalised, v.UpdatedAt is now and v.Version the new version; on failure
// v is unchanged and nothing is written.
func (r vmRepo) Update(ctx context.Context, v *vm.VM) error {
	if v == nil || v.ID == "" {
		return fmt.Errorf("updating vm: %w: empty id", ErrInvalid)
	}
	nv := *v
	nv.Labels = maps.Clone(v.Labels)
	normalizeVM(&nv)
	nv.UpdatedAt = normTime(time.Now())
	nv.Version = v.Version + 1
	row, labels := toVMRow(&nv)
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		res := tx.Model(&vmRow{}).Where("id = ? AND version = ?", v.ID, v.Version).Updates(map[string]any{
			"name":             row.Name,
			"description":      row.Description,
			"origin":           row.Origin,
			"is_managed":       row.IsManaged,
			"node_id":          row.NodeID,
			"state":            row.State,
			"last_known_state": row.LastKnownState,
			"state_changed_at": row.StateChangedAt,
			"desired_state":    row.DesiredState,
			"restart_policy":   row.RestartPolicy,
			"spec":             row.Spec,
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
		if res.RowsAffected == 0 {
			var n int64
			if err := tx.Model(&vmRow{}).Where("id = ?", v.ID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return ErrNotFound
			}
			return ErrStale
		}
		if err := tx.Where("vm_id = ?", v.ID).Delete(&labelRow{}).Error; err != nil {
			return err
		}
		if len(labels) > 0 {
			return tx.Create(&labels).Error
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrStale) {
			return fmt.Errorf("updating vm %s at version %d: %w", v.ID, v.Version, err)
		}
		return fmt.Errorf("updating vm %s: %w", v.ID, dbError(err))
	}
	*v = nv
	return nil
}

// Delete removes the VM with id; its labels and events go with it (the
// foreign keys cascade).
func (r vmRepo) Delete(ctx context.Context, id string) error {
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		res := tx.Where("id = ?", id).Delete(&vmRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting vm %s: %w", id, dbError(err))
	}
	return nil
}

// withLabels converts rows to VMs, loading the labels of all of them in one
// query.
func withLabels(db *gorm.DB, rows []vmRow) ([]*vm.VM, error) {
	out := make([]*vm.VM, 0, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	var lrows []labelRow
	if err := db.Where("vm_id IN ?", ids).Find(&lrows).Error; err != nil {
		return nil, fmt.Errorf("loading labels: %w", err)
	}
	labels := groupLabels(lrows)
	for i := range rows {
		out = append(out, rows[i].toVM(labels[rows[i].ID]))
	}
	return out, nil
}
