package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/core/logs"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// logEnv is the API with the log pipeline and the built-in store.
type logEnv struct {
	*env
	pipe *logs.Pipeline
	reg  *prometheus.Registry
}

// logEnvOptions tune newLogEnv.
type logEnvOptions struct {
	backend   bool
	rate      RateLimit
	streamBuf int
	keepAlive time.Duration
	// logger, when set, is the server's and the authentication's.
	logger hclog.Logger
}

func newLogEnv(t testing.TB, driver string, o logEnvOptions) *logEnv {
	t.Helper()
	le := &logEnv{reg: prometheus.NewRegistry()}
	le.env = newEnvWith(t, driver, o.backend, controlplane.ReconcilerOptions{}, o.keepAlive, func(e *env, opts *Options) {
		p, err := logs.Open(logs.Options{
			Dir: t.TempDir(), Store: e.store.Logs(), Registerer: le.reg,
			Batch:  logs.BatchOptions{MaxWait: 10 * time.Millisecond},
			Logger: testlog.New(t, hclog.Warn),
		})
		if err != nil {
			t.Fatalf("opening the log pipeline: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = p.Close(ctx)
		})
		le.pipe = p
		opts.Logs, opts.LogStore, opts.UIRate, opts.Metrics, opts.LogStreamBuffer = p, e.store.Logs(), o.rate, le.reg, o.streamBuf
		opts.Enroll = testEnroll(t, e)
		opts.Console = testConsole(t)
		if o.logger != nil {
			opts.Logger = o.logger
		}
	})
	return le
}

// waitStored waits until the store holds n entries.
func (le *logEnv) waitStored(t testing.TB, n int) {
	t.Helper()
	wait.UntilNil(t, 60*time.Second, fmt.Sprintf("%d entries in the store", n), func() error {
		got, err := le.store.Logs().Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if int(got) != n {
			return fmt.Errorf("the store holds %d entries", got)
		}
		return nil
	})
}

// logsOf decodes the logs of a GET /api/logs reply.
func logsOf(t testing.TB, r reply) []logsink.Entry {
	t.Helper()
	var page struct {
		Logs []logsink.Entry `json:"logs"`
	}
	if err := json.Unmarshal([]byte(r.raw), &page); err != nil {
		t.Fatal(err)
	}
	return page.Logs
}

// seedEntry is one entry as the seed front end's uiLogger builds it.
func seedEntry(i int, session string) string {
	return fmt.Sprintf(`{"timestamp":"2026-01-18T10:00:%02d.%03dZ","level":"info","action":"button.click","component":"vm",
		"target":"start-%d","message":"Clicked start-%d","metadata":{"vm":"web-%d"},"correlationId":"corr-%d",
		"userId":"alice","sessionId":%q,"userAction":true}`, i%60, i%1000, i, i, i, i, session)
}

func uiBody(entries ...string) string { return `{"logs":[` + strings.Join(entries, ",") + `]}` }

func TestUILogsSeedFrontEndShape(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			le := newLogEnv(t, driver, logEnvOptions{})
			var es []string
			for i := range 5 {
				es = append(es, seedEntry(i, "session-1-abc"))
			}
			r := le.do(t, "POST", "/api/logs/ui", uiBody(es...))
			r.want(t, http.StatusOK, "")
			if r.body["accepted"] != float64(5) || r.body["rejected"] != float64(0) || len(r.body["errors"].([]any)) != 0 {
				t.Fatalf("reply %s", r.raw)
			}
			le.waitStored(t, 5)
			// The body's userId and sessionId are ignored: the entries are
			// the caller's.
			if got := logsOf(t, le.do(t, "GET", "/api/logs?session_id=session-1-abc", "")); len(got) != 0 {
				t.Fatalf("%d entries kept the session id of the body", len(got))
			}
			got := logsOf(t, le.do(t, "GET", "/api/logs?session_id="+le.credential()+"&order=asc", ""))
			if len(got) != 5 {
				t.Fatalf("%d entries for the caller's credential, want 5", len(got))
			}
			e := got[2]
			if e.Source != logsink.SourceUI || e.Level != logsink.LevelInfo || e.Component != logsink.ComponentVM || e.Action != "button.click" ||
				e.Target != "start-2" || e.Message != "Clicked start-2" || e.CorrelationID != "corr-2" || e.UserID != le.admin.ID ||
				e.SessionID != le.credential() || !e.UserAction || string(e.Fields) != `{"vm":"web-2"}` || e.ID == "" ||
				!e.Timestamp.Equal(time.Date(2026, 1, 18, 10, 0, 2, 2e6, time.UTC)) {
				t.Errorf("stored entry: %+v", e)
			}
			// The snake_case keys of docs/logs.md work as well.
			r = le.do(t, "POST", "/api/logs/ui", uiBody(`{"level":"warn","component":"storage","message":"m","correlation_id":"c-s","session_id":"s-s","user_id":"bob","user_action":false,"fields":{"k":1},"vm_id":"vm-9","node_id":"n-9"}`))
			r.want(t, http.StatusOK, "")
			le.waitStored(t, 6)
			got = logsOf(t, le.do(t, "GET", "/api/logs?correlation_id=c-s", ""))
			if len(got) != 1 || got[0].UserAction || got[0].UserID != le.admin.ID || got[0].SessionID != le.credential() || got[0].VMID != "vm-9" || got[0].NodeID != "n-9" || got[0].Level != logsink.LevelWarn {
				t.Errorf("snake_case entry: %+v", got)
			}
		})
	}
}

func TestUILogsBadEntriesKeepGoodOnes(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{})
	long := strings.Repeat("x", MaxUIMessageBytes+1)
	entries := []struct {
		json   string
		reason string // "" for a good entry
	}{
		{seedEntry(0, "s-bad"), ""},
		{`{"level":"info","component":"admin","message":"m"}`, `component: "admin" is not one of`},
		{`{"level":"fatal","component":"vm","message":"m"}`, `level: "fatal" is not one of trace, debug`},
		{`{"level":"info","component":"vm","message":"` + long + `"}`, "message: 8193 bytes, at most 8192"},
		{`{"level":"info","component":"vm"}`, "message: required"},
		{`{"level":"info","message":"m","colour":"red"}`, `unknown field "colour"`},
		{`{"message":"m","correlationId":"a","correlation_id":"b"}`, "correlation_id and correlationId differ"},
		{`{"message":"m","timestamp":"yesterday"}`, `timestamp: "yesterday" is not an RFC 3339 time`},
		{`{"message":"m","metadata":[1,2]}`, "fields: must be a JSON object"},
		{`{"message":"m","source":"audit"}`, `source: "audit"; entries sent here are "ui"`},
		{`{"message":"m","level":3}`, "level: must be a string, not number"},
		{`"just a string"`, "entry: must be a JSON object, not string"},
		{`{"message":"m","level":"trace","sessionId":"s-bad"}`, ""},
		{`{"message":"m","fields":{"a":1},"metadata":{"b":2}}`, "fields and metadata are both set"},
		{`{"message":"m","target":"` + strings.Repeat("t", 513) + `"}`, "target: 513 bytes, at most 512"},
		{seedEntry(1, "s-bad"), ""},
	}
	var parts []string
	good := 0
	for _, e := range entries {
		parts = append(parts, e.json)
		if e.reason == "" {
			good++
		}
	}
	r := le.do(t, "POST", "/api/logs/ui", uiBody(parts...))
	r.want(t, http.StatusOK, "")
	if r.body["accepted"] != float64(good) || r.body["rejected"] != float64(len(entries)-good) {
		t.Fatalf("reply %s", r.raw)
	}
	errs := r.body["errors"].([]any)
	next := 0
	for i, e := range entries {
		if e.reason == "" {
			continue
		}
		got := errs[next].(map[string]any)
		next++
		if got["index"] != float64(i) || !strings.Contains(got["reason"].(string), e.reason) {
			t.Errorf("error %v, want index %d with %q", got, i, e.reason)
		}
	}
	le.waitStored(t, good)
	stored := logsOf(t, le.do(t, "GET", "/api/logs?source=ui", ""))
	if len(stored) != good {
		t.Fatalf("%d good entries stored, want %d", len(stored), good)
	}
	levels := map[logsink.Level]int{}
	for _, e := range stored {
		levels[e.Level]++
	}
	if levels[logsink.LevelDebug] != 1 {
		t.Errorf("the trace entry was not stored at debug: %v", levels)
	}

	r = le.do(t, "POST", "/api/logs/ui", uiBody(`{"message":""}`, `{"level":"loud","message":"m"}`))
	r.want(t, http.StatusUnprocessableEntity, codeInvalid, "every one of the 2 entries was rejected")
	if r.body["accepted"] != float64(0) || r.body["rejected"] != float64(2) || len(r.body["errors"].([]any)) != 2 {
		t.Errorf("all-bad reply %s", r.raw)
	}
}

func TestUILogsRequestBounds(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{})
	many := make([]string, MaxUIEntries+1)
	for i := range many {
		many[i] = `{"message":"m"}`
	}
	le.do(t, "POST", "/api/logs/ui", uiBody(many...)).want(t, http.StatusRequestEntityTooLarge, codeTooLarge, "1001 entries; at most 1000")
	big := make([]string, 200)
	for i := range big {
		big[i] = `{"message":"` + strings.Repeat("y", 6000) + `"}`
	}
	le.do(t, "POST", "/api/logs/ui", uiBody(big...)).want(t, http.StatusRequestEntityTooLarge, codeTooLarge, "larger than 1 MiB")
	le.do(t, "POST", "/api/logs/ui", `{"logs":[`).want(t, http.StatusBadRequest, codeBadRequest)
	le.do(t, "POST", "/api/logs/ui", `{}`).want(t, http.StatusUnprocessableEntity, codeInvalid, "logs: required")
	le.do(t, "POST", "/api/logs/ui", `{"logs":{}}`).want(t, http.StatusUnprocessableEntity, "", "logs: must be an array")
	le.do(t, "POST", "/api/logs/ui", `{"logs":[],"extra":1}`).want(t, http.StatusBadRequest, codeBadRequest, `unknown field "extra"`)
	r := le.do(t, "POST", "/api/logs/ui", `{"logs":[]}`)
	r.want(t, http.StatusOK, "")
	if r.body["accepted"] != float64(0) {
		t.Errorf("empty list: %s", r.raw)
	}
	// A good request after all that is taken whole.
	le.do(t, "POST", "/api/logs/ui", uiBody(seedEntry(1, "after"), seedEntry(2, "after"))).want(t, http.StatusOK, "")
	le.waitStored(t, 2)
}

// TestUILogsFlood: a credential over its rate gets 429 with Retry-After
// and nothing of that request is taken; other credentials and the
// credential's earlier requests are unaffected: every acknowledged entry
// is stored. The session ids the body names make no difference.
func TestUILogsFlood(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{rate: RateLimit{PerSecond: 20, Burst: 100}})
	flooder, ft := le.newToken(t, "flooder", identity.RoleOperator, 0)
	calm, _ := le.newToken(t, "calm", identity.RoleOperator, 0)
	post := func(c cred, body string) reply {
		return le.doAs(t, c, "POST", "/api/logs/ui", strings.NewReader(body))
	}
	batch := func(session string, n int) string {
		es := make([]string, n)
		for i := range es {
			es[i] = seedEntry(i, session)
		}
		return uiBody(es...)
	}
	acked, limited := 0, 0
	var retryAfter string
	for i := range 10 {
		r := post(flooder, batch(fmt.Sprintf("invented-%d", i), 30))
		switch r.status {
		case http.StatusOK:
			acked += int(r.body["accepted"].(float64))
		case http.StatusTooManyRequests:
			limited++
			retryAfter = r.header.Get("Retry-After")
			r.want(t, http.StatusTooManyRequests, codeRateLimited, "token "+ft.ID+" is over its rate of 20 log entries per second")
		default:
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
	}
	if acked != 90 || limited != 7 {
		t.Fatalf("acked %d entries in %d limited requests; want 90 acked (the burst) and 7 refused", acked, limited)
	}
	if retryAfter == "" || retryAfter == "0" {
		t.Errorf("Retry-After %q", retryAfter)
	}
	r := post(calm, batch("invented-0", 30))
	r.want(t, http.StatusOK, "")
	le.waitStored(t, 120)
	if n := len(logsOf(t, le.do(t, "GET", "/api/logs?session_id=token:"+ft.ID+"&limit=1000", ""))); n != 90 {
		t.Errorf("%d of the flooder's acknowledged entries stored, want 90", n)
	}
	// Refused requests take no tokens: the flooder is accepted again once
	// its bucket has refilled (at 20 a second, 30 entries take 1.5 s).
	wait.UntilNil(t, 10*time.Second, "the flooder's bucket to refill", func() error {
		if r := post(flooder, batch("invented-11", 30)); r.status != http.StatusOK {
			return fmt.Errorf("status %d: %s", r.status, r.raw)
		}
		return nil
	})
}

func TestLogsQueryAPI(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{})
	base := time.Date(2026, 1, 18, 9, 0, 0, 0, time.UTC)
	var es []logsink.Entry
	for i := range 250 {
		es = append(es, logsink.Entry{
			Timestamp: base.Add(time.Duration(i) * time.Second), Level: logsink.Levels[i%4], Source: logsink.Sources[i%4],
			Component: logsink.ComponentVM, Message: fmt.Sprintf("entry %03d", i), VMID: fmt.Sprintf("vm-%d", i%5),
			NodeID: "n-1", UserAction: i%4 == 0,
		})
	}
	if err := le.pipe.Append(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	le.waitStored(t, 250)
	var ids []string
	cursor := ""
	for {
		r := le.do(t, "GET", "/api/logs?vm_id=vm-2&level=warn&limit=7&cursor="+cursor, "")
		r.want(t, http.StatusOK, "")
		for _, e := range logsOf(t, r) {
			if e.VMID != "vm-2" || e.Level.Rank() < logsink.LevelWarn.Rank() {
				t.Fatalf("entry %+v does not match the filters", e)
			}
			ids = append(ids, e.ID)
		}
		if r.body["has_more"] != true {
			if r.str("next_cursor") != "" {
				t.Errorf("next_cursor without has_more: %s", r.raw)
			}
			break
		}
		cursor = r.str("next_cursor")
	}
	if len(ids) != 26 {
		t.Errorf("%d entries of vm-2 at warn and above, want 26", len(ids))
	}
	r := le.do(t, "GET", "/api/logs?source=ui,audit&q=ENTRY%2000&since=2026-01-18T09:00:00Z&until=2026-01-18T09:00:10Z", "")
	if got := logsOf(t, r); len(got) != 6 {
		t.Errorf("source+q+since+until: %d entries, want 6: %s", len(got), r.raw)
	}
	r = le.do(t, "GET", "/api/logs?user_action=true&source=ui&limit=1000", "")
	if got := logsOf(t, r); len(got) != 63 {
		t.Errorf("user_action=true: %d entries, want 63", len(got))
	}
	r = le.do(t, "GET", "/api/logs?vm_id=none", "")
	if r.raw == "" || !strings.Contains(r.raw, `"logs":[]`) {
		t.Errorf("no match: %s", r.raw)
	}
	for _, bad := range []struct{ q, msg string }{
		{"level=loud", `level: "loud" is not one of debug, info, warn, error`},
		{"source=kernel", `source: "kernel" is not one of ui, audit, system, qemu`},
		{"component=admin", `component: "admin" is not one of`},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"cursor=!!", "cursor: malformed cursor"},
		{"since=yesterday", "since: \"yesterday\" is neither"},
		{"since=2026-01-18T10:00:00Z&until=2026-01-18T09:00:00Z", "must be before until"},
		{"user_action=maybe", "user_action"},
		{"order=sideways", "order"},
	} {
		le.do(t, "GET", "/api/logs?"+bad.q, "").want(t, http.StatusBadRequest, codeBadRequest, bad.msg)
	}
	r = le.do(t, "GET", "/api/logs/sources", "")
	if fmt.Sprint(r.body["sources"]) != "[ui audit system qemu]" {
		t.Errorf("sources: %s", r.raw)
	}
	r = le.do(t, "GET", "/api/logs/components", "")
	if comps := r.body["components"].([]any); len(comps) != len(logsink.Components) || comps[0] != "vm" {
		t.Errorf("components: %s", r.raw)
	}
}

// TestLogsWithoutPipeline: a server without the pipeline answers the log
// routes 503 and still serves the rest.
func TestLogsWithoutPipeline(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	e.do(t, "GET", "/api/logs", "").want(t, http.StatusServiceUnavailable, codeUnavailable, "log store is not running")
	e.do(t, "POST", "/api/logs/ui", uiBody(seedEntry(0, "x"))).want(t, http.StatusServiceUnavailable, codeUnavailable, "log pipeline is not running")
	e.do(t, "GET", "/api/health", "").want(t, http.StatusOK, "")
}

func TestRateLimiter(t *testing.T) {
	l := newLimiter(RateLimit{PerSecond: 10, Burst: 20})
	now := time.Unix(1000, 0)
	if ok, _ := l.Take("a", classSession, 20, now); !ok {
		t.Fatal("a full burst was refused")
	}
	ok, wait := l.Take("a", classSession, 5, now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("over the burst: %v, wait %s; want refused, 500ms", ok, wait)
	}
	if ok, _ := l.Take("b", classSession, 20, now); !ok {
		t.Fatal("another key shares the first one's bucket")
	}
	if ok, _ := l.Take("a", classSession, 5, now.Add(500*time.Millisecond)); !ok {
		t.Fatal("refused after the refill")
	}
	if ok, _ := l.Take("a", classSession, 100, now.Add(time.Hour)); !ok {
		t.Fatal("a request over the burst can never pass")
	}
}

func TestAuditActionNames(t *testing.T) {
	for _, tc := range []struct{ method, route, want string }{
		{"POST", "/api/vms", "vm.create"},
		{"PATCH", "/api/vms/:id", "vm.update"},
		{"DELETE", "/api/vms/:id", "vm.delete"},
		{"POST", "/api/vms/:id/start", "vm.start"},
		{"POST", "/api/vms/:id/reset_state", "vm.reset_state"},
		{"POST", "/api/nodes/:id/drain", "node.drain"},
	} {
		if got := auditAction(tc.method, tc.route); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.route, got, tc.want)
		}
	}
}

func TestMetricsRoute(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{})
	le.do(t, "POST", "/api/logs/ui", uiBody(seedEntry(0, "m"), seedEntry(1, "m"), `{"message":""}`)).want(t, http.StatusOK, "")
	le.waitStored(t, 2)
	rec := le.raw(t, "GET", "/metrics")
	for _, want := range []string{`quantix_logs_accepted_total{source="ui"} 2`, `quantix_logs_rejected_total{reason="invalid",source="ui"} 1`,
		`quantix_logs_delivered_total{sink="store",source="ui"} 2`, "quantix_logs_spool_bytes"} {
		if !strings.Contains(rec, want) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
	_ = store.LogFilter{}
}
