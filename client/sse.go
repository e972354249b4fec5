package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SSEEvent is one server-sent event: its type (the "event" field, "message"
// when the server named none), the last event id the stream set, and its
// data lines joined by "\n".
type SSEEvent struct {
	Event string
	ID    string
	Data  string
	// Retry is the reconnection time the server asked for with this event,
	// or zero.
	Retry time.Duration
}

// MaxSSEEventBytes bounds the data of one event, so that a server that
// never ends an event cannot make the reader hold unbounded memory.
const MaxSSEEventBytes = 16 << 20

// SSEReader reads server-sent events (the text/event-stream format of the
// HTML standard): lines ending in LF, CRLF or CR; "field: value" lines for
// event, data, id and retry; lines starting with ':' are comments and are
// ignored, as are unknown fields; a blank line ends an event. An event
// without data is not delivered, as the standard says.
type SSEReader struct {
	br      *bufio.Reader
	lastID  string
	afterCR bool // the previous line ended in CR: a LF right after belongs to it
}

// NewSSEReader reads events from r.
func NewSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{br: bufio.NewReaderSize(r, 32<<10)}
}

// LastEventID is the id the stream set last, which a client reconnecting
// passes back to resume after it.
func (r *SSEReader) LastEventID() string { return r.lastID }

// Next returns the next event. At the end of the stream it returns io.EOF;
// an event the stream cut short is dropped.
func (r *SSEReader) Next() (SSEEvent, error) {
	var (
		ev      SSEEvent
		data    bytes.Buffer
		hasData bool
	)
	for {
		line, err := r.readLine()
		if err != nil {
			// At the end of the stream, an event not ended by a blank
			// line is incomplete and dropped.
			return SSEEvent{}, err
		}
		if len(line) == 0 {
			if !hasData {
				ev = SSEEvent{}
				continue
			}
			if ev.Event == "" {
				ev.Event = "message"
			}
			ev.ID = r.lastID
			ev.Data = data.String()
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, ""
		if i := strings.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], strings.TrimPrefix(line[i+1:], " ")
		}
		switch field {
		case "event":
			ev.Event = value
		case "data":
			if data.Len()+len(value) > MaxSSEEventBytes {
				return SSEEvent{}, fmt.Errorf("server-sent event over %d bytes", MaxSSEEventBytes)
			}
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		case "id":
			if !strings.ContainsRune(value, 0) {
				r.lastID = value
			}
		case "retry":
			if ms, err := strconv.ParseUint(value, 10, 32); err == nil {
				ev.Retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// readLine reads one line without its end. It returns io.EOF with what it
// read when the stream ends before the line does.
func (r *SSEReader) readLine() (string, error) {
	var sb strings.Builder
	for {
		b, err := r.br.ReadByte()
		if err != nil {
			return sb.String(), err
		}
		if r.afterCR {
			r.afterCR = false
			if b == '\n' {
				continue
			}
		}
		switch b {
		case '\n':
			return sb.String(), nil
		case '\r':
			r.afterCR = true
			return sb.String(), nil
		}
		if sb.Len() >= MaxSSEEventBytes {
			return "", fmt.Errorf("server-sent event line over %d bytes", MaxSSEEventBytes)
		}
		sb.WriteByte(b)
	}
}

// sseStream reads the events of one HTTP response and ends when its
// context does: Next then returns the context's error.
type sseStream struct {
	ctx     context.Context
	body    io.ReadCloser
	rd      *SSEReader
	stop    func() bool
	what    string
	closeMu sync.Once
}

func newSSEStream(ctx context.Context, body io.ReadCloser, what string) *sseStream {
	s := &sseStream{ctx: ctx, body: body, rd: NewSSEReader(body), what: what}
	// Closing the body makes a read that is waiting for the server return.
	s.stop = context.AfterFunc(ctx, func() { _ = body.Close() })
	return s
}

// next returns the next event; io.EOF when the server ended the stream,
// the context's error once it is done.
func (s *sseStream) next() (SSEEvent, error) {
	if err := s.ctx.Err(); err != nil {
		return SSEEvent{}, err
	}
	ev, err := s.rd.Next()
	if err != nil {
		if cerr := s.ctx.Err(); cerr != nil {
			return SSEEvent{}, cerr
		}
		if errors.Is(err, io.EOF) {
			return SSEEvent{}, io.EOF
		}
		return SSEEvent{}, fmt.Errorf("reading %s: %w", s.what, err)
	}
	return ev, nil
}

func (s *sseStream) close() error {
	var err error
	s.closeMu.Do(func() {
		s.stop()
		err = s.body.Close()
	})
	return err
}
