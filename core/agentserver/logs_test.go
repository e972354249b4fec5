package agentserver

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// appender is a LogAppender that records what it is given; Append fails
// with err while it is set.
type appender struct {
	mu      sync.Mutex
	entries []logsink.Entry
	err     error
}

func (a *appender) Append(_ context.Context, entries []logsink.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	a.entries = append(a.entries, entries...)
	return nil
}

func (a *appender) setErr(err error) {
	a.mu.Lock()
	a.err = err
	a.mu.Unlock()
}

func (a *appender) all() []logsink.Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.entries)
}

func (a *scripted) sendLogs(id uint64, lines []*agentv1.LogLine) {
	a.t.Helper()
	if err := a.stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Logs{Logs: &agentv1.LogBatch{Id: id, Lines: lines}}}); err != nil {
		a.t.Fatalf("sending log batch %d: %v", id, err)
	}
}

// recvLogAck reads until a log acknowledgement comes.
func (a *scripted) recvLogAck() *agentv1.LogAck {
	a.t.Helper()
	for {
		m, err := a.stream.Recv()
		if err != nil {
			a.t.Fatalf("waiting for a log ack: %v", err)
		}
		if r := m.GetLogAck(); r != nil {
			return r
		}
	}
}

// TestAgentServerStoresLogLines: a batch of log lines becomes entries of
// source qemu of the session's node, at the seed's severities, appended
// before the batch is acknowledged; a batch sent again gives the same
// entries; a failed append is answered with its error.
func TestAgentServerStoresLogLines(t *testing.T) {
	app := &appender{}
	e := startAgentServer(t, nil, func(o *Options) { o.Logs = app })
	a := dialScripted(t, e)
	a.mustConnect("n1")
	if !a.welcome.GetAcceptsLogs() {
		t.Fatalf("welcome of a server with a log appender: %v; want accepts_logs", a.welcome)
	}
	const vmID = "0b7b0a36-6c1e-4a4e-9d0a-9d3f2c1b5e77"
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	lines := []*agentv1.LogLine{
		{VmId: vmID, Time: timestamppb.New(at), Text: "2026-01-02 03:04:05.000+0000: starting up libvirt version: 9.0.0", Offset: 66},
		{VmId: vmID, Time: timestamppb.New(at), Text: "qemu-system-x86_64: terminating on signal 15 from pid 1", Offset: 122},
		{VmId: vmID, Time: timestamppb.New(at), Text: "warning: host doesn't support requested feature", Offset: 170, Generation: 2},
	}
	a.sendLogs(7, lines)
	if ack := a.recvLogAck(); ack.GetId() != 7 || ack.GetError() != "" {
		t.Fatalf("ack = %v; want id 7 without error", ack)
	}
	got := app.all()
	if len(got) != 3 {
		t.Fatalf("%d entries appended, want 3: %+v", len(got), got)
	}
	levels := []logsink.Level{logsink.LevelInfo, logsink.LevelError, logsink.LevelWarn}
	for i, en := range got {
		if en.Source != logsink.SourceQEMU || en.Component != logsink.ComponentQEMU || en.VMID != vmID || en.NodeID != a.node ||
			en.Message != lines[i].GetText() || !en.Timestamp.Equal(at) || en.Level != levels[i] || len(en.ID) != 36 {
			t.Errorf("entry %d = %+v", i, en)
		}
		if err := en.Validate(); err != nil {
			t.Errorf("entry %d is not valid: %v", i, err)
		}
		var f map[string]int64
		if err := json.Unmarshal(en.Fields, &f); err != nil || f["offset"] != lines[i].GetOffset() || f["generation"] != int64(lines[i].GetGeneration()) {
			t.Errorf("entry %d fields = %s", i, en.Fields)
		}
	}

	a.sendLogs(8, lines)
	if ack := a.recvLogAck(); ack.GetId() != 8 || ack.GetError() != "" {
		t.Fatalf("ack = %v; want id 8 without error", ack)
	}
	again := app.all()[3:]
	for i := range again {
		if again[i].ID != got[i].ID {
			t.Errorf("line %d sent again has id %s, first %s", i, again[i].ID, got[i].ID)
		}
	}

	app.setErr(errors.New("spool unavailable"))
	a.sendLogs(9, lines)
	if ack := a.recvLogAck(); ack.GetId() != 9 || !strings.Contains(ack.GetError(), "spool unavailable") {
		t.Errorf("ack of a failed append = %v; want id 9 with the error", ack)
	}
}

// TestAgentServerWithoutLogs: a server without a log appender says so in
// its welcome and answers log batches with an error, and the session goes
// on.
func TestAgentServerWithoutLogs(t *testing.T) {
	e := startAgentServer(t, nil)
	a := dialScripted(t, e)
	a.mustConnect("n1")
	if a.welcome.GetAcceptsLogs() {
		t.Errorf("welcome of a server without a log appender: %v", a.welcome)
	}
	a.sendLogs(1, []*agentv1.LogLine{{VmId: "x", Text: "line", Offset: 5}})
	if ack := a.recvLogAck(); ack.GetId() != 1 || !strings.Contains(ack.GetError(), "keeps no vm log lines") {
		t.Errorf("ack = %v; want id 1 saying the server keeps no log lines", ack)
	}
	a.report(a.session, 1, &agentv1.Heartbeat{})
	a.recvHeartbeatReply()
}

// TestLogEntries: ids depend on the node, the VM, the place in the log
// and the text; texts become valid UTF-8; a line without a time gets now.
func TestLogEntries(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	base := &agentv1.LogLine{VmId: "vm-a", Text: "char device redirected to /dev/pts/3 (label charserial0)", Offset: 100}
	id := func(node string, l *agentv1.LogLine) string {
		return logEntries(node, []*agentv1.LogLine{l}, now)[0].ID
	}
	first := id("n1", base)
	if id("n1", base) != first {
		t.Error("the same line gets different ids")
	}
	variants := map[string]*agentv1.LogLine{
		"vm":         {VmId: "vm-b", Text: base.Text, Offset: 100},
		"offset":     {VmId: "vm-a", Text: base.Text, Offset: 101},
		"generation": {VmId: "vm-a", Text: base.Text, Offset: 100, Generation: 1},
		"text":       {VmId: "vm-a", Text: base.Text + " ", Offset: 100},
	}
	for what, l := range variants {
		if id("n1", l) == first {
			t.Errorf("a line differing by its %s has the same id", what)
		}
	}
	if id("n2", base) == first {
		t.Error("a line of another node has the same id")
	}
	e := logEntries("n1", []*agentv1.LogLine{{VmId: "vm-a", Text: "bad \xff byte", Offset: 9}}, now)[0]
	if e.Message != "bad \uFFFD byte" || !e.Timestamp.Equal(now) || string(e.Fields) != `{"offset":9}` {
		t.Errorf("entry = %+v", e)
	}
	if err := e.Validate(); err != nil {
		t.Error(err)
	}
}
