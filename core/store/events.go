package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/quantixvm/quantix/core/vm"
)

// eventRepo is the EventRepo of a sqlStore.
type eventRepo struct{ s *sqlStore }

// Append stores e and sets e.ID; a zero e.Time is now, and the time is
// normalised to UTC with microsecond precision. An event of a VM that does
// not exist is ErrNotFound.
func (r eventRepo) Append(ctx context.Context, e *vm.Event) error {
	if e == nil || e.VMID == "" {
		return fmt.Errorf("appending vm event: %w: empty vm id", ErrInvalid)
	}
	ne := *e
	ne.ID = 0
	if ne.Time.IsZero() {
		ne.Time = time.Now()
	}
	ne.Time = normTime(ne.Time)
	row := toEventRow(&ne)
	// On PostgreSQL the append takes the event order lock and announces
	// the event (stream.go): both need a transaction.
	err := r.s.write(ctx, r.s.pg != nil, func(tx *gorm.DB) error {
		if err := r.s.lockEvents(tx); err != nil {
			return err
		}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return r.s.notifyVMEvents(tx, row.ID)
	})
	if err != nil {
		return fmt.Errorf("appending event of vm %s: %w", e.VMID, dbError(err))
	}
	ne.ID = row.ID
	*e = ne
	return nil
}

// List returns the events of vmID with ID > afterID, oldest first, at most
// limit (0 means 100; over 1000 is ErrInvalid).
func (r eventRepo) List(ctx context.Context, vmID string, afterID int64, limit int) ([]*vm.Event, error) {
	switch {
	case limit == 0:
		limit = defaultPageSize
	case limit < 0 || limit > maxPageSize:
		return nil, fmt.Errorf("listing events of vm %s: %w: limit %d is outside 1..%d", vmID, ErrInvalid, limit, maxPageSize)
	}
	out, err := allRows(r.s.read(ctx).Where("vm_id = ? AND id > ?", vmID, afterID).Order("id").Limit(limit), (*eventRow).toEvent)
	if err != nil {
		return nil, fmt.Errorf("listing events of vm %s: %w", vmID, err)
	}
	return out, nil
}

// Since returns the events of every VM with ID > afterID, oldest first, at
// most limit (0 means 100; over 1000 is ErrInvalid).
func (r eventRepo) Since(ctx context.Context, afterID int64, limit int) ([]*vm.Event, error) {
	switch {
	case limit == 0:
		limit = defaultPageSize
	case limit < 0 || limit > maxPageSize:
		return nil, fmt.Errorf("listing events: %w: limit %d is outside 1..%d", ErrInvalid, limit, maxPageSize)
	}
	out, err := allRows(r.s.read(ctx).Where("id > ?", afterID).Order("id").Limit(limit), (*eventRow).toEvent)
	if err != nil {
		return nil, fmt.Errorf("listing events after %d: %w", afterID, err)
	}
	return out, nil
}

// Latest returns the newest events that match q, newest first.
func (r eventRepo) Latest(ctx context.Context, q EventQuery) ([]*vm.Event, error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = defaultPageSize
	case limit < 0 || limit > maxPageSize:
		return nil, fmt.Errorf("listing the latest events: %w: limit %d is outside 1..%d", ErrInvalid, limit, maxPageSize)
	}
	if q.Before < 0 {
		return nil, fmt.Errorf("listing the latest events: %w: before %d is negative", ErrInvalid, q.Before)
	}
	out, err := allRows(latestQuery(r.s.read(ctx), q, limit), (*eventRow).toEvent)
	if err != nil {
		return nil, fmt.Errorf("listing the latest events: %w", err)
	}
	return out, nil
}

// latestQuery is the query of Latest: the filters, and the order an index
// gives backwards.
func latestQuery(db *gorm.DB, q EventQuery, limit int) *gorm.DB {
	db = db.Model(&eventRow{})
	if q.VMID != "" {
		db = db.Where("vm_id = ?", q.VMID)
	}
	if q.NodeID != "" {
		db = db.Where("vm_id IN (SELECT id FROM vms WHERE node_id = ?)", q.NodeID)
	}
	if q.Action != "" {
		db = db.Where("action = ?", q.Action)
	}
	if q.Cause != "" {
		db = db.Where("cause = ?", string(q.Cause))
	}
	if q.Before > 0 {
		db = db.Where("id < ?", q.Before)
	}
	return db.Order("id DESC").Limit(limit)
}

// LastID returns the highest event id, 0 when there is none.
func (r eventRepo) LastID(ctx context.Context) (int64, error) {
	var id *int64
	if err := r.s.read(ctx).Model(&eventRow{}).Select("MAX(id)").Scan(&id).Error; err != nil {
		return 0, fmt.Errorf("reading the last event id: %w", err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// Restore stores evs under the ids they carry.
func (r eventRepo) Restore(ctx context.Context, evs []*vm.Event) error {
	if len(evs) == 0 {
		return nil
	}
	rows := make([]eventRow, len(evs))
	for i, e := range evs {
		if e == nil || e.VMID == "" || e.ID <= 0 {
			return fmt.Errorf("restoring %d vm events: %w: every event needs a vm id and its id", len(evs), ErrInvalid)
		}
		ne := *e
		ne.Time = normTime(ne.Time)
		rows[i] = toEventRow(&ne)
	}
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		return tx.CreateInBatches(&rows, r.s.insertBatch()).Error
	})
	if err != nil {
		return fmt.Errorf("restoring %d events of vm %s: %w", len(evs), evs[0].VMID, dbError(err))
	}
	return nil
}

// AppendMany stores evs and sets their IDs, in order; a zero Time is now.
func (r eventRepo) AppendMany(ctx context.Context, evs []*vm.Event) error {
	if len(evs) == 0 {
		return nil
	}
	now := normTime(time.Now())
	rows := make([]eventRow, len(evs))
	for i, e := range evs {
		if e == nil || e.VMID == "" {
			return fmt.Errorf("appending %d vm events: %w: empty vm id", len(evs), ErrInvalid)
		}
		ne := *e
		ne.ID = 0
		if ne.Time.IsZero() {
			ne.Time = now
		}
		ne.Time = normTime(ne.Time)
		rows[i] = toEventRow(&ne)
	}
	batch := r.s.insertBatch()
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		if err := r.s.lockEvents(tx); err != nil {
			return err
		}
		if r.s.pg != nil {
			if err := insertEventsPG(ctx, tx, rows); err != nil {
				return err
			}
		} else if err := tx.CreateInBatches(&rows, batch).Error; err != nil {
			return err
		}
		return r.s.notifyVMEvents(tx, rows[len(rows)-1].ID)
	})
	if err != nil {
		return fmt.Errorf("appending %d vm events: %w", len(evs), dbError(err))
	}
	for i, e := range evs {
		*e = *rows[i].toEvent()
	}
	return nil
}

// insertEventsPG inserts rows in one statement, their columns as arrays,
// and sets their ids in order. It runs under the event order lock, which
// every appending transaction waits for: one statement whose parameters
// are seven arrays costs the database and this process far less than
// multi-row INSERTs with seven parameters a row.
//
// The ids are the identity's next values taken row by row in the order of
// ord, so the ith smallest id returned is the ith row's, whatever order
// RETURNING gives them in.
func insertEventsPG(ctx context.Context, tx *gorm.DB, rows []eventRow) error {
	n := len(rows)
	vmIDs, actions, olds, news, causes, messages := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	times := make([]time.Time, n)
	for i, r := range rows {
		vmIDs[i], times[i], actions[i], olds[i], news[i], causes[i], messages[i] = r.VMID, normTime(time.Time(r.Time)), r.Action, r.OldState, r.NewState, r.Cause, r.Message
	}
	const q = `INSERT INTO vm_events (vm_id, time, action, old_state, new_state, cause, message)
		SELECT vm_id, time, action, old_state, new_state, cause, message
		FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
			WITH ORDINALITY AS u(vm_id, time, action, old_state, new_state, cause, message, ord)
		ORDER BY ord
		RETURNING id`
	res, err := tx.Statement.ConnPool.QueryContext(ctx, q, vmIDs, times, actions, olds, news, causes, messages)
	if err != nil {
		return err
	}
	defer res.Close()
	ids := make([]int64, 0, n)
	for res.Next() {
		var id int64
		if err := res.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
	}
	if err := res.Err(); err != nil {
		return err
	}
	if len(ids) != n {
		return fmt.Errorf("inserting %d vm events: the database returned %d ids", n, len(ids))
	}
	slices.Sort(ids)
	for i := range rows {
		rows[i].ID = ids[i]
	}
	return nil
}
