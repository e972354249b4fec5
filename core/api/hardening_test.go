package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// lockedBuffer is a log output tests read while the server writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// withLogOutput makes the server log at info (the access log included)
// into out.
func withLogOutput(out *lockedBuffer) func(*env, *Options) {
	return func(_ *env, o *Options) {
		o.Logger = hclog.New(&hclog.LoggerOptions{Output: out, Level: hclog.Info})
	}
}

// TestLongPathsAreCutShort: a request naming a VM, node or route of 1 MiB
// gets an error that repeats a few hundred bytes of it with its length,
// and the access log and the audit entries keep no more than that.
func TestLongPathsAreCutShort(t *testing.T) {
	var out lockedBuffer
	e := newEnvWith(t, "sqlite", false, controlplane.ReconcilerOptions{}, 0, withLogOutput(&out))
	long := strings.Repeat("a", 1<<20)
	const note = "…(1048576 bytes)"
	for _, c := range []struct {
		method, path string
		status       int
		code         string
		parts        []string
	}{
		{"GET", "/api/vms/" + long, 404, "not_found", []string{`vm "aaaa`, `a` + note + `" not found`}},
		{"GET", "/api/vms/" + long + "/events", 404, "not_found", []string{`vm "aaaa`, note}},
		{"GET", "/api/vms/" + long + "/logs", 404, "not_found", []string{`vm "aaaa`, note}},
		{"POST", "/api/vms/" + long + "/start", 404, "not_found", []string{`vm "aaaa`, note}},
		{"DELETE", "/api/vms/" + long, 404, "not_found", []string{`vm "aaaa`, note}},
		{"GET", "/api/nodes/" + long, 404, "not_found", []string{`node "aaaa`, note}},
		{"GET", "/api/nothing/" + long, 404, "not_found", []string{"no route GET /api/nothing/aaaa", "…(1048589 bytes)"}},
		{"PUT", "/api/vms/" + long, 405, "method_not_allowed", []string{"method PUT is not allowed on /api/vms/aaaa", "…(1048585 bytes)"}},
		{"GET", "/api/vms?state=" + long, 400, "bad_request", []string{"state:", note}},
		{"GET", "/api/vms?label=" + long, 400, "bad_request", []string{"label:", note}},
		{"POST", "/api/vms/x/stop?timeout=" + long, 400, "bad_request", []string{"timeout:", note}},
	} {
		r := e.do(t, c.method, c.path, "")
		r.want(t, c.status, c.code, c.parts...)
		if len(r.raw) > 1024 {
			t.Errorf("%s %.40s…: a reply of %d bytes", c.method, c.path, len(r.raw))
		}
	}
	if n := len(out.String()); n > 16<<10 {
		t.Errorf("11 requests wrote %d bytes of log", n)
	}
	if !strings.Contains(out.String(), "/api/vms/aaaa") || !strings.Contains(out.String(), "…(1048585 bytes)") {
		t.Errorf("the access log does not name the path cut short:\n%.2000s", out.String())
	}
}

// TestLongPathsInAuditEntries: the audit entry of a mutating call on a
// 1 MiB path keeps a few hundred bytes of it.
func TestLongPathsInAuditEntries(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{})
	long := strings.Repeat("b", 1<<20)
	le.do(t, "PATCH", "/api/vms/"+long, `{"description":"d"}`).want(t, http.StatusNotFound, "not_found", "…(1048576 bytes)")
	le.do(t, "DELETE", "/api/vms/x?force="+long, "").want(t, http.StatusBadRequest, "bad_request", "force:", "…(1048576 bytes)")
	le.waitStored(t, 2)
	r := le.do(t, "GET", "/api/logs?source=audit", "")
	r.want(t, http.StatusOK, "")
	got := logsOf(t, r)
	if len(got) != 2 {
		t.Fatalf("%d audit entries, want 2: %.2000s", len(got), r.raw)
	}
	if len(r.raw) > 8<<10 {
		t.Errorf("two audit entries take %d bytes", len(r.raw))
	}
	for _, a := range got {
		if all := a.Message + " " + a.Target + " " + string(a.Fields); a.Source != logsink.SourceAudit || !strings.Contains(all, "…(1048") ||
			len(a.Message) > 1024 || len(a.Target) > 1024 || len(a.Fields) > 2048 {
			t.Errorf("audit entry not cut short: %.1500s", a.Message+" "+a.Target+" "+string(a.Fields))
		}
	}
}

// TestLogTextQueryBound: q (and search) over MaxLogTextQuery characters is
// a 400 naming the limit on every route that filters logs, where it was a
// 500 from the store; a q of the limit, even of characters the store
// escapes, is searched.
func TestLogTextQueryBound(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) { testLogTextQueryBound(t, driver) })
	}
}

func testLogTextQueryBound(t *testing.T, driver string) {
	le := newLogEnv(t, driver, logEnvOptions{})
	// The store matches the pattern against entries: with none, even a
	// pattern it cannot take goes unnoticed.
	if err := le.pipe.Append(context.Background(), []logsink.Entry{{Level: logsink.LevelInfo, Source: logsink.SourceSystem, Message: "one entry"}}); err != nil {
		t.Fatal(err)
	}
	le.waitStored(t, 1)
	over := strings.Repeat("x", 50_001)
	for _, path := range []string{"/api/logs?q=", "/api/logs?search=", "/api/logs/export?q=", "/api/logs/stream?q="} {
		param := strings.TrimSuffix(path[strings.Index(path, "?")+1:], "=")
		le.do(t, "GET", path+over, "").want(t, http.StatusBadRequest, codeBadRequest, param+": 50001 characters; at most 1000")
	}
	le.do(t, "GET", "/api/logs?q="+strings.Repeat("é", 1001), "").want(t, http.StatusBadRequest, codeBadRequest, "q: 1001 characters; at most 1000")
	for _, q := range []string{strings.Repeat("x", 1000), strings.Repeat("%25", 1000), strings.Repeat("_", 1000), strings.Repeat("€", 1000)} {
		r := le.do(t, "GET", "/api/logs?q="+q, "")
		r.want(t, http.StatusOK, "")
		if len(logsOf(t, r)) != 0 {
			t.Errorf("q=%.20s…: %s", q, r.raw)
		}
	}
	if body := le.raw(t, "GET", "/api/logs/export?format=txt&q="+strings.Repeat("%25", 1000)); body != "" {
		t.Errorf("export of no match: %q", body)
	}
}

// TestUITimestampWindow: a UI entry dated more than ten years from now is
// refused with its per-entry error; one inside the window is stored with
// its time exactly (9999-12-31 was stored as 1816-03-30 and 1677 as 2262).
func TestUITimestampWindow(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{})
	now := time.Now().UTC()
	inside := []time.Time{
		now.AddDate(-UITimestampYears, 0, 1).Truncate(time.Microsecond),
		now.AddDate(UITimestampYears, 0, -1).Truncate(time.Microsecond),
		now.Add(-time.Hour).Truncate(time.Microsecond),
	}
	entry := func(ts, msg string) string {
		return `{"timestamp":"` + ts + `","message":"` + msg + `","session_id":"tw"}`
	}
	r := le.do(t, "POST", "/api/logs/ui", uiBody(
		entry("9999-12-31T23:59:59Z", "far future"),
		entry(inside[0].Format(time.RFC3339Nano), "inside 0"),
		entry("1677-06-01T00:00:00Z", "far past"),
		entry(inside[1].Format(time.RFC3339Nano), "inside 1"),
		entry(now.AddDate(-UITimestampYears, 0, -1).Format(time.RFC3339), "just past"),
		entry(inside[2].Format(time.RFC3339Nano), "inside 2"),
		entry(now.AddDate(UITimestampYears, 0, 1).Format(time.RFC3339), "just ahead"),
	))
	r.want(t, http.StatusOK, "")
	if r.body["accepted"] != float64(3) || r.body["rejected"] != float64(4) {
		t.Fatalf("reply %s", r.raw)
	}
	for i, want := range map[int]string{0: "timestamp: 9999-12-31T23:59:59Z is more than 10 years from the server's time", 2: "timestamp: 1677-06-01T00:00:00Z is more than 10 years", 4: "more than 10 years", 6: "more than 10 years"} {
		found := false
		for _, e := range r.body["errors"].([]any) {
			e := e.(map[string]any)
			if e["index"] == float64(i) {
				found = true
				if !strings.Contains(e["reason"].(string), want) {
					t.Errorf("entry %d: reason %q, want %q", i, e["reason"], want)
				}
			}
		}
		if !found {
			t.Errorf("entry %d was not refused: %s", i, r.raw)
		}
	}
	le.waitStored(t, 3)
	got := logsOf(t, le.do(t, "GET", "/api/logs?source=ui&order=asc", ""))
	if len(got) != 3 {
		t.Fatalf("%d entries stored, want 3", len(got))
	}
	for i, want := range []time.Time{inside[0], inside[2], inside[1]} {
		if !got[i].Timestamp.Equal(want) {
			t.Errorf("entry %q stored at %s, sent %s", got[i].Message, got[i].Timestamp.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
		}
	}
}

// nested is a fields object whose objects and arrays nest depth levels
// deep, the outer object included.
func nested(depth int) string {
	var b strings.Builder
	b.WriteString(`{"k":`)
	for i := 1; i < depth; i++ {
		if i%2 == 0 {
			b.WriteString(`{"k":`)
		} else {
			b.WriteString(`["]}\"[{",`)
		}
	}
	b.WriteString(`1`)
	for i := depth - 1; i >= 1; i-- {
		if i%2 == 0 {
			b.WriteString(`}`)
		} else {
			b.WriteString(`]`)
		}
	}
	b.WriteString(`}`)
	return b.String()
}

// TestUIFieldsBounds: UI entry fields nested deeper than MaxUIFieldsDepth
// or larger than MaxUIFieldsBytes get their per-entry error naming the
// limit; fields at the limits are stored as sent and pages holding them
// stay readable.
func TestUIFieldsBounds(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{})
	big := `{"k":"` + strings.Repeat("v", MaxUIFieldsBytes-8) + `"}`
	if len(big) != MaxUIFieldsBytes {
		t.Fatalf("test fields of %d bytes", len(big))
	}
	bigger := `{"k":"` + strings.Repeat("v", MaxUIFieldsBytes-7) + `"}`
	entries := []struct {
		json, reason string
	}{
		{`{"message":"deep","session_id":"fb","fields":` + nested(9000) + `}`, "fields: objects and arrays nest more than 32 levels deep; at most 32"},
		{`{"message":"33","session_id":"fb","metadata":` + nested(33) + `}`, "fields: objects and arrays nest more than 32 levels deep"},
		{`{"message":"32","session_id":"fb","fields":` + nested(32) + `}`, ""},
		{`{"message":"big","session_id":"fb","fields":` + big + `}`, ""},
		{`{"message":"bigger","session_id":"fb","fields":` + bigger + `}`, "fields: 16385 bytes, at most 16384"},
	}
	var parts []string
	for _, e := range entries {
		parts = append(parts, e.json)
	}
	r := le.do(t, "POST", "/api/logs/ui", uiBody(parts...))
	r.want(t, http.StatusOK, "")
	if r.body["accepted"] != float64(2) || r.body["rejected"] != float64(3) {
		t.Fatalf("reply %.2000s", r.raw)
	}
	reasons := map[int]string{}
	for _, e := range r.body["errors"].([]any) {
		e := e.(map[string]any)
		reasons[int(e["index"].(float64))] = e["reason"].(string)
	}
	for i, e := range entries {
		if got := reasons[i]; (e.reason == "") != (got == "") || !strings.Contains(got, e.reason) {
			t.Errorf("entry %d: reason %q, want %q", i, got, e.reason)
		}
	}
	le.waitStored(t, 2)
	got := logsOf(t, le.do(t, "GET", "/api/logs?source=ui&order=asc", ""))
	if len(got) != 2 || string(got[0].Fields) != nested(32) || string(got[1].Fields) != big {
		t.Errorf("stored fields differ from those sent: %d entries", len(got))
	}
}

// TestBodyKeysMatchExactly: body keys match field names exactly, at every
// level ({"NAME": ...} created a VM, and the unknown-field check let it
// through), and a body that is not a JSON object is a 400 (null was a 422
// about vcpus).
func TestBodyKeysMatchExactly(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	id := e.create(t, "exact")
	for _, c := range []struct {
		method, path, body string
		parts              []string
	}{
		{"POST", "/api/vms", `{"NAME":"upper","vcpus":1,"memory_mib":64}`, []string{`unknown field "NAME"`, `did you mean "name"?`}},
		{"POST", "/api/vms", `{"name":"mixed","Vcpus":1,"memory_mib":64}`, []string{`unknown field "Vcpus"`, `did you mean "vcpus"?`}},
		{"POST", "/api/vms", `{"name":"disk","vcpus":1,"memory_mib":64,"disks":[{"size_gib":1},{"Size_GiB":1}]}`, []string{`unknown field "Size_GiB" in disks[1]`}},
		{"POST", "/api/vms", `{"name":"nic","vcpus":1,"memory_mib":64,"nics":[{"type":"user","MAC":"52:54:00:00:00:01"}]}`, []string{`unknown field "MAC" in nics[0]`}},
		{"POST", "/api/vms", `null`, []string{"expected an object, got null"}},
		{"POST", "/api/vms", ` 2 `, []string{"expected an object, got number"}},
		{"POST", "/api/vms", `"vm"`, []string{"expected an object, got string"}},
		{"POST", "/api/vms", `true`, []string{"expected an object, got true or false"}},
		{"POST", "/api/vms", `{"\u004eAME":"escaped","vcpus":1,"memory_mib":64}`, []string{`unknown field "NAME"`}},
		{"POST", "/api/vms", `{"name":"deep","vcpus":1,"memory_mib":64,"labels":{"k":"v"},"disks":[{"size_gib":1,"bus":"virtio","extra":{"a":[{"B":1}]}}]}`, []string{`unknown field "extra" in disks[0]`}},
		{"PATCH", "/api/vms/" + id, `{"Description":"x"}`, []string{`unknown field "Description"`, `did you mean "description"?`}},
		{"PATCH", "/api/vms/" + id, `null`, []string{"expected an object, got null"}},
		{"PATCH", "/api/vms/" + id, `[]`, []string{"expected an object, got array"}},
	} {
		e.do(t, c.method, c.path, c.body).want(t, http.StatusBadRequest, codeBadRequest, c.parts...)
	}
	list := e.do(t, "GET", "/api/vms", "")
	if vms := list.body["vms"].([]any); len(vms) != 1 {
		t.Errorf("bad bodies left %d vms, want only the first: %s", len(vms), list.raw)
	}
	if r := e.do(t, "GET", "/api/vms/"+id, ""); r.str("description") != "" {
		t.Errorf("a refused patch changed the vm: %s", r.raw)
	}
	// A key written with escapes is the key it spells.
	spelt := e.do(t, "PATCH", "/api/vms/"+id, `{"d\u0065scription":"spelt"}`)
	spelt.want(t, http.StatusOK, "")
	if spelt.str("description") != "spelt" {
		t.Errorf("escaped key: %s", spelt.raw)
	}
	// Label keys are data, not fields: any case is kept as sent.
	r := e.do(t, "POST", "/api/vms", `{"name":"labels","vcpus":1,"memory_mib":64,"labels":{"Env":"Prod"}}`)
	r.want(t, http.StatusCreated, "")
	if r.str("labels.Env") != "Prod" {
		t.Errorf("labels: %s", r.raw)
	}
}

// TestUIEntryKeysMatchExactly: UI batches and their entries are decoded as
// request bodies are: keys match exactly, and the aliases stay distinct.
func TestUIEntryKeysMatchExactly(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{})
	le.do(t, "POST", "/api/logs/ui", `{"Logs":[{"message":"m"}]}`).want(t, http.StatusBadRequest, codeBadRequest, `unknown field "Logs"`, `did you mean "logs"?`)
	le.do(t, "POST", "/api/logs/ui", `null`).want(t, http.StatusBadRequest, codeBadRequest, "expected an object, got null")
	r := le.do(t, "POST", "/api/logs/ui", uiBody(`{"Message":"m"}`, `{"message":"m","SessionId":"s"}`, `{"message":"m","fields":{"Any":"Case"},"sessionId":"ek"}`, `null`))
	r.want(t, http.StatusOK, "")
	if r.body["accepted"] != float64(1) || r.body["rejected"] != float64(3) {
		t.Fatalf("reply %s", r.raw)
	}
	errs := r.body["errors"].([]any)
	for i, want := range []string{`unknown field "Message"; keys are case-sensitive: did you mean "message"?`, `unknown field "SessionId"`, "entry: must be a JSON object, not null"} {
		if got := errs[i].(map[string]any)["reason"].(string); !strings.Contains(got, want) {
			t.Errorf("error %d: %q, want %q", i, got, want)
		}
	}
}

// head sends a HEAD request through the handler; a handler that does not
// return by itself (a stream ignoring HEAD) is ended after a minute and
// fails the test.
func (e *env) head(t *testing.T, path string) *httptest.ResponseRecorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, e.authorize(httptest.NewRequest(http.MethodHead, path, nil).WithContext(ctx)))
	if ctx.Err() != nil {
		t.Fatalf("HEAD %s did not return until its request was cancelled", path)
	}
	return rec
}

// TestHeadOnGetRoutes: every GET route answers HEAD with the GET's status
// and headers and no body (it answered 405); streams end after their
// headers.
func TestHeadOnGetRoutes(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{backend: true})
	id := le.create(t, "headed")
	for _, c := range []struct {
		path   string
		status int
		ctype  string
	}{
		{"/api/health", 200, "application/json"},
		{"/api/vms", 200, "application/json"},
		{"/api/vms/" + id, 200, "application/json"},
		{"/api/vms/headed", 200, "application/json"},
		{"/api/vms/" + id + "/events", 200, "application/json"},
		{"/api/vms/" + id + "/logs", 200, "application/json"},
		{"/api/nodes", 200, "application/json"},
		{"/api/nodes/api-test", 200, "application/json"},
		{"/api/logs?level=warn", 200, "application/json"},
		{"/api/logs/sources", 200, "application/json"},
		{"/api/logs/components", 200, "application/json"},
		{"/api/logs/export?format=csv", 200, "text/csv"},
		{"/api/logs/stream", 200, "text/event-stream"},
		{"/api/events", 200, "text/event-stream"},
		{"/metrics", 200, "text/plain"},
		{"/api/vms/nope", 404, "application/json"},
		{"/api/logs?level=loud", 400, "application/json"},
		{"/api/logs/stream?level=loud", 400, "application/json"},
	} {
		rec := le.head(t, c.path)
		if rec.Code != c.status || !strings.HasPrefix(rec.Header().Get("Content-Type"), c.ctype) || rec.Body.Len() != 0 {
			t.Errorf("HEAD %s: status %d, Content-Type %q, %d bytes of body; want %d, %s, none",
				c.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len(), c.status, c.ctype)
		}
	}
	if rec := le.head(t, "/api/logs/export?format=txt"); rec.Header().Get("Content-Disposition") == "" {
		t.Errorf("HEAD of an export lacks its Content-Disposition: %v", rec.Header())
	}
	// Routes that do not take GET still refuse HEAD.
	if rec := le.head(t, "/api/vms/"+id+"/start"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("HEAD on a POST route: %d", rec.Code)
	}
}

// TestListVMsByNodeName: node_id takes a node's name as well as its id (a
// name silently listed nothing); an unknown node is a 400.
func TestListVMsByNodeName(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	id := e.create(t, "placed")
	for _, ref := range []string{e.node, "api-test"} {
		r := e.do(t, "GET", "/api/vms?node_id="+ref, "")
		r.want(t, http.StatusOK, "")
		vms := r.body["vms"].([]any)
		if len(vms) != 1 || vms[0].(map[string]any)["id"] != id {
			t.Errorf("node_id=%s: %s", ref, r.raw)
		}
	}
	e.do(t, "GET", "/api/vms?node_id=nowhere", "").want(t, http.StatusBadRequest, codeBadRequest, `node_id: node "nowhere" not found`)
}

// postUIFrom sends a UI log batch from the peer address addr.
func (e *env) postUIFrom(t *testing.T, addr, body string, header ...string) reply {
	t.Helper()
	req := e.authorize(httptest.NewRequest(http.MethodPost, "/api/logs/ui", strings.NewReader(body)))
	req.RemoteAddr = addr
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	r := reply{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &r.body); err != nil {
		t.Fatalf("reply is not a JSON object: %v: %s", err, r.raw)
	}
	return r
}

// sessionEntries are n UI entries of one session.
func sessionEntries(session string, n int) []string {
	es := make([]string, n)
	for i := range es {
		es[i] = seedEntry(i, session)
	}
	return es
}

// TestUIRateKeyedOnCredential: a batch is charged to the credential that
// sent it, whatever sessions its entries name (a client inventing a
// session per request gets no fresh burst), and the credentials of one
// client address are bounded together. The address is the connection's,
// whatever a forwarded-for header says.
func TestUIRateKeyedOnCredential(t *testing.T) {
	// Refills are slow enough that none matters while the test runs.
	le := newLogEnv(t, "sqlite", logEnvOptions{rate: RateLimit{PerSecond: 0.1, Burst: 10, AddressPerSecond: 0.5, AddressBurst: 40}})
	const client = "192.0.2.10:40000"
	var toks []cred
	var ids []string
	for i := range 6 {
		c, tok := le.newToken(t, fmt.Sprintf("ui-%d", i), identity.RoleOperator, 0)
		toks, ids = append(toks, c), append(ids, tok.ID)
	}
	as := func(i int) []string { return []string{"Authorization", bearer(toks[i].token)} }
	le.postUIFrom(t, client, uiBody(append(sessionEntries("first", 2), sessionEntries("second", 8)...)...), as(0)...).want(t, http.StatusOK, "")
	r := le.postUIFrom(t, client, uiBody(sessionEntries("fresh", 1)...), as(0)...)
	r.want(t, http.StatusTooManyRequests, codeRateLimited, "token "+ids[0]+" is over its rate of 0.1 log entries per second (burst 10)")
	if r.header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
	// 10 of the address's 40 are spent; other credentials get 30 more.
	for i := 1; i <= 3; i++ {
		le.postUIFrom(t, client, uiBody(sessionEntries(fmt.Sprintf("fresh-%d", i), 10)...), as(i)...).want(t, http.StatusOK, "")
	}
	le.postUIFrom(t, client, uiBody(sessionEntries("fresh-4", 1)...), append(as(4), "X-Forwarded-For", "203.0.113.9", "X-Real-Ip", "203.0.113.9")...).
		want(t, http.StatusTooManyRequests, codeRateLimited, "address 192.0.2.10 is over its rate of 0.5 log entries per second across all its credentials (burst 40)")
	// Another address is bounded on its own.
	le.postUIFrom(t, "198.51.100.7:5555", uiBody(sessionEntries("elsewhere", 10)...), as(5)...).want(t, http.StatusOK, "")
	le.waitStored(t, 50)
}

// TestTxtExportEscapesControls: the control characters of a UI message
// (ANSI escape sequences, a bell, a lone carriage return, C1 controls,
// bidirectional overrides) reach the TXT export escaped; line breaks still
// continue the message on indented lines.
func TestTxtExportEscapesControls(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{})
	msg := `\u001b[31mred\u001b[0m bell\u0007 over\rwritten one\r\ntwo\nthree\ttab \u009b[2J c1 \u202egnp.exe \u2028sep del\u007f`
	le.do(t, "POST", "/api/logs/ui", uiBody(`{"message":"`+msg+`","session_id":"ansi"}`)).want(t, http.StatusOK, "")
	le.waitStored(t, 1)
	body := le.raw(t, "GET", "/api/logs/export?format=txt&source=ui")
	want := `\x1b[31mred\x1b[0m bell\a over\rwritten one` + "\n\ttwo\n\tthree\ttab " + `\u009b[2J c1 \u202egnp.exe \u2028sep del\x7f` + "\n"
	if !strings.HasSuffix(body, "[INFO] [ui] "+want) {
		t.Errorf("TXT export:\n%q\nwant it to end with\n%q", body, want)
	}
	for _, r := range body {
		if (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r <= 0x9f) || r == 0x202e || r == 0x2028 {
			t.Errorf("TXT export holds the control character %U", r)
		}
	}
	// The entry itself keeps the message as it was sent.
	if got := logsOf(t, le.do(t, "GET", "/api/logs?source=ui", "")); len(got) != 1 || !strings.Contains(got[0].Message, "\x1b[31m") {
		t.Errorf("stored message: %+v", got)
	}
}
