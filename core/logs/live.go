package logs

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// DefaultLiveBuffer is how many entries a live subscription holds for its
// reader before it starts dropping (and counting) them.
const DefaultLiveBuffer = 1024

// Match reports whether e passes f, with the semantics of the built-in
// store's queries.
func Match(f *store.LogFilter, e *logsink.Entry) bool {
	return newMatcher(f).match(e)
}

// matcher is a filter ready to test many entries.
type matcher struct {
	f       store.LogFilter
	minRank int
	text    string
}

func newMatcher(f *store.LogFilter) matcher {
	m := matcher{f: *f, text: strings.ToLower(f.Text)}
	if f.MinLevel != "" {
		m.minRank = f.MinLevel.Rank()
	}
	return m
}

func (m matcher) match(e *logsink.Entry) bool {
	f := &m.f
	switch {
	case e.Level.Rank() < m.minRank,
		len(f.Sources) > 0 && !slices.Contains(f.Sources, e.Source),
		len(f.Components) > 0 && !slices.Contains(f.Components, e.Component),
		f.VMID != "" && e.VMID != f.VMID,
		f.NodeID != "" && e.NodeID != f.NodeID,
		f.CorrelationID != "" && e.CorrelationID != f.CorrelationID,
		f.SessionID != "" && e.SessionID != f.SessionID,
		f.UserAction != nil && e.UserAction != *f.UserAction,
		!f.Since.IsZero() && e.Timestamp.Before(f.Since),
		!f.Until.IsZero() && !e.Timestamp.Before(f.Until):
		return false
	}
	if m.text != "" {
		return containsFold(e.Message, m.text) || containsFold(e.Action, m.text) || containsFold(e.Target, m.text)
	}
	return true
}

// containsFold reports whether lower, already lower case, occurs in s
// ignoring ASCII case, as SQL LIKE does.
func containsFold(s, lower string) bool {
	return strings.Contains(asciiLower(s), lower)
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// recentIDs is how many entry ids the hub remembers to publish none twice:
// an entry can reach a server twice (a node resending QEMU lines after it
// moved to another server, which announced them once stored).
const recentIDs = 16384

// hub fans appended entries out to live subscriptions without ever
// waiting for them.
type hub struct {
	mu     sync.RWMutex
	subs   map[*Subscription]struct{}
	closed bool

	// recent holds the ids of the last recentIDs entries published, in
	// order in ring (next is the oldest slot).
	recentMu sync.Mutex
	recent   map[string]struct{}
	ring     []string
	next     int
}

func newHub() *hub {
	return &hub{subs: map[*Subscription]struct{}{}, recent: make(map[string]struct{}, recentIDs), ring: make([]string, recentIDs)}
}

// publish offers entries to every subscription, leaving out those
// published already (by id, among the last recentIDs).
func (h *hub) publish(entries []logsink.Entry) {
	entries = h.fresh(entries)
	if len(entries) == 0 {
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		s.offer(entries)
	}
}

// fresh returns the entries whose ids were not published lately, and
// remembers them.
func (h *hub) fresh(entries []logsink.Entry) []logsink.Entry {
	h.recentMu.Lock()
	defer h.recentMu.Unlock()
	var out []logsink.Entry // nil while every entry is fresh
	for i, e := range entries {
		if _, seen := h.recent[e.ID]; seen {
			if out == nil {
				out = append(make([]logsink.Entry, 0, len(entries)), entries[:i]...)
			}
			continue
		}
		if old := h.ring[h.next]; old != "" {
			delete(h.recent, old)
		}
		h.ring[h.next] = e.ID
		h.recent[e.ID] = struct{}{}
		h.next = (h.next + 1) % len(h.ring)
		if out != nil {
			out = append(out, e)
		}
	}
	if out == nil && len(entries) > 0 {
		return entries
	}
	return out
}

// HasLiveSubscribers reports whether any live subscription is open now.
// Entries offered while none is open reach nobody: a subscription gets the
// entries appended or published from when it was made.
func (p *Pipeline) HasLiveSubscribers() bool {
	p.hub.mu.RLock()
	defer p.hub.mu.RUnlock()
	return len(p.hub.subs) > 0
}

// PublishStored offers entries another server received and stored to the
// live subscriptions (GET /api/logs/stream of this server) only: they are
// neither spooled nor delivered to a sink here, the server that received
// them does that. An entry published lately (by id) is left out.
func (p *Pipeline) PublishStored(entries []logsink.Entry) { p.hub.publish(entries) }

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		s.end()
	}
	h.subs = map[*Subscription]struct{}{}
}

// Subscription receives the entries appended to the pipeline that match
// its filter, from when it was made. Its buffer is bounded: when the
// reader falls behind, newer entries are dropped and counted, and the
// reader learns how many (a gap) after the entries it had buffered.
type Subscription struct {
	h      *hub
	m      matcher
	notify chan struct{}

	mu      sync.Mutex
	buf     []logsink.Entry
	max     int
	dropped int
	ended   bool
}

// Subscribe returns a live subscription to the entries matching f, holding
// up to buffer entries for its reader (DefaultLiveBuffer when 0 or less).
// Close it when done.
func (p *Pipeline) Subscribe(f store.LogFilter, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = DefaultLiveBuffer
	}
	s := &Subscription{h: p.hub, m: newMatcher(&f), notify: make(chan struct{}, 1), max: buffer}
	p.hub.mu.Lock()
	if p.hub.closed {
		s.ended = true
	} else {
		p.hub.subs[s] = struct{}{}
	}
	p.hub.mu.Unlock()
	return s
}

// EndSubscriptions ends every live subscription, now and from now on (for
// server shutdown: streams do not end on their own); appending goes on.
func (p *Pipeline) EndSubscriptions() { p.hub.close() }

// offer buffers the matching entries, dropping what does not fit.
func (s *Subscription) offer(entries []logsink.Entry) {
	added := false
	s.mu.Lock()
	for i := range entries {
		if !s.m.match(&entries[i]) {
			continue
		}
		if len(s.buf) < s.max {
			s.buf = append(s.buf, entries[i])
		} else {
			s.dropped++
		}
		added = true
	}
	s.mu.Unlock()
	if added {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

func (s *Subscription) end() {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Next waits for entries and returns those buffered, oldest first, and
// how many were dropped after them because the reader was too slow. It
// returns ctx's error when ctx ends and ErrClosed once the pipeline has
// closed and nothing is left.
func (s *Subscription) Next(ctx context.Context) ([]logsink.Entry, int, error) {
	for {
		s.mu.Lock()
		buf, dropped, ended := s.buf, s.dropped, s.ended
		if len(buf) > 0 || dropped > 0 {
			s.buf, s.dropped = nil, 0
			s.mu.Unlock()
			return buf, dropped, nil
		}
		s.mu.Unlock()
		if ended {
			return nil, 0, ErrClosed
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.h.mu.Lock()
	delete(s.h.subs, s)
	s.h.mu.Unlock()
	s.end()
}
