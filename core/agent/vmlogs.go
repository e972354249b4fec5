package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/quantixvm/quantix/internal/fsutil"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// VM log shipping: timing and bounds.
const (
	// Followers wait while the lines read and not yet acknowledged reach
	// either bound.
	maxQueuedLines = 10000
	maxQueuedBytes = 8 << 20
	// A batch holds at most maxBatchLines lines and, unless it is a single
	// line, maxBatchBytes of text; one not full waits batchDelay after its
	// oldest line was read for more.
	maxBatchLines = 500
	maxBatchBytes = 1 << 20
	batchDelay    = 200 * time.Millisecond
	// maxLineBytes cuts longer lines, so that a batch always fits in a
	// message of the agent protocol.
	maxLineBytes = 1 << 20
	// logWindow is how many batches may await their acknowledgement.
	logWindow = 4
	// offsetsFile, under Config.StateDir, keeps how far each VM's log was
	// acknowledged; it is written at most every persistEvery.
	offsetsFile  = "vm-logs.json"
	persistEvery = time.Second
	// maxRetryHold caps the pause before lines a server failed to store are
	// sent again.
	maxRetryHold = 30 * time.Second
	// offsetGrace keeps the offset of a VM missing from the view that long
	// after it was set: a VM just created may not be in the view yet.
	offsetGrace = time.Minute
)

// logPos is a place in a VM's log: the byte offset just past a line, the
// file it counts in (LogLine.File: empty when the backend does not say),
// and how many times the log was seen truncated or rotated before that line.
type logPos struct {
	Offset     int64  `json:"offset"`
	File       string `json:"file,omitempty"`
	Generation uint32 `json:"generation,omitempty"`
}

// queuedLine is a line read and not yet acknowledged.
type queuedLine struct {
	vmID   string
	line   backend.LogLine
	pos    logPos
	queued time.Time
}

// vmLog is the shipper's state of one VM's log.
type vmLog struct {
	// acked is how far a server acknowledged the log (persisted); read is
	// just past the last line queued; pending counts the lines queued and
	// not acknowledged.
	acked, read logPos
	pending     int
	// set is when acked was set otherwise than by an acknowledgement (the
	// VM was created here); zero otherwise.
	set time.Time
	// The follower: stop ends it, done closes once it has; both nil when
	// the log is not followed. stop is nil and done open while it ends.
	stop context.CancelFunc
	done chan struct{}
	// quiet is when the VM was first seen stopped, zero while it runs;
	// lastLine is when the last line was read.
	quiet, lastLine time.Time
	// waiting is set while the follower waits for room in the queue with a
	// line in hand: the log is not quiet then, however long ago lastLine.
	waiting bool
}

// sentBatch is a batch of the attached session awaiting its answer: the n
// lines at its place of the queue.
type sentBatch struct {
	id    uint64
	n     int
	acked bool
}

// logTiming is when the log shipper acts, from the agent's Config.
type logTiming struct {
	// linger is how long the log of a VM that stopped is still followed
	// once it has gone quiet (Config.QEMULogLinger).
	linger time.Duration
	// scan is how often the followed logs are matched with the view
	// (Config.QEMULogScanInterval).
	scan time.Duration
	// retry is the first pause before lines a server failed to store are
	// sent again (Config.QEMULogRetryBackoff).
	retry time.Duration
}

// logShipper follows the hypervisor log of every VM that runs (and of each
// for linger after it stopped, but no longer once the backend says it was
// deleted: see backend.LogReader), queues the lines read, and hands them in
// batches to the attached session; the lines a server acknowledged leave
// the queue and their VM's acknowledged offset moves past them. Lines not
// acknowledged when a session ends are sent again by the next one. A VM's
// log is followed from where it was read to, or acknowledged to when it was
// not read in this run, or from its start when nothing is known of it.
type logShipper struct {
	b    backend.Backend
	log  hclog.Logger
	path string // the offsets file; "" keeps offsets in memory
	// timing says when to stop following, scan and send again.
	timing logTiming

	mu    sync.Mutex
	vms   map[string]*vmLog
	queue []queuedLine
	bytes int // of the queued texts
	// queue[:sent] travel in the batches of inflight, oldest first.
	sent     int
	inflight []sentBatch
	// session is the token of the attached session: answers of an earlier
	// one are ignored.
	session uint64
	// After a failed batch nothing is sent before holdUntil; hold is the
	// last pause, doubled on each failure in a row.
	holdUntil time.Time
	hold      time.Duration
	lastErr   string
	// space closes when lines leave the queue (followers wait on it).
	space chan struct{}
	// ready has a value when lines were queued or batches answered (the
	// session waits on it).
	ready chan struct{}
	// dirty is set when an acknowledged offset changed since the last save.
	dirty bool
	// capable is set once the backend said it reads logs.
	capable bool
}

// newLogShipper loads the offsets kept under stateDir ("" keeps none). A
// file that cannot be read is logged and ignored: the logs are sent again
// from their start, which the server stores once.
func newLogShipper(b backend.Backend, stateDir string, timing logTiming, log hclog.Logger) (*logShipper, error) {
	sh := &logShipper{
		b:      b,
		log:    log.Named("vmlogs"),
		timing: timing,
		vms:    make(map[string]*vmLog),
		space:  make(chan struct{}),
		ready:  make(chan struct{}, 1),
	}
	if stateDir == "" {
		return sh, nil
	}
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return nil, fmt.Errorf("agent state dir: %w", err)
	}
	sh.path = filepath.Join(stateDir, offsetsFile)
	offsets, err := loadOffsets(sh.path)
	if err != nil {
		sh.log.Warn("the offsets of the vm logs sent cannot be read: sending every vm's log again from its start", "error", err)
	}
	for id, pos := range offsets {
		sh.vms[id] = &vmLog{acked: pos, read: pos}
	}
	return sh, nil
}

// offsetsState is the content of the offsets file.
type offsetsState struct {
	VMs map[string]logPos `json:"vms"`
}

func loadOffsets(path string) (map[string]logPos, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var st offsetsState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return st.VMs, nil
}

// save writes the acknowledged offsets when they changed: to a temporary
// file, synced, then renamed over the offsets file.
func (sh *logShipper) save() error {
	sh.mu.Lock()
	if !sh.dirty || sh.path == "" {
		sh.mu.Unlock()
		return nil
	}
	st := offsetsState{VMs: make(map[string]logPos, len(sh.vms))}
	for id, v := range sh.vms {
		if v.acked != (logPos{}) {
			st.VMs[id] = v.acked
		}
	}
	sh.dirty = false
	sh.mu.Unlock()
	data, err := json.Marshal(st)
	if err == nil {
		err = fsutil.WriteFileAtomic(sh.path, data)
	}
	if err != nil {
		sh.mu.Lock()
		sh.dirty = true
		sh.mu.Unlock()
		return fmt.Errorf("saving the offsets of the vm logs sent: %w", err)
	}
	return nil
}

// followed reports whether a VM in state s has a live hypervisor process
// whose log is followed.
func followed(s backend.PowerState) bool {
	return s != backend.StateStopped && s != backend.StateCrashed
}

// run follows the logs of the VMs of the view, matching them with it every
// sh.timing.scan, until ctx ends, saving the offsets every persistEvery;
// then it stops every follower and saves them once more. It returns at once
// when the backend reads no logs.
func (sh *logShipper) run(ctx context.Context, v *view) {
	if !sh.checkCapable(ctx) {
		return
	}
	t := time.NewTicker(sh.timing.scan)
	defer t.Stop()
	lastSave := time.Now()
	caughtUp := false
	for {
		states, synced := v.states()
		sh.scan(ctx, states, synced, !caughtUp && synced, time.Now())
		caughtUp = caughtUp || synced
		if time.Since(lastSave) >= persistEvery {
			if err := sh.save(); err != nil {
				sh.log.Warn("the offsets of the vm logs sent are not saved; retrying", "error", err)
			}
			lastSave = time.Now()
		}
		select {
		case <-ctx.Done():
			sh.stopAll()
			if err := sh.save(); err != nil {
				sh.log.Warn("the offsets of the vm logs sent are not saved: the lines sent since the last save will be sent again", "error", err)
			}
			return
		case <-t.C:
		}
	}
}

// checkCapable asks the backend, until it answers or ctx ends, whether it
// reads VM logs.
func (sh *logShipper) checkCapable(ctx context.Context) bool {
	b := newBackoff(time.Second, 30*time.Second)
	for {
		ictx, cancel := context.WithTimeout(ctx, backendCallTimeout)
		info, err := sh.b.Info(ictx)
		cancel()
		if err == nil {
			if !info.Has(backend.CapLogs) {
				sh.log.Info("the backend reads no vm logs: no qemu log lines are sent", "backend", info.Name)
				return false
			}
			sh.mu.Lock()
			sh.capable = true
			sh.mu.Unlock()
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		sh.log.Debug("asking the backend whether it reads vm logs failed; retrying", "error", err)
		if !sleep(ctx, b.next()) {
			return false
		}
	}
}

// scan starts following the log of every VM that runs, stops following
// those of VMs stopped or gone whose log has been quiet for sh.timing.linger, and
// forgets the offsets of VMs gone from a complete view. With catchUp (the
// first complete view of the run), the logs of stopped VMs already sent
// from are followed for sh.timing.linger too, for what they got while the agent
// was away.
func (sh *logShipper) scan(ctx context.Context, states map[string]backend.PowerState, synced, catchUp bool, now time.Time) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for id, st := range states {
		v := sh.vms[id]
		switch {
		case followed(st):
			if v == nil {
				v = &vmLog{}
				sh.vms[id] = v
			}
			v.quiet = time.Time{}
		case catchUp && v != nil && v.acked != (logPos{}):
			v.quiet = now
		default:
			continue
		}
		if v.stop == nil && v.done == nil {
			sh.startLocked(ctx, id, v)
		}
	}
	for id, v := range sh.vms {
		if v.done != nil {
			select {
			case <-v.done:
				// Ended, when asked or by itself (the VM was deleted).
				if v.stop != nil {
					v.stop()
				}
				v.stop, v.done = nil, nil
			default:
			}
		}
		st, present := states[id]
		if v.stop != nil && !(present && followed(st)) {
			if v.quiet.IsZero() {
				v.quiet = now
			}
			if now.Sub(v.quiet) >= sh.timing.linger && now.Sub(v.lastLine) >= sh.timing.linger && !v.waiting {
				v.stop()
				v.stop = nil
			}
		}
		if synced && !present && v.stop == nil && v.done == nil && v.pending == 0 && now.Sub(v.set) > offsetGrace {
			delete(sh.vms, id)
			sh.dirty = true
		}
	}
}

// startLocked starts following the log of VM id; sh.mu is held.
func (sh *logShipper) startLocked(ctx context.Context, id string, v *vmLog) {
	fctx, cancel := context.WithCancel(ctx)
	v.stop, v.done = cancel, make(chan struct{})
	sh.log.Debug("following the log of a vm", "vm", id, "offset", v.read.Offset)
	go sh.follow(fctx, id, v.done)
}

// stopAll stops every follower and waits for them.
func (sh *logShipper) stopAll() {
	sh.mu.Lock()
	var done []chan struct{}
	for _, v := range sh.vms {
		if v.stop != nil {
			v.stop()
			v.stop = nil
		}
		if v.done != nil {
			done = append(done, v.done)
		}
	}
	sh.mu.Unlock()
	for _, d := range done {
		<-d
	}
	sh.mu.Lock()
	for _, v := range sh.vms {
		v.done = nil
	}
	sh.mu.Unlock()
}

// follow streams the log of VM id into the queue from where it was read
// to, following it again with backoff whenever the stream breaks, until
// ctx ends or the backend says the VM is gone: its log may be another VM's
// now.
func (sh *logShipper) follow(ctx context.Context, id string, done chan struct{}) {
	defer close(done)
	b := newBackoff(200*time.Millisecond, 5*time.Second)
	var lastErr string
	for {
		sh.mu.Lock()
		from := sh.vms[id].read
		sh.mu.Unlock()
		began := time.Now()
		fn := func(l backend.LogLine) error { return sh.enqueue(ctx, id, l) }
		var err error
		if r, ok := sh.b.(backend.LogResumer); ok {
			// By file: the rest of a log rotated while it was not
			// followed is read from the rotated file.
			err = r.StreamLogFrom(ctx, id, backend.LogPosition{File: from.File, Offset: from.Offset}, fn)
		} else {
			err = sh.b.StreamLog(ctx, id, from.Offset, fn)
		}
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > 10*time.Second {
			b.reset()
		}
		msg := "the stream ended"
		if err != nil {
			msg = err.Error()
		}
		if plugin.KindOf(err) == plugin.KindNotFound {
			sh.log.Debug("no longer following the log of a vm: the vm is gone", "vm", id, "error", msg)
			return
		}
		if msg != lastErr {
			sh.log.Warn("following the log of a vm broke; following it again", "vm", id, "error", msg)
			lastErr = msg
		}
		if !sleep(ctx, b.next()) {
			return
		}
	}
}

// enqueue queues one line of VM id's log, waiting while the queue is full.
// A line marked Reopened, or ending no further than the last one (the log
// was replaced while it was not followed), starts a new generation of the
// log. The text is cut to maxLineBytes and made valid UTF-8, as the
// protocol needs.
func (sh *logShipper) enqueue(ctx context.Context, id string, l backend.LogLine) error {
	if len(l.Text) > maxLineBytes {
		l.Text = l.Text[:maxLineBytes]
	}
	l.Text = strings.ToValidUTF8(l.Text, "\uFFFD")
	for {
		sh.mu.Lock()
		if len(sh.queue) == 0 || len(sh.queue) < maxQueuedLines && sh.bytes+len(l.Text) <= maxQueuedBytes {
			v := sh.vms[id]
			pos := logPos{Offset: l.Offset, File: l.File, Generation: v.read.Generation}
			if l.Reopened || l.Offset <= v.read.Offset {
				pos.Generation++
			}
			now := time.Now()
			v.read, v.lastLine, v.waiting = pos, now, false
			v.pending++
			sh.queue = append(sh.queue, queuedLine{vmID: id, line: l, pos: pos, queued: now})
			sh.bytes += len(l.Text)
			sh.mu.Unlock()
			sh.wake()
			return nil
		}
		sh.vms[id].waiting = true
		space := sh.space
		sh.mu.Unlock()
		select {
		case <-ctx.Done():
			sh.mu.Lock()
			sh.vms[id].waiting = false
			sh.mu.Unlock()
			return ctx.Err()
		case <-space:
		}
	}
}

// wake tells the attached session that there may be something to send.
func (sh *logShipper) wake() {
	select {
	case sh.ready <- struct{}{}:
	default:
	}
}

// created notes the end of a new VM's log as where to follow it from: a
// log left by an earlier VM of the same name is not this VM's.
func (sh *logShipper) created(ctx context.Context, id string) {
	sh.mu.Lock()
	capable := sh.capable
	sh.mu.Unlock()
	if !capable {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, backendCallTimeout)
	t, err := sh.b.TailLog(tctx, id, 1)
	cancel()
	if err != nil {
		sh.log.Debug("reading the end of a new vm's log failed: it is sent from its start", "vm", id, "error", err)
		return
	}
	if !t.Exists || t.SizeBytes == 0 {
		return
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v := sh.vms[id]
	if v == nil {
		v = &vmLog{}
		sh.vms[id] = v
	}
	if v.stop != nil || v.done != nil || v.pending > 0 || v.read != (logPos{}) {
		return
	}
	v.acked = logPos{Offset: t.SizeBytes}
	v.read, v.set = v.acked, time.Now()
	sh.dirty = true
	sh.log.Debug("a new vm's log starts after what an earlier vm of its name wrote", "vm", id, "offset", t.SizeBytes)
}

// attach makes the session with the returned token the one batches go to:
// every line not acknowledged goes again, oldest first.
func (sh *logShipper) attach() uint64 {
	sh.mu.Lock()
	sh.session++
	sh.sent, sh.inflight = 0, nil
	sh.holdUntil, sh.hold = time.Time{}, 0
	token := sh.session
	sh.mu.Unlock()
	sh.wake()
	return token
}

// take returns the next batch of the session with token, numbered id; nil
// when there is none to send yet, with how long to wait for one (zero:
// until woken).
func (sh *logShipper) take(token, id uint64, now time.Time) (*agentv1.LogBatch, time.Duration) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if token != sh.session || len(sh.inflight) >= logWindow || sh.sent == len(sh.queue) {
		return nil, 0
	}
	if now.Before(sh.holdUntil) {
		return nil, sh.holdUntil.Sub(now)
	}
	unsent := sh.queue[sh.sent:]
	n, size := 0, 0
	for n < len(unsent) && n < maxBatchLines {
		l := len(unsent[n].line.Text)
		if n > 0 && size+l > maxBatchBytes {
			break
		}
		size += l
		n++
	}
	if n == len(unsent) && n < maxBatchLines {
		if wait := batchDelay - now.Sub(unsent[0].queued); wait > 0 {
			return nil, wait
		}
	}
	b := &agentv1.LogBatch{Id: id, Lines: make([]*agentv1.LogLine, n)}
	for i, q := range unsent[:n] {
		b.Lines[i] = &agentv1.LogLine{
			VmId:       q.vmID,
			Time:       timestamppb.New(q.line.Time),
			Text:       q.line.Text,
			Offset:     q.pos.Offset,
			Reopened:   q.line.Reopened,
			Generation: q.pos.Generation,
		}
	}
	sh.sent += n
	sh.inflight = append(sh.inflight, sentBatch{id: id, n: n})
	return b, 0
}

// ack takes a server's answer to a batch of the session with token. Once
// the batches before it are answered too, the lines of an acknowledged
// batch leave the queue and their VMs' acknowledged offsets move past
// them. A failed batch is sent again, with those after it, after a pause.
func (sh *logShipper) ack(token uint64, a *agentv1.LogAck) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if token != sh.session {
		return
	}
	i := 0
	for i < len(sh.inflight) && sh.inflight[i].id != a.GetId() {
		i++
	}
	if i == len(sh.inflight) {
		return
	}
	if msg := a.GetError(); msg != "" {
		sh.hold = min(max(2*sh.hold, sh.timing.retry), maxRetryHold)
		sh.holdUntil = time.Now().Add(sh.hold)
		sh.sent, sh.inflight = 0, nil
		if msg != sh.lastErr {
			sh.log.Warn("the server did not store vm log lines; sending them again", "error", msg, "retry_in", sh.hold)
			sh.lastErr = msg
		}
		sh.wake()
		return
	}
	sh.hold, sh.lastErr = 0, ""
	sh.inflight[i].acked = true
	n := 0
	for len(sh.inflight) > 0 && sh.inflight[0].acked {
		n += sh.inflight[0].n
		sh.inflight = sh.inflight[1:]
	}
	if n == 0 {
		return
	}
	for _, q := range sh.queue[:n] {
		if v := sh.vms[q.vmID]; v != nil {
			v.acked = q.pos
			v.pending--
		}
		sh.bytes -= len(q.line.Text)
	}
	clear(sh.queue[:n])
	sh.queue = sh.queue[n:]
	sh.sent -= n
	sh.dirty = true
	close(sh.space)
	sh.space = make(chan struct{})
	sh.wake()
}
