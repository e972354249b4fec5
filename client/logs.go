package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// LogFilter selects log entries; GET /api/logs, its export and its stream
// share it. Empty fields do not filter.
type LogFilter struct {
	// Level is the minimum level: debug, info, warn or error.
	Level string
	// Sources and Components keep entries of any of the values given.
	Sources    []string
	Components []string
	VMID       string
	NodeID     string
	// CorrelationID and SessionID tie entries of one operation or one
	// front-end session.
	CorrelationID string
	SessionID     string
	// UserAction, when set, keeps only entries whose user_action is it.
	UserAction *bool
	// Text is searched in the message, action and target.
	Text string
	// Since and Until bound the timestamps: RFC 3339 times, or durations
	// such as "15m" meaning that long ago.
	Since string
	Until string
}

func (f LogFilter) query() url.Values {
	q := url.Values{}
	set(q, "level", f.Level)
	if len(f.Sources) > 0 {
		q.Set("source", strings.Join(f.Sources, ","))
	}
	if len(f.Components) > 0 {
		q.Set("component", strings.Join(f.Components, ","))
	}
	set(q, "vm_id", f.VMID)
	set(q, "node_id", f.NodeID)
	set(q, "correlation_id", f.CorrelationID)
	set(q, "session_id", f.SessionID)
	if f.UserAction != nil {
		q.Set("user_action", strconv.FormatBool(*f.UserAction))
	}
	set(q, "q", f.Text)
	set(q, "since", f.Since)
	set(q, "until", f.Until)
	return q
}

// LogQuery is a filter with paging.
type LogQuery struct {
	LogFilter
	// Limit is the page size (1..1000); zero is the API's default (100).
	Limit int
	// Cursor is the NextCursor of the previous page.
	Cursor string
	// Order is "desc" (newest first, the default) or "asc".
	Order string
}

// QueryLogs returns one page of log entries.
func (c *Client) QueryLogs(ctx context.Context, q LogQuery) (*LogPage, error) {
	v := q.query()
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set(v, "cursor", q.Cursor)
	set(v, "order", q.Order)
	var page LogPage
	if err := c.do(ctx, request{method: http.MethodGet, path: "/api/logs", query: v}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// ExportOptions shape an export.
type ExportOptions struct {
	// Format is json (the default), csv or txt.
	Format string
	// Order is "asc" (oldest first, the default) or "desc".
	Order string
	// Limit stops after that many entries; zero exports every match.
	Limit int
}

// ExportLogs streams every entry that matches f in a file format. The
// caller reads the reply as it comes and closes it.
func (c *Client) ExportLogs(ctx context.Context, f LogFilter, opts ExportOptions) (io.ReadCloser, error) {
	v := f.query()
	set(v, "format", opts.Format)
	set(v, "order", opts.Order)
	if opts.Limit > 0 {
		v.Set("limit", strconv.Itoa(opts.Limit))
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/api/logs/export", query: v, accept: "*/*"})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Kinds of the events of GET /api/logs/stream.
const (
	KindLog = "log"
)

// LogStreamEvent is one event of GET /api/logs/stream: an Entry ("log"), or
// a Gap when entries were dropped because the client read too slowly.
type LogStreamEvent struct {
	Kind  string
	ID    string
	Entry *LogEntry
	Gap   *LogGap
	// Data is the event's JSON as the API sent it.
	Data json.RawMessage
}

// LogGap says how many entries the stream dropped.
type LogGap struct {
	Kind    string `json:"kind"`
	Dropped int    `json:"dropped"`
	Message string `json:"message"`
}

// LogStream reads GET /api/logs/stream until its context ends or Close.
type LogStream struct {
	s *sseStream
}

// StreamLogs follows the entries appended from now on that match f.
// Cancelling ctx ends the stream: Next then returns ctx's error.
func (c *Client) StreamLogs(ctx context.Context, f LogFilter) (*LogStream, error) {
	s, err := c.stream(ctx, "/api/logs/stream", f.query(), "the log stream")
	if err != nil {
		return nil, err
	}
	return &LogStream{s: s}, nil
}

// Next waits for the next event. It returns io.EOF when the server ended
// the stream, and the context's error once it is done.
func (ls *LogStream) Next() (*LogStreamEvent, error) {
	ev, err := ls.s.next()
	if err != nil {
		return nil, err
	}
	out := &LogStreamEvent{Kind: ev.Event, ID: ev.ID, Data: json.RawMessage(ev.Data)}
	var dst any
	switch ev.Event {
	case KindLog:
		out.Entry = &LogEntry{}
		dst = out.Entry
	case KindGap:
		out.Gap = &LogGap{}
		dst = out.Gap
		out.ID = ""
	default:
		return out, nil
	}
	if err := json.Unmarshal([]byte(ev.Data), dst); err != nil {
		return nil, fmt.Errorf("decoding a %q event of the log stream: %w", ev.Event, err)
	}
	return out, nil
}

// Close ends the stream.
func (ls *LogStream) Close() error { return ls.s.close() }
