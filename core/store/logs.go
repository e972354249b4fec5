package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// LogRepo is the built-in log store: every entry of the log pipeline, kept
// until retention removes it, searchable by the filters of GET /api/logs.
type LogRepo interface {
	// Insert stores entries (valid ones: logsink.Entry.Validate) and
	// returns how many were new: an entry whose id is stored already is
	// skipped, so a delivery repeated after a crash stores nothing twice.
	// Timestamps are kept in UTC with microsecond precision.
	Insert(ctx context.Context, entries []logsink.Entry) (int, error)
	// Query returns one page of the entries matching q, newest first
	// unless q.Ascending. A limit outside 0..1000 or a cursor Query did not
	// return is ErrInvalid.
	Query(ctx context.Context, q LogQuery) (LogPage, error)
	// Prune removes the entries older than before (when not zero) and all
	// but the newest keep entries (when keep > 0), and returns how many it
	// removed.
	Prune(ctx context.Context, before time.Time, keep int) (int64, error)
	// Count returns how many entries are stored.
	Count(ctx context.Context) (int64, error)
}

// LogFilter selects log entries; zero fields do not filter.
type LogFilter struct {
	// MinLevel keeps entries at this level or above.
	MinLevel logsink.Level
	// Sources and Components keep entries with any of the values given.
	Sources    []logsink.Source
	Components []logsink.Component
	// VMID, NodeID, CorrelationID and SessionID must match exactly.
	VMID          string
	NodeID        string
	CorrelationID string
	SessionID     string
	// UserAction, when set, must match the entry's user_action.
	UserAction *bool
	// Text must occur in the message, action or target, ignoring ASCII
	// case.
	Text string
	// Since keeps entries at or after it; Until entries before it.
	Since, Until time.Time
}

// LogQuery is a LogFilter with paging.
type LogQuery struct {
	LogFilter
	// Limit is the page size, 1..1000 (0 means 100).
	Limit int
	// Cursor continues after the page that returned it, in the same
	// order.
	Cursor string
	// Ascending lists oldest first; newest first otherwise.
	Ascending bool
}

// LogPage is one page of a log query.
type LogPage struct {
	Entries []logsink.Entry
	// NextCursor continues after this page; "" when HasMore is false.
	NextCursor string
	// HasMore says whether entries follow this page.
	HasMore bool
}

// logRepo is the LogRepo of a sqlStore.
type logRepo struct{ s *sqlStore }

// logColumns are the columns of log_entries in the order inserts bind
// them; seq is the database's.
var logColumns = []string{"id", "ts", "level", "level_rank", "source", "component", "message", "fields",
	"vm_id", "node_id", "user_id", "session_id", "correlation_id", "action", "target", "user_action"}

// logRow is a row of log_entries.
type logRow struct {
	Seq           int64   `gorm:"column:seq;primaryKey"`
	ID            string  `gorm:"column:id"`
	TS            logTime `gorm:"column:ts"`
	Level         string  `gorm:"column:level"`
	LevelRank     int     `gorm:"column:level_rank"`
	Source        string  `gorm:"column:source"`
	Component     string  `gorm:"column:component"`
	Message       string  `gorm:"column:message"`
	Fields        *string `gorm:"column:fields"`
	VMID          string  `gorm:"column:vm_id"`
	NodeID        string  `gorm:"column:node_id"`
	UserID        string  `gorm:"column:user_id"`
	SessionID     string  `gorm:"column:session_id"`
	CorrelationID string  `gorm:"column:correlation_id"`
	Action        string  `gorm:"column:action"`
	Target        string  `gorm:"column:target"`
	UserAction    bool    `gorm:"column:user_action"`
}

// TableName is the table of logRow.
func (logRow) TableName() string { return "log_entries" }

func (r logRow) toEntry() logsink.Entry {
	e := logsink.Entry{
		ID: r.ID, Timestamp: time.Time(r.TS), Level: logsink.Level(r.Level), Source: logsink.Source(r.Source),
		Component: logsink.Component(r.Component), Message: r.Message, VMID: r.VMID, NodeID: r.NodeID,
		UserID: r.UserID, SessionID: r.SessionID, CorrelationID: r.CorrelationID, Action: r.Action,
		Target: r.Target, UserAction: r.UserAction,
	}
	if r.Fields != nil {
		e.Fields = json.RawMessage(*r.Fields)
	}
	return e
}

// logTime is log_entries.ts: Unix microseconds on SQLite, TIMESTAMPTZ on
// PostgreSQL; read as a UTC time.
type logTime time.Time

// Scan reads either form.
func (t *logTime) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*t = logTime(time.UnixMicro(v).UTC())
	case time.Time:
		*t = logTime(normTime(v))
	default:
		return fmt.Errorf("reading a log entry time: unsupported column value %T", src)
	}
	return nil
}

// ts is the value of t for log_entries.ts in the store's dialect.
func (r logRepo) ts(t time.Time) any {
	if r.s.dialect == dialectSQLite {
		return t.UnixMicro()
	}
	return normTime(t)
}

// A log cursor names the last entry of a page by its place in the
// (ts, seq) order: base64url of "<ts in Unix microseconds>|<seq>".

func encodeLogCursor(ts time.Time, seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(ts.UnixMicro(), 10) + "|" + strconv.FormatInt(seq, 10)))
}

func decodeLogCursor(c string) (time.Time, int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("%w: malformed cursor: not base64url", ErrInvalid)
	}
	a, b, ok := strings.Cut(string(raw), "|")
	us, err1 := strconv.ParseInt(a, 10, 64)
	seq, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return time.Time{}, 0, fmt.Errorf("%w: malformed cursor: not a log cursor", ErrInvalid)
	}
	return time.UnixMicro(us).UTC(), seq, nil
}

// logInsertRows is how many rows one INSERT of Insert carries: the SQLite
// driver binds parameters in time quadratic in their number, so
// statements stay small.
const logInsertRows = 25

// Insert stores entries in multi-row statements that skip ids already
// stored, all in one transaction.
func (r logRepo) Insert(ctx context.Context, entries []logsink.Entry) (int, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	pg := r.s.dialect == dialectPostgres
	text := func(s string) string {
		// PostgreSQL text cannot hold NUL; SQLite keeps it.
		if pg && strings.IndexByte(s, 0) >= 0 {
			return strings.ReplaceAll(s, "\x00", "\uFFFD")
		}
		return s
	}
	per := logInsertRows
	inserted := 0
	var seqs []int64
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		for start := 0; start < len(entries); start += per {
			chunk := entries[start:min(start+per, len(entries))]
			var sb strings.Builder
			sb.WriteString("INSERT INTO log_entries (" + strings.Join(logColumns, ", ") + ") VALUES ")
			vars := make([]any, 0, len(chunk)*len(logColumns))
			row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(logColumns)), ", ") + ")"
			for i := range chunk {
				e := &chunk[i]
				if e.ID == "" || e.Level.Rank() < 0 {
					return fmt.Errorf("%w: entry %q has no id or an unknown level %q", ErrInvalid, e.ID, e.Level)
				}
				if i > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString(row)
				var fields any
				if e.HasFields() {
					fields = text(string(e.Fields))
				}
				vars = append(vars, text(e.ID), r.ts(e.Timestamp), string(e.Level), e.Level.Rank(), string(e.Source),
					text(string(e.Component)), text(e.Message), fields, text(e.VMID), text(e.NodeID), text(e.UserID),
					text(e.SessionID), text(e.CorrelationID), text(e.Action), text(e.Target), e.UserAction)
			}
			sb.WriteString(" ON CONFLICT (id) DO NOTHING")
			if pg {
				// The seqs of the rows inserted are announced to the
				// other servers (stream.go).
				var got []int64
				if err := tx.Raw(sb.String()+" RETURNING seq", vars...).Scan(&got).Error; err != nil {
					return err
				}
				seqs = append(seqs, got...)
				inserted += len(got)
				continue
			}
			res := tx.Exec(sb.String(), vars...)
			if res.Error != nil {
				return res.Error
			}
			inserted += int(res.RowsAffected)
		}
		return r.s.notifyLogEntries(tx, seqs)
	})
	if err != nil {
		return 0, fmt.Errorf("storing %d log entries: %w", len(entries), dbError(err))
	}
	return inserted, nil
}

// Query returns one page in (ts, seq) order, newest first unless
// q.Ascending; the cursor names the last entry of the previous page.
func (r logRepo) Query(ctx context.Context, q LogQuery) (LogPage, error) {
	limit := q.Limit
	switch {
	case limit == 0:
		limit = defaultPageSize
	case limit < 0 || limit > maxPageSize:
		return LogPage{}, fmt.Errorf("querying logs: %w: limit %d is outside 1..%d", ErrInvalid, limit, maxPageSize)
	}
	db, err := r.filtered(r.s.read(ctx).Model(&logRow{}), q.LogFilter)
	if err != nil {
		return LogPage{}, fmt.Errorf("querying logs: %w", err)
	}
	if q.Cursor != "" {
		t, seq, err := decodeLogCursor(q.Cursor)
		if err != nil {
			return LogPage{}, fmt.Errorf("querying logs: %w", err)
		}
		if q.Ascending {
			db = db.Where("(ts, seq) > (?, ?)", r.ts(t), seq)
		} else {
			db = db.Where("(ts, seq) < (?, ?)", r.ts(t), seq)
		}
	}
	if q.Ascending {
		db = db.Order("ts, seq")
	} else {
		db = db.Order("ts DESC, seq DESC")
	}
	var rows []logRow
	if err := db.Limit(limit + 1).Find(&rows).Error; err != nil {
		return LogPage{}, fmt.Errorf("querying logs: %w", err)
	}
	page := LogPage{Entries: make([]logsink.Entry, 0, min(len(rows), limit))}
	if len(rows) > limit {
		rows = rows[:limit]
		page.HasMore = true
	}
	for i := range rows {
		page.Entries = append(page.Entries, rows[i].toEntry())
	}
	if page.HasMore {
		last := rows[len(rows)-1]
		page.NextCursor = encodeLogCursor(time.Time(last.TS), last.Seq)
	}
	return page, nil
}

// filtered adds the conditions of f to db.
func (r logRepo) filtered(db *gorm.DB, f LogFilter) (*gorm.DB, error) {
	if f.MinLevel != "" {
		rank := f.MinLevel.Rank()
		if rank < 0 {
			return nil, fmt.Errorf("%w: unknown level %q", ErrInvalid, f.MinLevel)
		}
		if rank > 0 {
			db = db.Where("level_rank >= ?", rank)
		}
	}
	if len(f.Sources) > 0 {
		vals := make([]string, len(f.Sources))
		for i, s := range f.Sources {
			vals[i] = string(s)
		}
		db = db.Where("source IN ?", vals)
	}
	if len(f.Components) > 0 {
		vals := make([]string, len(f.Components))
		for i, c := range f.Components {
			vals[i] = string(c)
		}
		db = db.Where("component IN ?", vals)
	}
	for _, eq := range []struct{ col, v string }{
		{"vm_id", f.VMID}, {"node_id", f.NodeID}, {"correlation_id", f.CorrelationID}, {"session_id", f.SessionID},
	} {
		if eq.v != "" {
			db = db.Where(eq.col+" = ?", eq.v)
		}
	}
	if f.UserAction != nil {
		db = db.Where("user_action = ?", *f.UserAction)
	}
	if f.Text != "" {
		pat := "%" + likeEscaper.Replace(f.Text) + "%"
		like := "LIKE"
		if r.s.dialect == dialectPostgres {
			like = "ILIKE"
		}
		db = db.Where("(message "+like+" ? ESCAPE '\\' OR action "+like+" ? ESCAPE '\\' OR target "+like+" ? ESCAPE '\\')", pat, pat, pat)
	}
	if !f.Since.IsZero() {
		db = db.Where("ts >= ?", r.ts(f.Since))
	}
	if !f.Until.IsZero() {
		db = db.Where("ts < ?", r.ts(f.Until))
	}
	return db, nil
}

// likeEscaper escapes the LIKE wildcards of a literal text.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// pruneChunk bounds the rows one DELETE of Prune removes, so that the
// writer is not held for long.
const pruneChunk = 5000

// Prune removes, a chunk at a time, the entries older than before and
// those past the newest keep.
func (r logRepo) Prune(ctx context.Context, before time.Time, keep int) (int64, error) {
	var total int64
	if !before.IsZero() {
		n, err := r.deleteChunks(ctx, "ts < ?", r.ts(before))
		total += n
		if err != nil {
			return total, fmt.Errorf("pruning log entries older than %s: %w", before.UTC().Format(time.RFC3339), err)
		}
	}
	if keep > 0 {
		var rows []logRow
		err := r.s.read(ctx).Select("ts, seq").Order("ts DESC, seq DESC").Offset(keep).Limit(1).Find(&rows).Error
		if err != nil {
			return total, fmt.Errorf("pruning log entries past the newest %d: %w", keep, err)
		}
		if len(rows) == 1 {
			n, err := r.deleteChunks(ctx, "(ts, seq) <= (?, ?)", r.ts(time.Time(rows[0].TS)), rows[0].Seq)
			total += n
			if err != nil {
				return total, fmt.Errorf("pruning log entries past the newest %d: %w", keep, err)
			}
		}
	}
	return total, nil
}

// deleteChunks deletes the rows matching cond, pruneChunk at a time.
func (r logRepo) deleteChunks(ctx context.Context, cond string, args ...any) (int64, error) {
	var total int64
	for {
		var n int64
		err := r.s.write(ctx, true, func(tx *gorm.DB) error {
			sub := tx.Model(&logRow{}).Select("seq").Where(cond, args...).Limit(pruneChunk)
			res := tx.Where("seq IN (?)", sub).Delete(&logRow{})
			n = res.RowsAffected
			return res.Error
		})
		total += n
		if err != nil {
			return total, dbError(err)
		}
		if n < pruneChunk {
			return total, nil
		}
	}
}

// Count returns how many entries are stored.
func (r logRepo) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := r.s.read(ctx).Model(&logRow{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("counting log entries: %w", err)
	}
	return n, nil
}
