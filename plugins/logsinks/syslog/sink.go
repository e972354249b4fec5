// Package syslog is Quantix's syslog log sink: it sends every entry as an
// RFC 5424 message to a syslog server over UDP (one datagram per message),
// TCP (octet-counting framing, RFC 6587) or a unix datagram socket.
//
// A message's PRI is the configured facility and the entry's level as
// severity, its APP-NAME "quantix" (configurable), its MSGID the entry's
// source; a structured data element quantix@32473 carries the entry's id,
// component, ids, action, target, user_action and fields (compact JSON);
// the MSG is the entry's message, after a UTF-8 byte order mark when it is
// not pure ASCII.
//
// Delivered means handed to the operating system: syslog has no
// acknowledgements. Over TCP the sink notices a server that closed the
// connection before it writes and connects again; a batch whose write fails
// is retryable as a whole. Over UDP a message lost on the way cannot be
// noticed. A message too large for a datagram is refused for good.
package syslog

import (
	"context"
	"errors"
	"sync"

	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Name is the plugin's short name.
const Name = "syslog"

// Version is the plugin's release version, set at build time with
// -ldflags "-X github.com/quantixvm/quantix/plugins/logsinks/syslog.Version=...".
var Version = "dev"

// keepBuffer is the largest send buffer kept between Writes.
const keepBuffer = 4 << 20

var _ logsink.Sink = (*Sink)(nil)

// Sink sends entries to a syslog server. Create it with New; it is safe for
// concurrent use.
type Sink struct {
	mu     sync.Mutex
	cfg    *settings // nil before Configure and after Close
	closed bool
	conn   conn
	buf    []byte
	msg    []byte
}

// New returns an unconfigured sink.
func New() *Sink { return &Sink{} }

// Info describes the plugin.
func (s *Sink) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{
		Name:         Name,
		Type:         plugin.TypeLogSink,
		Version:      Version,
		APIVersions:  logsink.APIVersions,
		Capabilities: []string{},
	}, nil
}

// Configure checks the config block. The server is connected to at the
// first Write, so that a server not up yet only delays delivery.
func (s *Sink) Configure(_ context.Context, raw []byte, _ int) error {
	cfg, _, err := parseSettings(raw)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn.drop()
	s.cfg, s.closed = &cfg, false
	s.conn = conn{s: s.cfg}
	return nil
}

// Write sends one message per entry.
func (s *Sink) Write(ctx context.Context, entries []logsink.Entry) ([]logsink.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg == nil {
		if s.closed {
			return nil, plugin.Unavailable("syslog sink is closed; configure it again")
		}
		return nil, plugin.Unavailable("syslog sink is not configured")
	}
	results := make([]logsink.Result, len(entries))
	if s.cfg.network == NetworkTCP {
		s.writeStream(ctx, entries, results)
	} else {
		s.writeDatagrams(ctx, entries, results)
	}
	if cap(s.buf) > keepBuffer {
		s.buf = nil
	}
	return results, nil
}

// writeStream sends the whole batch as frames in one write.
func (s *Sink) writeStream(ctx context.Context, entries []logsink.Entry, results []logsink.Result) {
	if err := s.conn.ensure(ctx); err != nil {
		retryAll(results, 0, err)
		return
	}
	b := s.buf[:0]
	for i := range entries {
		s.msg = appendMessage(s.msg[:0], s.cfg, &entries[i])
		b = appendFrame(b, s.msg)
	}
	s.buf = b
	if err := s.conn.send(ctx, b); err != nil {
		// What was written before the failure may have been lost with
		// the connection: sending it again is safer.
		retryAll(results, 0, err)
		return
	}
	for i := range results {
		results[i] = logsink.OK()
	}
}

// writeDatagrams sends one datagram per entry.
func (s *Sink) writeDatagrams(ctx context.Context, entries []logsink.Entry, results []logsink.Result) {
	for i := range entries {
		s.msg = appendMessage(s.msg[:0], s.cfg, &entries[i])
		if s.cfg.network == NetworkUDP && len(s.msg) > maxUDPPayload {
			results[i] = logsink.Refused("entry %s: the message is %d bytes, more than the %d a udp datagram holds", entries[i].ID, len(s.msg), maxUDPPayload)
			continue
		}
		if err := s.conn.ensure(ctx); err != nil {
			retryAll(results, i, err)
			return
		}
		err := s.conn.send(ctx, s.msg)
		switch {
		case err == nil:
			results[i] = logsink.OK()
		case errors.Is(err, errTooLarge):
			results[i] = logsink.Refused("entry %s: %v", entries[i].ID, err)
		default:
			retryAll(results, i, err)
			return
		}
	}
}

// retryAll makes the results from from on retryable because of err.
func retryAll(results []logsink.Result, from int, err error) {
	for i := from; i < len(results); i++ {
		if results[i].Outcome == 0 {
			results[i] = logsink.RetryLater("%v", err)
		}
	}
}

// Close closes the connection. Writes fail until Configure is called
// again.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg == nil {
		return nil
	}
	s.conn.drop()
	s.cfg, s.closed, s.buf, s.msg = nil, true, nil, nil
	return nil
}
