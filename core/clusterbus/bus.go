// Package clusterbus carries the changes of every server sharing one
// PostgreSQL database to the event stream (GET /api/events) and the live
// log stream (GET /api/logs/stream) of each of them, through LISTEN/NOTIFY
// (store.Stream). SQLite has no Bus: one server publishes on its broker
// directly.
//
// VM events. The store announces them in the transaction that appends them
// ("v <highest id>", delivered at commit) and hands out their ids in commit
// order (store/stream.go). Every server, the committing one included, reads
// the events after the last one it published up to the id announced and
// publishes them on its broker, so that every server's stream holds the
// same events in the same order, in id order: a client may resume from any
// VM event id on any server and miss nothing. After its connection was
// lost, a server reads every event after the last it published.
//
// Memory-only events (node changes, the removal of an unmanaged VM's
// record) are sent after the fact, with a number drawn from the event id
// counter; each server publishes them at Position{its last VM event, that
// number}, the same position on every server. A server that lost its
// connection may have missed some: its subscribers get a gap marker.
//
// Log entries. Each server spools and delivers what it receives itself; the
// store announces the rows it inserts with the store handle's origin, and
// the other servers read them back and offer them to their live
// subscribers. After its connection was lost, a server reads back the
// entries stored meanwhile (up to logCatchUp of them) and offers them too.
package clusterbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// The first word of the notifications a Bus sends itself.
const (
	noteMemory = "m" // "m <number> <json of a memoryNote>"
	noteRehome = "r" // "r <from> <to>"
)

// readPage is how many VM events one read of the store takes.
const readPage = 1000

// Reading back the log entries stored while the connection was lost: from
// logMargin seqs below the highest one announced before (log entries are
// not stored in seq order, so one with a lower seq may have committed
// unheard), at most logCatchUp entries. Entries a live stream carried
// already are left out by its memory of the last 16384 ids it carried,
// which covers both.
const (
	logMargin  = 1024
	logCatchUp = 8192
)

// LogHub is where entries other servers stored reach this server's live
// log subscribers (logs.Pipeline.PublishStored).
type LogHub interface {
	PublishStored(entries []logsink.Entry)
}

// LiveHub is the optional capability of a LogHub that tells whether anyone
// follows its entries now (logs.Pipeline.HasLiveSubscribers). The entries
// another server announces are read back only while it does: without a
// live subscriber they would reach nobody, and reading them back would cost
// every server a query for each batch of entries any server stores.
type LiveHub interface {
	HasLiveSubscribers() bool
}

// Options configure a Bus.
type Options struct {
	// Store is the inventory; New fails unless it is on PostgreSQL.
	Store store.Store
	// Broker is this server's event broker.
	Broker *events.Broker
	// Logs receives the log entries other servers store; nil leaves them
	// out.
	Logs LogHub
	// Logger receives the bus's log; nil discards.
	Logger hclog.Logger
}

// Bus is one server's end of the streams across servers: the
// events.Publisher the control plane publishes on, and the listener that
// feeds this server's broker and live log subscribers. Run it.
type Bus struct {
	st     store.Store
	stream store.Stream
	broker *events.Broker
	logs   LogHub
	log    hclog.Logger

	ready     chan struct{}
	readyOnce sync.Once

	// lastVM is the id of the last VM event published on broker, lastNote
	// the number of the last positioned notification (a memory-only
	// event); only the listener (Run) touches them.
	lastVM, lastNote int64
	// lastLog is the highest log_entries.seq announced (by any server) or
	// read back, logFloor the highest stored when the bus first listened
	// (entries up to it are never offered); only the listener touches them.
	lastLog, logFloor int64
}

// Enabled reports whether s is on PostgreSQL, where a Bus is needed.
func Enabled(s store.Store) bool {
	_, ok := store.StreamOf(s)
	return ok
}

// New returns the bus of opts.Store's database.
func New(opts Options) (*Bus, error) {
	st, ok := store.StreamOf(opts.Store)
	if !ok {
		return nil, errors.New("cluster bus: the store is not on PostgreSQL; servers on SQLite publish on their broker")
	}
	if opts.Broker == nil {
		return nil, errors.New("cluster bus: a broker is required")
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	return &Bus{st: opts.Store, stream: st, broker: opts.Broker, logs: opts.Logs, log: opts.Logger.Named("clusterbus"),
		ready: make(chan struct{})}, nil
}

// Ready is closed once the listener is in place and the broker seeded: from
// then on every change committed reaches the broker.
func (b *Bus) Ready() <-chan struct{} { return b.ready }

// Run listens until ctx ends, reconnecting when the connection is lost.
func (b *Bus) Run(ctx context.Context) error {
	return b.stream.Listen(ctx, store.ListenHandler{
		Connected: b.connected,
		Notified:  b.notified,
		Lost: func(err error) {
			b.log.Warn("lost the connection that hears other servers' changes; reconnecting", "error", err)
		},
	})
}

// connected seeds the broker on the first connection and catches up on the
// next ones.
func (b *Bus) connected(ctx context.Context, first bool) error {
	if first {
		id, err := b.st.Events().LastID(ctx)
		if err != nil {
			return err
		}
		b.broker.Seed(id)
		b.lastVM = id
		if b.lastNote, err = b.stream.LastPositioned(ctx); err != nil {
			return err
		}
		if b.logs != nil {
			if b.lastLog, err = b.stream.LastLogSeq(ctx); err != nil {
				return err
			}
			b.logFloor = b.lastLog
		}
		b.readyOnce.Do(func() { close(b.ready) })
		b.log.Debug("listening for changes of every server", "channel", b.stream.Channel(), "last_event", id)
		return nil
	}
	from := events.Position{VMEvent: b.lastVM, Seq: b.lastNote}
	n, err := b.readBack(ctx)
	if err != nil {
		return err
	}
	logs, err := b.readLogs(ctx)
	if err != nil {
		return err
	}
	b.log.Info("listening for changes again", "caught_up_from", from.String(),
		"to", events.Position{VMEvent: b.lastVM, Seq: b.lastNote}.String(), "events_read_back", n, "log_entries_read_back", logs)
	return nil
}

// readBack publishes, in stream order, the VM events and the memory-only
// events (stored positioned notifications) committed after the last ones
// published: what the listener missed while it was away. It returns how
// many it published.
func (b *Bus) readBack(ctx context.Context) (int, error) {
	n := 0
	for {
		page, err := b.ReadSince(ctx, events.Position{VMEvent: b.lastVM, Seq: b.lastNote}, readPage)
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			return n, nil
		}
		for _, ev := range page {
			switch {
			case ev.Pos.Seq == 0:
				b.broker.PublishVM(ev.VM)
				b.lastVM = ev.VM.ID
			case ev.Kind == events.StreamGap:
				b.lastNote = ev.Pos.Seq // logged by ReadSince; skipped as the live path does
			default:
				b.broker.PublishMemoryAt(ev.Pos.Seq, ev)
				b.lastNote = ev.Pos.Seq
			}
		}
		n += len(page)
	}
}

// Since reads stored VM events (events.History).
func (b *Bus) Since(ctx context.Context, afterID int64, limit int) ([]*vm.Event, error) {
	return b.st.Events().Since(ctx, afterID, limit)
}

// ReadSince returns what followed position after in the stream of the
// whole cluster, as stored: VM events at their ids and the memory-only
// events every server sent (node changes, removals of unmanaged VMs'
// records) at their positions, in stream order, at most limit of each
// kind (events.Replayer). A stored change this server cannot read stands
// at its position as a gap marker.
func (b *Bus) ReadSince(ctx context.Context, after events.Position, limit int) ([]events.StreamEvent, error) {
	evs, notes, err := b.stream.StreamSince(ctx, after.VMEvent, after.Seq, limit)
	if err != nil {
		return nil, err
	}
	mem := make([]events.StreamEvent, 0, len(notes))
	for _, nt := range notes {
		pos := events.Position{VMEvent: nt.LastVMEvent, Seq: nt.N}
		ev, err := decodeMemory(nt.Payload)
		if err == nil && nt.Prefix != noteMemory {
			err = fmt.Errorf("unknown kind %q", nt.Prefix)
		}
		if err != nil {
			// A change this server cannot read (one of a newer version):
			// it keeps its place, as a gap, so that reading goes on past it.
			b.log.Warn("reading back a change a server sent", "number", nt.N, "error", err)
			ev = events.StreamEvent{Kind: events.StreamGap, Gap: &events.Gap{Resume: pos,
				Message: fmt.Sprintf("a change another server sent at %s could not be read (%v): GET /api/nodes has the nodes as they are now", pos, err)}}
		}
		ev.Pos = pos
		mem = append(mem, ev)
	}
	return mergeStream(evs, mem, len(evs) == limit, len(notes) == limit), nil
}

// mergeStream puts VM events (oldest first) and memory-only events (in
// position order) into stream order: a memory-only event after the VM
// event its position names, before the next. Each list is a prefix of what
// follows in its kind; a full one (moreVM, moreMem) may have more after
// it, so the merge stops where the other list's next event could come
// after one not read yet.
func mergeStream(evs []*vm.Event, mem []events.StreamEvent, moreVM, moreMem bool) []events.StreamEvent {
	out := make([]events.StreamEvent, 0, len(evs)+len(mem))
	i, j := 0, 0
	for i < len(evs) || j < len(mem) {
		if j < len(mem) && (i == len(evs) || mem[j].Pos.VMEvent < evs[i].ID) {
			if i == len(evs) && moreVM {
				break // a VM event not read yet may come first
			}
			out = append(out, mem[j])
			j++
			continue
		}
		if j == len(mem) && moreMem {
			break // a memory-only event not read yet may come first
		}
		out = append(out, events.StreamEvent{Pos: events.Position{VMEvent: evs[i].ID}, Kind: events.StreamVM, VM: evs[i]})
		i++
	}
	return out
}

// readLogs offers the live log subscribers the entries stored while the
// connection was lost, up to logCatchUp of them, and returns how many it
// read. More are left to GET /api/logs, with a warning.
func (b *Bus) readLogs(ctx context.Context) (int, error) {
	if b.logs == nil {
		return 0, nil
	}
	entries, last, err := b.stream.LogsAfter(ctx, max(b.lastLog-logMargin, b.logFloor), logMargin+logCatchUp)
	if err != nil {
		return 0, err
	}
	if len(entries) > 0 {
		b.logs.PublishStored(entries)
	}
	if len(entries) == logMargin+logCatchUp {
		newest, err := b.stream.LastLogSeq(ctx)
		if err != nil {
			return 0, err
		}
		if newest > last {
			b.log.Warn("more log entries were stored while this server could not hear the others than its live log streams take back: those between are only in GET /api/logs",
				"from_seq", last, "to_seq", newest)
			last = newest
		}
	}
	b.lastLog = max(b.lastLog, last)
	return len(entries), nil
}

// handleTimeout bounds the handling of one notification: PostgreSQL keeps
// every notification until the slowest listener has taken it.
const handleTimeout = 30 * time.Second

// notified handles one notification. A VM event it cannot read is an
// error: the listener reconnects and catches up. Anything else that fails
// is logged.
func (b *Bus) notified(ctx context.Context, payload string) error {
	ctx, cancel := context.WithTimeout(ctx, handleTimeout)
	defer cancel()
	kind, _, _ := strings.Cut(payload, " ")
	var err error
	switch kind {
	case store.NoteVMEvents:
		max, ok := store.ParseVMNote(payload)
		if !ok {
			err = fmt.Errorf("malformed notification %q", payload)
			break
		}
		if max > b.lastVM {
			if err := b.readVM(ctx, max); err != nil {
				return err
			}
		}
	case store.NoteLogEntries:
		err = b.logEntries(ctx, payload)
	case noteMemory:
		err = b.memory(payload)
	case noteRehome:
		f := strings.Fields(payload)
		if len(f) != 3 {
			err = fmt.Errorf("malformed notification %q", payload)
			break
		}
		b.broker.Rehome(f[1], f[2])
	default:
		err = fmt.Errorf("unknown notification %q", truncate(payload, 80))
	}
	if err != nil && ctx.Err() == nil {
		b.log.Warn("handling a change announced by a server", "error", err)
	}
	return nil
}

// readVM publishes the VM events after lastVM up to max (every one when max
// is 0). Ids are handed out in commit order, so none below max can commit
// later.
func (b *Bus) readVM(ctx context.Context, max int64) error {
	for {
		page, err := b.st.Events().Since(ctx, b.lastVM, readPage)
		if err != nil {
			return fmt.Errorf("reading the events after %d: %w", b.lastVM, err)
		}
		n := len(page)
		for i, e := range page {
			if max > 0 && e.ID > max {
				page, n = page[:i], -1
				break
			}
		}
		if len(page) > 0 {
			b.broker.PublishVM(page...)
			b.lastVM = page[len(page)-1].ID
		}
		if n < readPage {
			return nil
		}
	}
}

// logEntries offers the entries another server stored to the live log
// subscribers.
func (b *Bus) logEntries(ctx context.Context, payload string) error {
	origin, seqs, ok := store.ParseLogNote(payload)
	if ok && len(seqs) > 0 {
		b.lastLog = max(b.lastLog, slices.Max(seqs))
	}
	switch {
	case !ok:
		return fmt.Errorf("malformed notification %q", truncate(payload, 80))
	case origin == b.stream.Origin() || b.logs == nil:
		// This server offered its own entries when they were appended.
		return nil
	}
	if h, ok := b.logs.(LiveHub); ok && !h.HasLiveSubscribers() {
		// A subscription made from now on hears of the entries stored
		// after it by the notifications to come.
		return nil
	}
	entries, err := b.stream.LogsBySeq(ctx, seqs)
	if err != nil {
		return err
	}
	b.logs.PublishStored(entries)
	return nil
}

// memoryNote is the body of a memory-only event's notification.
type memoryNote struct {
	Kind string            `json:"k"`
	Node *events.NodeEvent `json:"n,omitempty"`
	VM   *vm.Event         `json:"v,omitempty"`
}

// memory publishes a memory-only event another server (or this one) sent,
// unless the listener read it back already.
func (b *Bus) memory(payload string) error {
	f := strings.SplitN(payload, " ", 3)
	if len(f) != 3 {
		return fmt.Errorf("malformed notification %q", truncate(payload, 80))
	}
	seq, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || seq < 1 {
		return fmt.Errorf("malformed notification %q", truncate(payload, 80))
	}
	ev, err := decodeMemory(f[2])
	if err != nil {
		return fmt.Errorf("malformed notification %q: %w", truncate(payload, 80), err)
	}
	if seq <= b.lastNote {
		return nil // read back after the listener reconnected
	}
	b.lastNote = seq
	b.broker.PublishMemoryAt(seq, ev)
	return nil
}

// decodeMemory decodes the body of a memory-only event's notification.
func decodeMemory(body string) (events.StreamEvent, error) {
	var n memoryNote
	if err := json.Unmarshal([]byte(body), &n); err != nil {
		return events.StreamEvent{}, err
	}
	if (n.Kind == events.StreamNode) == (n.Node == nil) || (n.Kind == events.StreamVM) == (n.VM == nil) ||
		(n.Kind != events.StreamNode && n.Kind != events.StreamVM) {
		return events.StreamEvent{}, fmt.Errorf("kind %q with node %t and vm %t", n.Kind, n.Node != nil, n.VM != nil)
	}
	return events.StreamEvent{Kind: n.Kind, Node: n.Node, VM: n.VM}, nil
}

// PublishVM does nothing: the store announces VM events in the transaction
// that appends them, and every server publishes them from there.
func (b *Bus) PublishVM(...*vm.Event) {}

// memoryBudget is what a memory-only event's JSON may take of a
// notification.
const memoryBudget = store.MaxNotifyPayload - 64

// PublishMemory sends a memory-only event to every server. A message that
// would make it too long for a notification is cut. When the database
// cannot be reached the event is lost, with a warning: so are the changes
// of the other servers, and every stream is told when the connection is
// back.
func (b *Bus) PublishMemory(ev events.StreamEvent) { b.PublishMemoryPos(ev) }

// PublishMemoryPos sends ev as PublishMemory does and returns the position
// every server gives it: the notification is sent under the VM event order
// lock, so the last VM event committed before it is the last one each
// server has published when the notification reaches it. ok is false when
// the event could not be sent.
func (b *Bus) PublishMemoryPos(ev events.StreamEvent) (events.Position, bool) {
	n := memoryNote{Kind: ev.Kind, Node: ev.Node, VM: ev.VM}
	body, err := encodeMemory(n)
	var pos events.Position
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
		pos.Seq, pos.VMEvent, err = b.stream.NotifyPositioned(ctx, noteMemory, body)
		cancel()
	}
	if err != nil {
		b.log.Warn("could not send a change to the other servers' event streams; it is lost", "kind", ev.Kind, "error", err)
		return events.Position{}, false
	}
	return pos, true
}

// Rehome tells every server's broker that the events of VM from are VM
// to's (events.Broker.Rehome).
func (b *Bus) Rehome(from, to string) {
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	if err := b.stream.Notify(ctx, noteRehome+" "+from+" "+to); err != nil {
		b.log.Warn("could not tell the other servers that a vm's events moved to its new id", "from", from, "to", to, "error", err)
	}
}

var (
	_ events.Publisher         = (*Bus)(nil)
	_ events.PositionPublisher = (*Bus)(nil)
	_ events.Replayer          = (*Bus)(nil)
)

// encodeMemory encodes n within memoryBudget, cutting its message if need
// be.
func encodeMemory(n memoryNote) (string, error) {
	raw, err := json.Marshal(n)
	if err != nil {
		return "", fmt.Errorf("encoding a %s event: %w", n.Kind, err)
	}
	if len(raw) <= memoryBudget {
		return string(raw), nil
	}
	msg := func() *string {
		if n.Node != nil {
			c := *n.Node
			n.Node = &c
			return &n.Node.Message
		}
		c := *n.VM
		n.VM = &c
		return &n.VM.Message
	}()
	over := len(raw) - memoryBudget
	if over >= len(*msg) {
		return "", fmt.Errorf("encoding a %s event: %d bytes, over %d even without its message", n.Kind, len(raw), memoryBudget)
	}
	// JSON escapes may make the message longer encoded than raw: cut
	// until it fits.
	keep := len(*msg) - over
	orig := *msg
	for keep > 0 {
		*msg = truncate(orig, keep) + " [cut]"
		if raw, err = json.Marshal(n); err != nil {
			return "", err
		}
		if len(raw) <= memoryBudget {
			return string(raw), nil
		}
		keep -= len(raw) - memoryBudget + 8
	}
	return "", fmt.Errorf("encoding a %s event: too long for a notification", n.Kind)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// notifyTimeout bounds one notification sent.
const notifyTimeout = 5 * time.Second
