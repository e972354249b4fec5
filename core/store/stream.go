package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// Streams across servers (PostgreSQL only). Several servers on one database
// learn of each other's changes through LISTEN/NOTIFY on one channel per
// schema:
//
//   - A transaction that appends VM events first takes a transaction-level
//     advisory lock (the same for every such transaction), so that event
//     ids are handed out in commit order: once id N is visible, every
//     smaller id is committed or never will be. A reader that has every
//     event up to N misses nothing by reading "id > N" later, on any server.
//     The transaction then sends "v <highest id>", delivered at its commit
//     (nothing is sent when it rolls back).
//   - Storing log entries sends, in the inserting transaction,
//     "l <origin> <seq ranges>": the store's origin (one per Open) and the
//     log_entries.seq of the rows it inserted (an entry stored already is
//     not inserted again, so not announced again). Readers fetch them back
//     with LogsBySeq.
//   - Anything else is the caller's (core/clusterbus): Notify and
//     NotifyNumbered send it.
//
// PostgreSQL delivers notifications in commit order, the same order to
// every listener. A payload is at most MaxNotifyPayload bytes.

// MaxNotifyPayload is the longest notification payload the store sends or
// takes: PostgreSQL refuses payloads of 8000 bytes or more.
const MaxNotifyPayload = 7900

// The first word of the notifications the store sends itself.
const (
	NoteVMEvents   = "v"
	NoteLogEntries = "l"
)

// The advisory lock every transaction appending VM events holds from its
// first append to its end (pg_advisory_xact_lock(class, key)).
const (
	eventLockClass = 0x51584556 // "QXEV"
	eventLockKey   = 1
)

// Reconnection backoff of Listen, and how long it waits for a notification
// before it checks the connection is alive.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
	listenIdleCheck  = 15 * time.Second
	listenPingWait   = 5 * time.Second
)

// streamChannel is the notification channel of a schema: channels are per
// database, so that stores in different schemas of one database do not
// hear each other.
func streamChannel(schema string) string {
	if schema == "" || schema == "public" {
		return "quantix_stream"
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(schema))
	return fmt.Sprintf("quantix_stream_%016x", h.Sum64())
}

// pgStream is what a PostgreSQL store keeps for streams.
type pgStream struct {
	dsn     string
	channel string
	// origin names this store handle in the log notifications it sends, so
	// that its own listener can skip them.
	origin string
	// positioned groups NotifyPositioned calls.
	positioned positionedBatches
}

// Stream is what a Store on PostgreSQL offers to carry changes across the
// servers sharing its database. StreamOf returns it.
type Stream interface {
	// Channel is the notification channel.
	Channel() string
	// Origin names this store handle in the log notifications it sends
	// (ParseLogNote).
	Origin() string
	// Notify sends payload (at most MaxNotifyPayload bytes) on the channel,
	// in a transaction of its own.
	Notify(ctx context.Context, payload string) error
	// NotifyNumbered sends prefix + " " + n + " " + payload, where n is a
	// number drawn from the VM event id counter: unique in the database,
	// greater than every event id handed out before it, never an event's id.
	NotifyNumbered(ctx context.Context, prefix, payload string) (int64, error)
	// NotifyPositioned is NotifyNumbered under the VM event order lock: it
	// also returns the highest VM event id committed before the
	// notification, the last VM event every listener has read when the
	// notification reaches it (VM events deleted meanwhile aside). The
	// notification is stored as well, in the transaction that sends it
	// (StreamSince reads it back): it is stored if and only if it is sent.
	NotifyPositioned(ctx context.Context, prefix, payload string) (n, lastVMEvent int64, err error)
	// StreamSince reads back, from one snapshot, what followed a position
	// of the stream: the VM events with an id above afterVM and the stored
	// positioned notifications with a number above afterNote placed at or
	// after afterVM, each oldest first and at most limit (1..1000) of
	// each. Both are whole prefixes of what was committed after that
	// position: no VM event or notification committed later can come
	// before any of them.
	StreamSince(ctx context.Context, afterVM, afterNote int64, limit int) ([]*vm.Event, []StoredNote, error)
	// LastPositioned returns the highest number of a stored positioned
	// notification; 0 when none is.
	LastPositioned(ctx context.Context) (int64, error)
	// Listen holds a connection of its own listening on the channel until
	// ctx ends, reconnecting with backoff when it is lost; see ListenHandler.
	Listen(ctx context.Context, h ListenHandler) error
	// LogsBySeq returns the stored log entries with the given seqs (from a
	// log notification), in seq order; entries pruned meanwhile are left out.
	LogsBySeq(ctx context.Context, seqs []int64) ([]logsink.Entry, error)
	// LogsAfter returns, in seq order, up to limit stored log entries
	// whose log_entries.seq is above after, and the seq of the last one
	// returned (after when none is).
	LogsAfter(ctx context.Context, after int64, limit int) ([]logsink.Entry, int64, error)
	// LastLogSeq returns the highest log_entries.seq stored; 0 when none.
	LastLogSeq(ctx context.Context) (int64, error)
}

// ListenHandler receives what Listen hears.
type ListenHandler struct {
	// Connected runs once LISTEN is in place, before any notification of
	// that connection is handed over; first is true on the first
	// connection. An error drops the connection, which is made again.
	Connected func(ctx context.Context, first bool) error
	// Notified receives the payloads, in the order PostgreSQL delivers
	// them. An error drops the connection, which is made again (and
	// Connected runs again).
	Notified func(ctx context.Context, payload string) error
	// Lost, when set, is told why the connection was lost, before Listen
	// connects again.
	Lost func(err error)
}

// StreamOf returns the Stream of s: ok only for a Store Open returned on
// PostgreSQL (or a transaction's of one).
func StreamOf(s Store) (Stream, bool) {
	ss, ok := s.(*sqlStore)
	if !ok || ss.pg == nil {
		return nil, false
	}
	return pgStreamStore{ss}, true
}

// pgStreamStore is the Stream of a PostgreSQL sqlStore.
type pgStreamStore struct{ s *sqlStore }

func (p pgStreamStore) Channel() string { return p.s.pg.channel }
func (p pgStreamStore) Origin() string  { return p.s.pg.origin }

func (p pgStreamStore) Notify(ctx context.Context, payload string) error {
	if len(payload) > MaxNotifyPayload {
		return fmt.Errorf("notifying: %w: payload of %d bytes is over %d", ErrInvalid, len(payload), MaxNotifyPayload)
	}
	if err := p.s.w.WithContext(ctx).Exec("SELECT pg_notify(?, ?)", p.s.pg.channel, payload).Error; err != nil {
		return fmt.Errorf("notifying on %s: %w", p.s.pg.channel, err)
	}
	return nil
}

func (p pgStreamStore) NotifyNumbered(ctx context.Context, prefix, payload string) (int64, error) {
	if len(prefix)+len(payload)+22 > MaxNotifyPayload {
		return 0, fmt.Errorf("notifying: %w: payload of %d bytes is over %d", ErrInvalid, len(prefix)+len(payload)+22, MaxNotifyPayload)
	}
	var n int64
	err := p.s.w.WithContext(ctx).Raw(
		`SELECT n FROM (SELECT nextval(pg_get_serial_sequence('vm_events', 'id')) AS n) d,
		 LATERAL (SELECT pg_notify(?, ? || ' ' || d.n || ' ' || ?)) s`,
		p.s.pg.channel, prefix, payload).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("notifying on %s: %w", p.s.pg.channel, err)
	}
	return n, nil
}

func (p pgStreamStore) NotifyPositioned(ctx context.Context, prefix, payload string) (n, lastVMEvent int64, err error) {
	if len(prefix)+len(payload)+22 > MaxNotifyPayload {
		return 0, 0, fmt.Errorf("notifying: %w: payload of %d bytes is over %d", ErrInvalid, len(prefix)+len(payload)+22, MaxNotifyPayload)
	}
	req := &positionedNote{prefix: prefix, payload: payload, done: make(chan struct{})}
	g := &p.s.pg.positioned
	g.mu.Lock()
	g.queue = append(g.queue, req)
	if !g.running {
		g.running = true
		go p.sendPositioned()
	}
	g.mu.Unlock()
	select {
	case <-req.done:
	case <-ctx.Done():
		return 0, 0, fmt.Errorf("notifying on %s: %w", p.s.pg.channel, ctx.Err())
	}
	if req.err != nil {
		return 0, 0, fmt.Errorf("notifying on %s: %w", p.s.pg.channel, req.err)
	}
	return req.n, req.last, nil
}

// StoredNote is a notification NotifyPositioned sent, as stored: its
// number, the last VM event committed before it, and what followed the
// number ("prefix n payload").
type StoredNote struct {
	N, LastVMEvent  int64
	Prefix, Payload string
}

// positionedNote is one NotifyPositioned call waiting for its batch.
type positionedNote struct {
	prefix, payload string
	n, last         int64
	err             error
	done            chan struct{}
}

// positionedBatches groups the NotifyPositioned calls of a store handle:
// those made while a batch's transaction runs go out together in the next
// one. Each takes the VM event order lock, which every server's event
// appends wait for, and commits: one lock and one commit for many
// notifications keep the appends of the whole cluster from queueing behind
// them (some 200 node events when as many agents connect at once).
type positionedBatches struct {
	mu      sync.Mutex
	queue   []*positionedNote
	running bool
}

// maxPositionedBatch bounds the notifications of one transaction.
const maxPositionedBatch = 256

// positionedTimeout bounds one batch's transaction.
const positionedTimeout = 10 * time.Second

// sendPositioned sends the queued notifications, a batch a transaction,
// until none is left.
func (p pgStreamStore) sendPositioned() {
	g := &p.s.pg.positioned
	for {
		g.mu.Lock()
		batch := g.queue[:min(len(g.queue), maxPositionedBatch)]
		g.queue = g.queue[len(batch):]
		if len(batch) == 0 {
			g.running = false
			g.queue = nil
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), positionedTimeout)
		err := p.notifyPositioned(ctx, batch)
		cancel()
		for _, req := range batch {
			req.err = err
			close(req.done)
		}
	}
}

// notifyPositioned sends batch in one transaction under the VM event order
// lock: numbers drawn in batch order, the last VM event id committed
// (the same for all: no append commits while the lock is held), one
// notification each, in the order of their numbers.
func (p pgStreamStore) notifyPositioned(ctx context.Context, batch []*positionedNote) error {
	return p.s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := p.s.lockEvents(tx); err != nil {
			return err
		}
		var rows []struct {
			N    int64
			Last int64
		}
		err := tx.Raw(`SELECT d.n AS n, m.last AS last
			FROM (SELECT nextval(pg_get_serial_sequence('vm_events', 'id')) AS n FROM generate_series(1, ?)) d,
				(SELECT COALESCE(MAX(id), 0) AS last FROM vm_events) m
			ORDER BY d.n`, len(batch)).Scan(&rows).Error
		if err != nil {
			return err
		}
		if len(rows) != len(batch) {
			return fmt.Errorf("drew %d numbers for %d notifications", len(rows), len(batch))
		}
		ns, lasts := make([]int64, len(batch)), make([]int64, len(batch))
		prefixes, bodies := make([]string, len(batch)), make([]string, len(batch))
		for i, req := range batch {
			req.n, req.last = rows[i].N, rows[i].Last
			ns[i], lasts[i], prefixes[i], bodies[i] = req.n, req.last, req.prefix, req.payload
		}
		// Stored by the statement that sends them, "prefix n payload" in
		// the order of their numbers: a listener that missed some reads
		// back exactly those that were sent.
		_, err = tx.Statement.ConnPool.ExecContext(ctx,
			`WITH s AS (
				INSERT INTO stream_notes (n, last_vm_event, prefix, payload)
				SELECT * FROM unnest($2::int8[], $3::int8[], $4::text[], $5::text[])
				RETURNING n, prefix, payload)
			 SELECT pg_notify($1, s.prefix || ' ' || s.n || ' ' || s.payload) FROM s ORDER BY s.n`,
			p.s.pg.channel, ns, lasts, prefixes, bodies)
		return err
	})
}

// storedNoteRow is a row of stream_notes.
type storedNoteRow struct {
	N           int64  `gorm:"column:n;primaryKey"`
	LastVMEvent int64  `gorm:"column:last_vm_event"`
	Prefix      string `gorm:"column:prefix"`
	Payload     string `gorm:"column:payload"`
}

// TableName is the table of storedNoteRow.
func (storedNoteRow) TableName() string { return "stream_notes" }

func (r *storedNoteRow) toNote() StoredNote {
	return StoredNote{N: r.N, LastVMEvent: r.LastVMEvent, Prefix: r.Prefix, Payload: r.Payload}
}

// StreamSince: see Stream.
func (p pgStreamStore) StreamSince(ctx context.Context, afterVM, afterNote int64, limit int) ([]*vm.Event, []StoredNote, error) {
	if limit < 1 || limit > maxPageSize {
		return nil, nil, fmt.Errorf("reading the stream back: %w: limit %d is outside 1..%d", ErrInvalid, limit, maxPageSize)
	}
	var evs []*vm.Event
	var notes []StoredNote
	err := p.s.r.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		evs, err = allRows(tx.Where("id > ?", afterVM).Order("id").Limit(limit), (*eventRow).toEvent)
		if err != nil {
			return err
		}
		// Numbers and positions grow together: in position order.
		var rows []storedNoteRow
		err = tx.Where("last_vm_event >= ? AND n > ?", afterVM, afterNote).
			Order("last_vm_event, n").Limit(limit).Find(&rows).Error
		for _, r := range rows {
			notes = append(notes, r.toNote())
		}
		return err
	}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the stream back after %d.%d: %w", afterVM, afterNote, err)
	}
	return evs, notes, nil
}

// LastPositioned: see Stream.
func (p pgStreamStore) LastPositioned(ctx context.Context) (int64, error) {
	var n *int64
	if err := p.s.r.WithContext(ctx).Model(&storedNoteRow{}).Select("MAX(n)").Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("reading the last stored notification: %w", err)
	}
	if n == nil {
		return 0, nil
	}
	return *n, nil
}

func (p pgStreamStore) LogsBySeq(ctx context.Context, seqs []int64) ([]logsink.Entry, error) {
	var out []logsink.Entry
	for start := 0; start < len(seqs); start += maxPageSize {
		chunk := seqs[start:min(start+maxPageSize, len(seqs))]
		var rows []logRow
		if err := p.s.read(ctx).Where("seq IN ?", chunk).Order("seq").Find(&rows).Error; err != nil {
			return nil, fmt.Errorf("reading %d log entries by seq: %w", len(chunk), err)
		}
		for i := range rows {
			out = append(out, rows[i].toEntry())
		}
	}
	return out, nil
}

func (p pgStreamStore) LogsAfter(ctx context.Context, after int64, limit int) ([]logsink.Entry, int64, error) {
	if limit < 1 {
		return nil, after, fmt.Errorf("reading the log entries after seq %d: %w: limit %d", after, ErrInvalid, limit)
	}
	var rows []logRow
	if err := p.s.read(ctx).Where("seq > ?", after).Order("seq").Limit(limit).Find(&rows).Error; err != nil {
		return nil, after, fmt.Errorf("reading the log entries after seq %d: %w", after, err)
	}
	out := make([]logsink.Entry, len(rows))
	last := after
	for i := range rows {
		out[i] = rows[i].toEntry()
		last = rows[i].Seq
	}
	return out, last, nil
}

func (p pgStreamStore) LastLogSeq(ctx context.Context) (int64, error) {
	var n int64
	if err := p.s.read(ctx).Raw("SELECT COALESCE(MAX(seq), 0) FROM log_entries").Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("reading the last log entry's seq: %w", err)
	}
	return n, nil
}

// Listen: see Stream.
func (p pgStreamStore) Listen(ctx context.Context, h ListenHandler) error {
	cfg, err := pgx.ParseConfig(p.s.pg.dsn)
	if err != nil {
		return fmt.Errorf("listening for changes: parsing server.database.dsn: %w", err)
	}
	cfg.RuntimeParams["application_name"] = ListenerApplicationName(p.s.pg.origin)
	backoff := listenBackoffMin
	first := true
	for {
		connected, err := p.listenOnce(ctx, cfg, h, first)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			first = false
			backoff = listenBackoffMin
		}
		if h.Lost != nil {
			h.Lost(err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, listenBackoffMax)
	}
}

// listenOnce connects, listens and hands notifications over until the
// connection fails or ctx ends. connected tells whether Connected ran
// without error.
func (p pgStreamStore) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, h ListenHandler, first bool) (connected bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return false, fmt.Errorf("connecting the stream listener: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(cctx)
		cancel()
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{p.s.pg.channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listening on %s: %w", p.s.pg.channel, err)
	}
	if h.Connected != nil {
		if err := h.Connected(ctx, first); err != nil {
			return false, fmt.Errorf("catching up after connecting the stream listener: %w", err)
		}
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdleCheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if n != nil && h.Notified != nil {
				if err := h.Notified(ctx, n.Payload); err != nil {
					return true, err
				}
			}
			continue
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, listenPingWait)
			_, perr := conn.Exec(pctx, "SELECT 1")
			cancel()
			if perr != nil {
				return true, fmt.Errorf("the stream listener's connection does not answer: %w", perr)
			}
			continue
		}
		return true, fmt.Errorf("waiting for notifications: %w", err)
	}
}

// lockEvents takes the advisory lock of event appends in tx; a no-op off
// PostgreSQL.
func (s *sqlStore) lockEvents(tx *gorm.DB) error {
	if s.pg == nil {
		return nil
	}
	if err := tx.Exec("SELECT pg_advisory_xact_lock(?, ?)", eventLockClass, eventLockKey).Error; err != nil {
		return fmt.Errorf("taking the event order lock: %w", err)
	}
	return nil
}

// notifyVMEvents announces, in tx, VM events up to id maxID; a no-op off
// PostgreSQL.
func (s *sqlStore) notifyVMEvents(tx *gorm.DB, maxID int64) error {
	if s.pg == nil {
		return nil
	}
	return tx.Exec("SELECT pg_notify(?, ?)", s.pg.channel, NoteVMEvents+" "+strconv.FormatInt(maxID, 10)).Error
}

// notifyLogEntries announces, in tx, the log entries stored under seqs, in
// as many notifications as their ranges need.
func (s *sqlStore) notifyLogEntries(tx *gorm.DB, seqs []int64) error {
	if s.pg == nil || len(seqs) == 0 {
		return nil
	}
	for _, p := range LogNotes(s.pg.origin, seqs) {
		if err := tx.Exec("SELECT pg_notify(?, ?)", s.pg.channel, p).Error; err != nil {
			return err
		}
	}
	return nil
}

// ListenerApplicationName is the application_name of the listening
// connection of the store handle with origin (in pg_stat_activity).
func ListenerApplicationName(origin string) string { return "quantixd listener " + origin }

// ParseVMNote reads a VM events notification: the highest id committed.
func ParseVMNote(payload string) (maxID int64, ok bool) {
	rest, found := strings.CutPrefix(payload, NoteVMEvents+" ")
	if !found {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	return n, err == nil && n > 0
}

// LogNotes are the payloads announcing the log entries stored under seqs by
// origin: "l <origin> a-b,c,...", each at most MaxNotifyPayload bytes.
func LogNotes(origin string, seqs []int64) []string {
	seqs = slices.Clone(seqs)
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	head := NoteLogEntries + " " + origin + " "
	var out []string
	var sb strings.Builder
	flush := func() {
		if sb.Len() > 0 {
			out = append(out, head+sb.String())
			sb.Reset()
		}
	}
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		r := strconv.FormatInt(seqs[i], 10)
		if j > i {
			r += "-" + strconv.FormatInt(seqs[j], 10)
		}
		if len(head)+sb.Len()+1+len(r) > MaxNotifyPayload {
			flush()
		}
		if sb.Len() > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(r)
		i = j + 1
	}
	flush()
	return out
}

// maxNoteRange bounds the seqs one range of a log notification may stand
// for, so that a forged or corrupt payload cannot make a reader allocate
// without end.
const maxNoteRange = 1 << 20

// ParseLogNote reads what LogNotes writes.
func ParseLogNote(payload string) (origin string, seqs []int64, ok bool) {
	rest, found := strings.CutPrefix(payload, NoteLogEntries+" ")
	if !found {
		return "", nil, false
	}
	origin, ranges, found := strings.Cut(rest, " ")
	if !found || origin == "" || ranges == "" {
		return "", nil, false
	}
	for _, r := range strings.Split(ranges, ",") {
		a, b, isRange := strings.Cut(r, "-")
		lo, err := strconv.ParseInt(a, 10, 64)
		if err != nil || lo < 1 {
			return "", nil, false
		}
		hi := lo
		if isRange {
			if hi, err = strconv.ParseInt(b, 10, 64); err != nil || hi < lo || hi-lo > maxNoteRange {
				return "", nil, false
			}
		}
		for n := lo; n <= hi; n++ {
			seqs = append(seqs, n)
		}
	}
	return origin, seqs, true
}
