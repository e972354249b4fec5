package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// Kinds of the events of GET /api/events.
const (
	KindVM   = "vm"
	KindNode = "node"
	KindGap  = "gap"
)

// StreamEvent is one event of GET /api/events. Kind says which of VM, Node
// and Gap is set; an event of a kind this package does not know has only
// Kind, ID and Data.
type StreamEvent struct {
	Kind string
	// ID is the stream position of the event: passed as since, a new
	// stream resumes after it. Gaps have none.
	ID   string
	VM   *VMStreamEvent
	Node *NodeStreamEvent
	Gap  *StreamGap
	// Data is the event's JSON as the API sent it.
	Data json.RawMessage
}

// VMStreamEvent is a change of a VM.
type VMStreamEvent struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// EventID is the id of the event in the VM's history; 0 for the last
	// event of a record that was removed.
	EventID  int64     `json:"event_id"`
	VMID     string    `json:"vm_id"`
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	OldState string    `json:"old_state"`
	NewState string    `json:"new_state"`
	Cause    string    `json:"cause"`
	Message  string    `json:"message"`
}

// NodeStreamEvent is a change of a node.
type NodeStreamEvent struct {
	Kind           string    `json:"kind"`
	ID             string    `json:"id"`
	NodeID         string    `json:"node_id"`
	NodeName       string    `json:"node_name"`
	Time           time.Time `json:"time"`
	Action         string    `json:"action"`
	OldState       string    `json:"old_state"`
	NewState       string    `json:"new_state"`
	BackendHealthy bool      `json:"backend_healthy"`
	Message        string    `json:"message"`
}

// StreamGap says that events were lost: Dropped of them because the client
// read too slowly (a new stream with since ResumeSince fetches them), or
// none when the server no longer held what came right after since.
type StreamGap struct {
	Kind        string `json:"kind"`
	Dropped     int    `json:"dropped"`
	ResumeSince string `json:"resume_since"`
	Message     string `json:"message"`
}

// EventStream reads GET /api/events until its context ends or Close.
type EventStream struct {
	s *sseStream
}

// Events opens the stream of VM and node changes. With since (the ID of an
// event) it resumes after that event; without, it starts with what comes
// next. Cancelling ctx ends the stream: Next then returns ctx's error.
func (c *Client) Events(ctx context.Context, since string) (*EventStream, error) {
	q := url.Values{}
	set(q, "since", since)
	s, err := c.stream(ctx, "/api/events", q, "the event stream")
	if err != nil {
		return nil, err
	}
	return &EventStream{s: s}, nil
}

// Next waits for the next event. It returns io.EOF when the server ended
// the stream, and the context's error once it is done.
func (es *EventStream) Next() (*StreamEvent, error) {
	ev, err := es.s.next()
	if err != nil {
		return nil, err
	}
	out := &StreamEvent{Kind: ev.Event, ID: ev.ID, Data: json.RawMessage(ev.Data)}
	var dst any
	switch ev.Event {
	case KindVM:
		out.VM = &VMStreamEvent{}
		dst = out.VM
	case KindNode:
		out.Node = &NodeStreamEvent{}
		dst = out.Node
	case KindGap:
		out.Gap = &StreamGap{}
		dst = out.Gap
		// A gap carries no id of its own: the reader's last id is that
		// of the event before it.
		out.ID = ""
	default:
		return out, nil
	}
	if err := json.Unmarshal([]byte(ev.Data), dst); err != nil {
		return nil, fmt.Errorf("decoding a %q event of the event stream: %w", ev.Event, err)
	}
	return out, nil
}

// LastEventID is the id of the last event read, to resume after it.
func (es *EventStream) LastEventID() string { return es.s.rd.LastEventID() }

// Close ends the stream.
func (es *EventStream) Close() error { return es.s.close() }
