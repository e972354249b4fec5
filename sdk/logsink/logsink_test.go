package logsink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	logsinkv1 "github.com/quantixvm/quantix/proto/quantix/logsink/v1"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/logsink/logsinktest"
	"github.com/quantixvm/quantix/sdk/plugin"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func valid() logsink.Entry {
	return logsink.Entry{
		ID:        "e1",
		Timestamp: time.Date(2026, 1, 18, 10, 0, 0, 1, time.FixedZone("CET", 3600)),
		Level:     logsink.LevelInfo,
		Source:    logsink.SourceUI,
		Component: logsink.ComponentVM,
		Message:   "clicked",
	}
}

func TestValidate(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatalf("a valid entry: %v", err)
	}
	cases := []struct {
		field string
		edit  func(*logsink.Entry)
	}{
		{"id", func(e *logsink.Entry) { e.ID = "" }},
		{"timestamp", func(e *logsink.Entry) { e.Timestamp = time.Time{} }},
		{"level", func(e *logsink.Entry) { e.Level = "warning" }},
		{"source", func(e *logsink.Entry) { e.Source = "kernel" }},
		{"component", func(e *logsink.Entry) { e.Component = "gpu" }},
		{"fields", func(e *logsink.Entry) { e.Fields = json.RawMessage(`[1]`) }},
		{"fields", func(e *logsink.Entry) { e.Fields = json.RawMessage(`{"a":`) }},
		{"fields", func(e *logsink.Entry) { e.Fields = json.RawMessage("{\"a\":\"\xff\"}") }},
		{"message", func(e *logsink.Entry) { e.Message = "bad \xc3\x28" }},
		{"id", func(e *logsink.Entry) { e.ID = "\xff" }},
		{"target", func(e *logsink.Entry) { e.Target = "\xed\xa0\x80" }},
	}
	for _, tc := range cases {
		e := valid()
		tc.edit(&e)
		err := e.Validate()
		if plugin.KindOf(err) != plugin.KindInvalidArgument || plugin.FieldOf(err) != tc.field {
			t.Errorf("%+v: Validate() = %v (field %q), want an invalid argument naming %q", e, err, plugin.FieldOf(err), tc.field)
		}
		if err != nil && !strings.Contains(err.Error(), tc.field) {
			t.Errorf("error %q does not name %s", err, tc.field)
		}
	}
	for _, f := range []string{"", "null", " {} ", `{"a":[1,{"b":null}]}`} {
		e := valid()
		e.Fields = json.RawMessage(f)
		if err := e.Validate(); err != nil {
			t.Errorf("fields %q: %v", f, err)
		}
	}
	e := valid()
	e.Component = ""
	if err := e.Validate(); err != nil {
		t.Errorf("no component: %v", err)
	}
}

func TestLevelRank(t *testing.T) {
	for i, l := range logsink.Levels {
		if l.Rank() != i {
			t.Errorf("%s.Rank() = %d, want %d", l, l.Rank(), i)
		}
	}
	if logsink.Level("fatal").Rank() != -1 {
		t.Error("an unknown level has a rank")
	}
}

func TestEntryJSONKeys(t *testing.T) {
	e := valid()
	e.Fields = json.RawMessage(`{"k":1}`)
	e.VMID, e.NodeID, e.UserID, e.SessionID, e.CorrelationID, e.Action, e.Target, e.UserAction = "v", "n", "u", "s", "c", "a", "t", true
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"id", "timestamp", "level", "source", "component", "message", "fields", "vm_id", "node_id", "user_id", "session_id", "correlation_id", "action", "target", "user_action"}
	if len(m) != len(want) {
		t.Errorf("JSON keys %v, want exactly %v", m, want)
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	b, _ = json.Marshal(valid())
	if strings.Contains(string(b), "vm_id") || !strings.Contains(string(b), `"user_action":false`) {
		t.Errorf("empty optional fields: %s", b)
	}
}

func TestResults(t *testing.T) {
	if r := logsink.OK(); !r.Delivered() || r.Err() != nil || r.String() != "delivered" {
		t.Errorf("OK() = %v", r)
	}
	r := logsink.RetryLater("syslog down: %s", "refused")
	if r.Outcome != logsink.Retryable || !errors.Is(r.Err(), plugin.ErrUnavailable) || r.String() != "retryable: syslog down: refused" {
		t.Errorf("RetryLater = %v, Err %v", r, r.Err())
	}
	r = logsink.Refused("too large")
	if r.Outcome != logsink.Permanent || !errors.Is(r.Err(), plugin.ErrInvalidArgument) {
		t.Errorf("Refused = %v, Err %v", r, r.Err())
	}
	if (logsink.Result{}).Err() == nil {
		t.Error("a result without an outcome has no error")
	}
	cases := []struct {
		err  error
		want logsink.Outcome
	}{
		{nil, logsink.Delivered},
		{plugin.Unavailable("down"), logsink.Retryable},
		{errors.New("unclassified"), logsink.Retryable},
		{fmt.Errorf("call: %w", context.DeadlineExceeded), logsink.Retryable},
		{context.Canceled, logsink.Retryable},
		{plugin.InvalidArgument("x", "bad"), logsink.Permanent},
		{plugin.Unsupported("no"), logsink.Permanent},
		{plugin.Conflict("no"), logsink.Permanent},
	}
	for _, c := range cases {
		if got := logsink.ResultOf(c.err); got.Outcome != c.want {
			t.Errorf("ResultOf(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	rs := logsink.ResultsOf(plugin.Unavailable("x"), 3)
	if len(rs) != 3 || rs[2].Outcome != logsink.Retryable {
		t.Errorf("ResultsOf = %v", rs)
	}
	if rs := logsink.AllDelivered(2); len(rs) != 2 || !rs[1].Delivered() {
		t.Errorf("AllDelivered = %v", rs)
	}
}

// recorder is a Sink that keeps what it receives and answers with answer.
type recorder struct {
	got    [][]logsink.Entry
	answer func([]logsink.Entry) ([]logsink.Result, error)
}

func (r *recorder) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{Name: "rec", Type: plugin.TypeLogSink, Version: "1", APIVersions: logsink.APIVersions}, nil
}
func (r *recorder) Configure(context.Context, []byte, int) error { return nil }
func (r *recorder) Close(context.Context) error                  { return nil }
func (r *recorder) Write(_ context.Context, entries []logsink.Entry) ([]logsink.Result, error) {
	r.got = append(r.got, entries)
	if r.answer != nil {
		return r.answer(entries)
	}
	return logsink.AllDelivered(len(entries)), nil
}

// TestWireKeepsEveryField sends an entry with every field set through the
// gRPC client and server and compares what the sink receives.
func TestWireKeepsEveryField(t *testing.T) {
	rec := &recorder{}
	c := logsinktest.Serve(t, rec)
	e := valid()
	e.Fields = json.RawMessage(`{"nested":{"n":9007199254740993}}`)
	e.VMID, e.NodeID, e.UserID, e.SessionID, e.CorrelationID, e.Action, e.Target, e.UserAction = "v", "n", "u", "s", "c", "a", "t", true
	e.Message = "Unicode ✓\nnewline"
	results, err := c.Write(t.Context(), []logsink.Entry{e})
	if err != nil || len(results) != 1 || !results[0].Delivered() {
		t.Fatalf("Write: %v, %v", results, err)
	}
	got := rec.got[0][0]
	if !got.Timestamp.Equal(e.Timestamp) {
		t.Errorf("timestamp %v, want %v", got.Timestamp, e.Timestamp)
	}
	got.Timestamp, e.Timestamp = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("the sink received\n%+v\nwant\n%+v", got, e)
	}
}

// TestInvalidEntriesNeverReachTheSink sends invalid entries both through
// the client (which screens them) and straight to the server, as a host
// not written with this sdk could: the sink never sees them and they get
// permanent results in their place.
func TestInvalidEntriesNeverReachTheSink(t *testing.T) {
	rec := &recorder{}
	c := logsinktest.Serve(t, rec)
	bad := valid()
	bad.ID, bad.Level = "bad", "loud"
	ok := valid()
	results, err := c.Write(t.Context(), []logsink.Entry{bad, ok, bad})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Outcome != logsink.Permanent || !results[1].Delivered() || results[2].Outcome != logsink.Permanent {
		t.Errorf("results %v", results)
	}
	if len(rec.got) != 1 || len(rec.got[0]) != 1 || rec.got[0][0].ID != "e1" {
		t.Errorf("the sink received %v", rec.got)
	}

	srv := &logsink.GRPCServer{Impl: rec}
	rec.got = nil
	resp, err := srv.Write(t.Context(), &logsinkv1.WriteRequest{Entries: []*logsinkv1.Entry{
		{Id: "raw-bad", Timestamp: timestamppb.Now(), Level: "info", Source: "ui", FieldsJson: []byte(`"not an object"`)},
		{Id: "raw-ok", Timestamp: timestamppb.Now(), Level: "info", Source: "ui"},
		{Id: "raw-no-time", Level: "info", Source: "ui"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	codes := []logsinkv1.ResultCode{logsinkv1.ResultCode_RESULT_CODE_PERMANENT, logsinkv1.ResultCode_RESULT_CODE_OK, logsinkv1.ResultCode_RESULT_CODE_PERMANENT}
	for i, r := range resp.GetResults() {
		if r.GetCode() != codes[i] {
			t.Errorf("raw entry %d: %v %q, want %v", i, r.GetCode(), r.GetMessage(), codes[i])
		}
	}
	if len(rec.got) != 1 || len(rec.got[0]) != 1 || rec.got[0][0].ID != "raw-ok" {
		t.Errorf("the sink received %v", rec.got)
	}
}

// TestServerChecksTheSinksAnswer makes the sink answer badly: a wrong count
// or a result without an outcome fails the call as internal, and a message
// that is not UTF-8 is repaired so that the answer can be encoded.
func TestServerChecksTheSinksAnswer(t *testing.T) {
	rec := &recorder{}
	c := logsinktest.Serve(t, rec)
	two := []logsink.Entry{valid(), valid()}
	rec.answer = func([]logsink.Entry) ([]logsink.Result, error) { return []logsink.Result{logsink.OK()}, nil }
	if _, err := c.Write(t.Context(), two); plugin.KindOf(err) != plugin.KindInternal || !strings.Contains(err.Error(), "answered 1 results for 2 entries") {
		t.Errorf("a short answer: %v", err)
	}
	rec.answer = func(e []logsink.Entry) ([]logsink.Result, error) { return make([]logsink.Result, len(e)), nil }
	if _, err := c.Write(t.Context(), two); plugin.KindOf(err) != plugin.KindInternal || !strings.Contains(err.Error(), "without an outcome") {
		t.Errorf("results without outcome: %v", err)
	}
	rec.answer = func(e []logsink.Entry) ([]logsink.Result, error) {
		return []logsink.Result{logsink.Refused("bad byte \xff"), logsink.OK()}, nil
	}
	results, err := c.Write(t.Context(), two)
	if err != nil || results[0].Message != "bad byte \uFFFD" {
		t.Errorf("a message that is not UTF-8: %v, %v", results, err)
	}
	rec.answer = func([]logsink.Entry) ([]logsink.Result, error) {
		return nil, plugin.Unavailable("disk gone")
	}
	if _, err := c.Write(t.Context(), two); !errors.Is(err, plugin.ErrUnavailable) || !strings.Contains(err.Error(), "disk gone") {
		t.Errorf("a failed call: %v", err)
	}
	if _, err := c.Write(t.Context(), nil); err != nil {
		t.Errorf("an empty batch: %v", err)
	}
}
