package client

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readAll(t *testing.T, input string) []SSEEvent {
	t.Helper()
	r := NewSSEReader(strings.NewReader(input))
	var out []SSEEvent
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%q: %v", input, err)
		}
		out = append(out, ev)
	}
}

func TestSSEReader(t *testing.T) {
	cases := []struct {
		name  string
		input string
		want  []SSEEvent
	}{
		{"one event", "id: 1\nevent: vm\ndata: {\"a\":1}\n\n",
			[]SSEEvent{{Event: "vm", ID: "1", Data: `{"a":1}`}}},
		{"comments are ignored", ": connected\n\n: keep-alive\n\nevent: vm\n: between\ndata: x\n\n",
			[]SSEEvent{{Event: "vm", Data: "x"}}},
		{"default type is message", "data: hello\n\n",
			[]SSEEvent{{Event: "message", Data: "hello"}}},
		{"data lines are joined", "data: a\ndata: b\ndata\n\n",
			[]SSEEvent{{Event: "message", Data: "a\nb\n"}}},
		{"only one space is stripped", "data:  two\ndata:none\n\n",
			[]SSEEvent{{Event: "message", Data: " two\nnone"}}},
		{"CRLF line ends", "event: log\r\nid: 7\r\ndata: x\r\n\r\n",
			[]SSEEvent{{Event: "log", ID: "7", Data: "x"}}},
		{"CR line ends", "event: log\rdata: x\r\rdata: y\r\r",
			[]SSEEvent{{Event: "log", Data: "x"}, {Event: "message", Data: "y"}}},
		{"the id carries over", "id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
			[]SSEEvent{{Event: "message", ID: "5", Data: "a"}, {Event: "message", ID: "5", Data: "b"}, {Event: "message", ID: "", Data: "c"}}},
		{"an event without data is not delivered", "event: gap\n\nevent: vm\ndata: 1\n\n",
			[]SSEEvent{{Event: "vm", Data: "1"}}},
		{"unknown fields are ignored", "foo: bar\nevent: vm\ndata: 1\n\n",
			[]SSEEvent{{Event: "vm", Data: "1"}}},
		{"retry", "retry: 1500\ndata: 1\n\nretry: soon\ndata: 2\n\n",
			[]SSEEvent{{Event: "message", Data: "1", Retry: 1500 * time.Millisecond}, {Event: "message", Data: "2"}}},
		{"an event cut short is dropped", "event: vm\ndata: 1\n\nevent: vm\ndata: 2\n",
			[]SSEEvent{{Event: "vm", Data: "1"}}},
		{"a line cut short is dropped", "data: 1\n\ndata: 2",
			[]SSEEvent{{Event: "message", Data: "1"}}},
		{"empty stream", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := readAll(t, c.input); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestSSEReaderLastEventID(t *testing.T) {
	r := NewSSEReader(strings.NewReader("id: 3\nevent: vm\ndata: x\n\nid: 3.1\nevent: node\ndata: y\n\n"))
	for _, want := range []string{"3", "3.1"} {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		if r.LastEventID() != want {
			t.Errorf("LastEventID = %q, want %q", r.LastEventID(), want)
		}
	}
}

// errReader fails after its data.
type errReader struct {
	data string
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestSSEReaderError(t *testing.T) {
	boom := errors.New("connection reset")
	r := NewSSEReader(&errReader{data: "data: 1\n\ndata: 2\n", err: boom})
	if ev, err := r.Next(); err != nil || ev.Data != "1" {
		t.Fatalf("first event: %+v %v", ev, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("after the failure: %v, want %v", err, boom)
	}
}

func TestSSEReaderBound(t *testing.T) {
	r := NewSSEReader(strings.NewReader("data: " + strings.Repeat("x", MaxSSEEventBytes+1) + "\n\n"))
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "over") {
		t.Fatalf("an oversized line: %v", err)
	}
}
