package store

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/vm"
)

// sqliteTimeFormat is how times are kept in SQLite, which has no time type:
// UTC, fixed width, microseconds, so that text order is time order and the
// (created_at, id) index serves keyset paging. PostgreSQL keeps TIMESTAMPTZ,
// which has microsecond precision too.
const sqliteTimeFormat = "2006-01-02T15:04:05.000000Z"

// normTime is a time as the store keeps it: UTC, microsecond precision, no
// monotonic reading.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func normTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := normTime(*t)
	return &n
}

// dbTime is a time column: TIMESTAMPTZ on PostgreSQL, sqliteTimeFormat text
// on SQLite.
type dbTime time.Time

// GormValue writes the time in the form of the database at hand.
func (t dbTime) GormValue(_ context.Context, db *gorm.DB) clause.Expr {
	if db.Dialector.Name() == dialectSQLite {
		return clause.Expr{SQL: "?", Vars: []any{time.Time(t).UTC().Format(sqliteTimeFormat)}}
	}
	return clause.Expr{SQL: "?", Vars: []any{normTime(time.Time(t))}}
}

// Value is the plain database/sql form, for writes that bypass gorm.
func (t dbTime) Value() (driver.Value, error) { return normTime(time.Time(t)), nil }

// Scan reads either form.
func (t *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*t = dbTime(normTime(v))
		return nil
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	case nil:
		return fmt.Errorf("reading time: unexpected NULL")
	}
	return fmt.Errorf("reading time: unsupported column value %T", src)
}

func (t *dbTime) parse(s string) error {
	p, err := time.Parse(sqliteTimeFormat, s)
	if err != nil {
		// Accept any RFC 3339 time, in case a row was written by hand.
		if p, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("reading time %q: %w", s, err)
		}
	}
	*t = dbTime(normTime(p))
	return nil
}

func toDBTimePtr(t *time.Time) *dbTime {
	if t == nil {
		return nil
	}
	d := dbTime(normTime(*t))
	return &d
}

func fromDBTimePtr(t *dbTime) *time.Time {
	if t == nil {
		return nil
	}
	v := time.Time(*t)
	return &v
}

// jsonColumn is a column holding V as JSON: JSONB on PostgreSQL, TEXT on
// SQLite.
type jsonColumn[T any] struct{ V T }

// Value encodes V.
func (j jsonColumn[T]) Value() (driver.Value, error) {
	b, err := json.Marshal(j.V)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", j.V, err)
	}
	return string(b), nil
}

// Scan decodes V.
func (j *jsonColumn[T]) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("reading %T: unsupported column value %T", j.V, src)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("decoding %T: %w", j.V, err)
	}
	j.V = out
	return nil
}

// vmRow is a row of vms.
type vmRow struct {
	ID             string              `gorm:"column:id;primaryKey"`
	Name           string              `gorm:"column:name"`
	Description    string              `gorm:"column:description"`
	Origin         string              `gorm:"column:origin"`
	IsManaged      bool                `gorm:"column:is_managed"`
	NodeID         string              `gorm:"column:node_id"`
	State          string              `gorm:"column:state"`
	LastKnownState string              `gorm:"column:last_known_state"`
	StateChangedAt dbTime              `gorm:"column:state_changed_at"`
	DesiredState   string              `gorm:"column:desired_state"`
	RestartPolicy  string              `gorm:"column:restart_policy"`
	Spec           jsonColumn[vm.Spec] `gorm:"column:spec"`
	LastSeen       *dbTime             `gorm:"column:last_seen"`
	ObservedAt     *dbTime             `gorm:"column:observed_at"`
	LostReason     string              `gorm:"column:lost_reason"`
	LostAt         *dbTime             `gorm:"column:lost_at"`
	Message        string              `gorm:"column:message"`
	CreatedAt      dbTime              `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt      dbTime              `gorm:"column:updated_at;autoUpdateTime:false"`
	Version        int64               `gorm:"column:version"`
}

// TableName is the table of vmRow.
func (vmRow) TableName() string { return "vms" }

// labelRow is a row of vm_labels.
type labelRow struct {
	VMID  string `gorm:"column:vm_id;primaryKey"`
	Key   string `gorm:"column:key;primaryKey"`
	Value string `gorm:"column:value"`
}

// TableName is the table of labelRow.
func (labelRow) TableName() string { return "vm_labels" }

// nodeRow is a row of nodes.
type nodeRow struct {
	ID             string                    `gorm:"column:id;primaryKey"`
	Name           string                    `gorm:"column:name"`
	State          string                    `gorm:"column:state"`
	Address        string                    `gorm:"column:address"`
	ClaimedAddress string                    `gorm:"column:claimed_address"`
	Host           jsonColumn[node.HostInfo] `gorm:"column:host"`
	Backend        jsonColumn[node.Backend]  `gorm:"column:backend"`
	LastHeartbeat  *dbTime                   `gorm:"column:last_heartbeat"`
	CreatedAt      dbTime                    `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt      dbTime                    `gorm:"column:updated_at;autoUpdateTime:false"`
}

// TableName is the table of nodeRow.
func (nodeRow) TableName() string { return "nodes" }

// eventRow is a row of vm_events.
type eventRow struct {
	ID       int64  `gorm:"column:id;primaryKey;autoIncrement"`
	VMID     string `gorm:"column:vm_id"`
	Time     dbTime `gorm:"column:time"`
	Action   string `gorm:"column:action"`
	OldState string `gorm:"column:old_state"`
	NewState string `gorm:"column:new_state"`
	Cause    string `gorm:"column:cause"`
	Message  string `gorm:"column:message"`
}

// TableName is the table of eventRow.
func (eventRow) TableName() string { return "vm_events" }

// normalizeVM puts v in the form a read gives back: times UTC with
// microsecond precision, empty (not nil) labels, disks, NICs and boot order.
func normalizeVM(v *vm.VM) {
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	normalizeSpec(&v.Spec)
	v.StateChangedAt = normTime(v.StateChangedAt)
	v.LastSeen = normTimePtr(v.LastSeen)
	v.ObservedAt = normTimePtr(v.ObservedAt)
	v.LostAt = normTimePtr(v.LostAt)
	v.CreatedAt = normTime(v.CreatedAt)
	v.UpdatedAt = normTime(v.UpdatedAt)
}

func normalizeSpec(s *vm.Spec) {
	if s.Disks == nil {
		s.Disks = []vm.Disk{}
	}
	if s.NICs == nil {
		s.NICs = []vm.NIC{}
	}
	if s.Boot == nil {
		s.Boot = []string{}
	}
}

// toVMRow converts a normalised VM to its rows.
func toVMRow(v *vm.VM) (vmRow, []labelRow) {
	row := vmRow{
		ID:             v.ID,
		Name:           v.Name,
		Description:    v.Description,
		Origin:         string(v.Origin),
		IsManaged:      v.IsManaged,
		NodeID:         v.NodeID,
		State:          string(v.State),
		LastKnownState: string(v.LastKnownState),
		StateChangedAt: dbTime(v.StateChangedAt),
		DesiredState:   string(v.DesiredState),
		RestartPolicy:  string(v.RestartPolicy),
		Spec:           jsonColumn[vm.Spec]{V: v.Spec},
		LastSeen:       toDBTimePtr(v.LastSeen),
		ObservedAt:     toDBTimePtr(v.ObservedAt),
		LostReason:     v.LostReason,
		LostAt:         toDBTimePtr(v.LostAt),
		Message:        v.Message,
		CreatedAt:      dbTime(v.CreatedAt),
		UpdatedAt:      dbTime(v.UpdatedAt),
		Version:        v.Version,
	}
	return row, labelRows(v.ID, v.Labels)
}

// labelRows lists labels in key order, so that inserts are deterministic.
func labelRows(vmID string, labels map[string]string) []labelRow {
	keys := slices.Sorted(maps.Keys(labels))
	rows := make([]labelRow, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, labelRow{VMID: vmID, Key: k, Value: labels[k]})
	}
	return rows
}

// toVM converts a row (and its labels, nil for none) to a normalised VM.
func (r *vmRow) toVM(labels map[string]string) *vm.VM {
	if labels == nil {
		labels = map[string]string{}
	}
	v := &vm.VM{
		ID:             r.ID,
		Name:           r.Name,
		Description:    r.Description,
		Labels:         labels,
		Origin:         vm.Origin(r.Origin),
		IsManaged:      r.IsManaged,
		DesiredState:   vm.DesiredState(r.DesiredState),
		RestartPolicy:  vm.RestartPolicy(r.RestartPolicy),
		Spec:           r.Spec.V,
		NodeID:         r.NodeID,
		State:          vm.State(r.State),
		LastKnownState: vm.State(r.LastKnownState),
		StateChangedAt: time.Time(r.StateChangedAt),
		LastSeen:       fromDBTimePtr(r.LastSeen),
		ObservedAt:     fromDBTimePtr(r.ObservedAt),
		LostReason:     r.LostReason,
		LostAt:         fromDBTimePtr(r.LostAt),
		Message:        r.Message,
		CreatedAt:      time.Time(r.CreatedAt),
		UpdatedAt:      time.Time(r.UpdatedAt),
		Version:        r.Version,
	}
	normalizeSpec(&v.Spec)
	return v
}

func toNodeRow(n *node.Node) nodeRow {
	return nodeRow{
		ID:             n.ID,
		Name:           n.Name,
		State:          string(n.State),
		Address:        n.Address,
		ClaimedAddress: n.ClaimedAddress,
		Host:           jsonColumn[node.HostInfo]{V: n.Host},
		Backend:        jsonColumn[node.Backend]{V: n.Backend},
		LastHeartbeat:  toDBTimePtr(n.LastHeartbeat),
		CreatedAt:      dbTime(n.CreatedAt),
		UpdatedAt:      dbTime(n.UpdatedAt),
	}
}

func (r *nodeRow) toNode() *node.Node {
	return &node.Node{
		ID:             r.ID,
		Name:           r.Name,
		State:          node.State(r.State),
		Address:        r.Address,
		ClaimedAddress: r.ClaimedAddress,
		Host:           r.Host.V,
		Backend:        r.Backend.V,
		LastHeartbeat:  fromDBTimePtr(r.LastHeartbeat),
		CreatedAt:      time.Time(r.CreatedAt),
		UpdatedAt:      time.Time(r.UpdatedAt),
	}
}

func toEventRow(e *vm.Event) eventRow {
	return eventRow{
		ID:       e.ID,
		VMID:     e.VMID,
		Time:     dbTime(e.Time),
		Action:   e.Action,
		OldState: string(e.OldState),
		NewState: string(e.NewState),
		Cause:    string(e.Cause),
		Message:  e.Message,
	}
}

func (r *eventRow) toEvent() *vm.Event {
	return &vm.Event{
		ID:       r.ID,
		VMID:     r.VMID,
		Time:     time.Time(r.Time),
		Action:   r.Action,
		OldState: vm.State(r.OldState),
		NewState: vm.State(r.NewState),
		Cause:    vm.Cause(r.Cause),
		Message:  r.Message,
	}
}

// groupLabels turns label rows into one map per VM id.
func groupLabels(rows []labelRow) map[string]map[string]string {
	out := make(map[string]map[string]string)
	for _, r := range rows {
		m := out[r.VMID]
		if m == nil {
			m = make(map[string]string)
			out[r.VMID] = m
		}
		m[r.Key] = r.Value
	}
	return out
}
