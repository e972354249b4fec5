package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// The fuzz targets send what they are given to the API as a client would,
// through the server's handler, and check what holds for any input: no
// panic (it would be a 500), no 5xx, a 400 for what is not a JSON object,
// only the statuses the route documents, and what is accepted reads back
// as it was sent. go test runs their seeds; go test -fuzz=FuzzX explores.

// quietTB is a fuzz target's testing.F for building its server: the
// server's logs (slow queries, plugin output) go nowhere, since nothing may
// log through f while the fuzz function runs, and the replies the checks
// fail with say what went wrong.
type quietTB struct{ testing.TB }

func (quietTB) Log(...any)          {}
func (quietTB) Logf(string, ...any) {}
func quiet(f *testing.F) quietTB    { return quietTB{f} }

// fuzzObject decodes a body the way a careful client reads it: keys as
// they are, numbers as written. ok is false when it is not one JSON object.
func fuzzObject(body string) (map[string]any, bool) {
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	m, ok := v.(map[string]any)
	return m, ok
}

// checkStatus fails t unless r is JSON with one of the allowed statuses,
// and a 400 when the body is not a JSON object.
func checkStatus(t *testing.T, what, body string, r reply, allowed ...int) {
	t.Helper()
	if r.status >= 500 || !slices.Contains(allowed, r.status) {
		t.Fatalf("%s %.200q: status %d, want one of %v: %.500s", what, body, r.status, allowed, r.raw)
	}
	if _, ok := fuzzObject(body); !ok && len(body) <= MaxBodyBytes && r.status != http.StatusBadRequest {
		t.Fatalf("%s %.200q is not a JSON object but answered %d: %.500s", what, body, r.status, r.raw)
	}
	if r.status >= 400 && (r.str("code") == "" || r.str("message") == "") {
		t.Fatalf("%s %.200q: error without code and message: %.500s", what, body, r.raw)
	}
}

// jsonValue decodes raw with its numbers as written.
func jsonValue(raw []byte) (any, error) {
	var out any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	err := dec.Decode(&out)
	return out, err
}

// sameJSON tells whether the JSON values a and b are equal.
func sameJSON(a, b any) bool {
	norm := func(v any) any {
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprintf("unencodable %v", err)
		}
		out, err := jsonValue(raw)
		if err != nil {
			return fmt.Sprintf("undecodable %v", err)
		}
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// unset tells whether a value sent leaves the server its default: null,
// "" or [] for the fields that have one.
func unset(key string, v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == "" && key != "name" && key != "description"
	case []any:
		return len(v) == 0 && key == "boot"
	}
	return false
}

// checkSent fails t unless every field of sent that the VM reply shows
// has the value sent.
func checkSent(t *testing.T, sent map[string]any, got reply) {
	t.Helper()
	spec, _ := got.body["spec"].(map[string]any)
	shown := map[string]any{
		"name": got.body["name"], "description": got.body["description"], "labels": got.body["labels"],
		"restart_policy": got.body["restart_policy"], "desired_state": got.body["desired_state"],
		"vcpus": spec["vcpus"], "memory_mib": spec["memory_mib"], "boot": spec["boot"],
	}
	for k, want := range sent {
		have, ok := shown[k]
		if !ok || unset(k, want) {
			continue
		}
		if !sameJSON(have, want) {
			t.Fatalf("%s: sent %v, the vm shows %v: %.500s", k, want, have, got.raw)
		}
	}
	for _, k := range []string{"disks", "nics"} {
		list, ok := sent[k].([]any)
		if !ok {
			continue
		}
		have, _ := spec[k].([]any)
		if len(have) != len(list) {
			t.Fatalf("%s: sent %d, the vm has %d: %.500s", k, len(list), len(have), got.raw)
		}
		for i, item := range list {
			for field, v := range item.(map[string]any) {
				h := have[i].(map[string]any)[field]
				if unset(field, v) {
					continue
				}
				// Kinds and addresses are taken in any case.
				if hs, ok := h.(string); ok {
					if vs, ok := v.(string); ok && strings.EqualFold(hs, vs) {
						continue
					}
				}
				if !sameJSON(h, v) {
					t.Fatalf("%s[%d].%s: sent %v, the vm has %v", k, i, field, v, h)
				}
			}
		}
	}
}

// checkDocumentedKeys fails t unless every key of the accepted object v,
// and of the objects of its lists, is exactly the json name of a field of
// type typ (map fields take any key).
func checkDocumentedKeys(t *testing.T, v map[string]any, typ reflect.Type) {
	t.Helper()
	fields := map[string]reflect.Type{}
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		fields[name] = typ.Field(i).Type
	}
	for k, val := range v {
		ft, ok := fields[k]
		if !ok {
			t.Fatalf("an accepted body holds the key %q, which is no field of %s", k, typ)
		}
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if list, ok := val.([]any); ok && ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			for _, item := range list {
				if m, ok := item.(map[string]any); ok {
					checkDocumentedKeys(t, m, ft.Elem())
				}
			}
		}
	}
}

// sameVM fails t unless the VM read back is the one the reply showed.
func sameVM(t *testing.T, acked, read reply) {
	t.Helper()
	for _, k := range []string{"id", "name", "description", "labels", "spec", "restart_policy", "node_id", "origin"} {
		if !sameJSON(acked.body[k], read.body[k]) {
			t.Fatalf("%s: acknowledged %v, read back %v", k, acked.body[k], read.body[k])
		}
	}
}

func FuzzCreateBody(f *testing.F) {
	for _, seed := range []string{
		`{"name":"fz","vcpus":1,"memory_mib":64}`,
		`{"name":"fz-full","description":"d","labels":{"env":"dev","Team":"a"},"vcpus":2,"memory_mib":128,"disks":[{"name":"root","size_gib":1,"bus":"virtio"}],"nics":[{"type":"user","mac":"52:54:00:12:34:56"}],"boot":["hd","cdrom"],"restart_policy":"always","node_id":"api-test"}`,
		`{"NAME":"fz","vcpus":1,"memory_mib":64}`,
		`{"name":"fz","vcpus":1,"memory_mib":64,"disks":[{"Size_GiB":1}]}`,
		`null`, `[]`, `"fz"`, `12`, ``, `{`, `{"name":"fz"} {}`, `{"name":"fz","vcpus":"1"}`,
		`{"name":"fz","vcpus":1e400,"memory_mib":64}`, `{"name":"fz","vcpus":-1,"memory_mib":18446744073709551616}`,
		`{"name":"` + strings.Repeat("n", 300) + `","vcpus":1,"memory_mib":64}`,
		`{"name":"fz","vcpus":1,"memory_mib":64,"labels":{"":"x"}}`, `{"name":"fz\u0000","vcpus":1,"memory_mib":64}`,
		`{"name":"fz","vcpus":1,"memory_mib":64,"node_id":"nowhere"}`,
		`{"name":"fz","name":"other","vcpus":1,"memory_mib":64}`,
	} {
		f.Add(seed)
	}
	e := newEnv(quiet(f), "sqlite", true)
	f.Fuzz(func(t *testing.T, body string) {
		r := e.do(t, "POST", "/api/vms", body)
		checkStatus(t, "POST /api/vms", body, r, 201, 400, 409, 413, 422)
		if r.status != http.StatusCreated {
			return
		}
		sent, _ := fuzzObject(body)
		checkDocumentedKeys(t, sent, reflect.TypeFor[createRequest]())
		checkSent(t, sent, r)
		id := r.str("id")
		read := e.do(t, "GET", "/api/vms/"+id, "")
		read.want(t, http.StatusOK, "")
		sameVM(t, r, read)
		// The name is freed for the inputs that follow.
		e.do(t, "DELETE", "/api/vms/"+id+"?force=true", "").want(t, http.StatusOK, "")
	})
}

func FuzzPatchBody(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"description":"d"}`, `{"name":"fz-renamed"}`,
		`{"labels":{"env":"prod"},"restart_policy":"on-crash","desired_state":"stopped"}`,
		`{"vcpus":2,"memory_mib":256,"boot":["cdrom","hd"],"disks":[{"size_gib":2}],"nics":[{"type":"user"}]}`,
		`{"labels":null}`, `{"Description":"d"}`, `{"disks":[{"SIZE_GIB":1}]}`,
		`null`, `[]`, `true`, ``, `{"vcpus":0}`, `{"vcpus":"2"}`, `{"desired_state":"paused"}`, `{"name":""}`,
		`{"description":"` + strings.Repeat("d", 1100) + `"}`,
	} {
		f.Add(seed)
	}
	e := newEnv(quiet(f), "sqlite", true)
	id := e.create(f, "fz-patch")
	f.Fuzz(func(t *testing.T, body string) {
		r := e.do(t, "PATCH", "/api/vms/"+id, body)
		checkStatus(t, "PATCH /api/vms/{id}", body, r, 200, 400, 409, 413, 422)
		if r.status != http.StatusOK {
			return
		}
		sent, _ := fuzzObject(body)
		checkDocumentedKeys(t, sent, reflect.TypeFor[patchRequest]())
		checkSent(t, sent, r)
		read := e.do(t, "GET", "/api/vms/"+id, "")
		read.want(t, http.StatusOK, "")
		sameVM(t, r, read)
	})
}

// checkUIEntry fails t unless got is the entry raw said, read the way
// POST /api/logs/ui documents it, sent by the user userID with the
// credential credential (which the body's ids do not change).
func checkUIEntry(t *testing.T, raw json.RawMessage, got logsink.Entry, now time.Time, userID, credential string) {
	t.Helper()
	v, err := jsonValue(raw)
	in, ok := v.(map[string]any)
	if err != nil || !ok {
		t.Fatalf("an accepted entry is not an object: %v: %s", err, raw)
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			if s, _ := in[k].(string); s != "" {
				return s
			}
		}
		return ""
	}
	level := strings.ToLower(str("level"))
	switch level {
	case "":
		level = "info"
	case "trace":
		level = "debug"
	}
	if got.Message != str("message") || string(got.Level) != level || got.Source != logsink.SourceUI ||
		got.SessionID != credential || got.UserID != userID || got.VMID != str("vm_id", "vmId") ||
		got.CorrelationID != str("correlation_id", "correlationId") || got.Action != str("action") || got.Target != str("target") {
		t.Fatalf("entry sent %s taken as %+v", raw, got)
	}
	if ts := str("timestamp"); ts != "" {
		want, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || !got.Timestamp.Equal(want.Truncate(time.Microsecond)) {
			t.Fatalf("timestamp %q taken as %s", ts, got.Timestamp.Format(time.RFC3339Nano))
		}
	}
	if d := got.Timestamp.Sub(now); d > UITimestampYears*366*24*time.Hour || d < -UITimestampYears*366*24*time.Hour {
		t.Fatalf("timestamp %s taken, %s from now", got.Timestamp, d)
	}
	fields := in["fields"]
	if fields == nil {
		fields = in["metadata"]
	}
	if fields != nil {
		if gotFields, err := jsonValue(got.Fields); err != nil || !reflect.DeepEqual(gotFields, fields) {
			t.Fatalf("fields sent %v, taken as %s", fields, got.Fields)
		}
		if jsonDepth(got.Fields, MaxUIFieldsDepth) > MaxUIFieldsDepth || len(got.Fields) > MaxUIFieldsBytes {
			t.Fatalf("fields over the bounds taken: %d bytes", len(got.Fields))
		}
	}
	// What is taken reads back as JSON, as every page and export shows it.
	b, err := json.Marshal(&got)
	if err != nil {
		t.Fatalf("the entry does not encode: %v", err)
	}
	var back logsink.Entry
	if err := json.Unmarshal(b, &back); err != nil || back.Message != got.Message || !back.Timestamp.Equal(got.Timestamp) {
		t.Fatalf("the entry does not read back: %v: %s", err, b)
	}
}

func FuzzUILogBatch(f *testing.F) {
	for _, seed := range []string{
		uiBody(seedEntry(1, "fz-s"), seedEntry(2, "fz-t")),
		uiBody(`{"message":"m","level":"trace","fields":{"a":[1,{"b":null}]},"timestamp":"2026-01-18T10:00:00.123456789Z"}`),
		uiBody(`{"message":"m","timestamp":"9999-12-31T23:59:59Z"}`, `{"message":"m","timestamp":"1677-01-01T00:00:00Z"}`),
		uiBody(`{"message":"m","fields":`+nested(40)+`}`, `{"message":"m","metadata":[1]}`, `{"Message":"m"}`, `null`, `7`),
		uiBody(`{"message":"\u001b[31mred","session_id":"a","sessionId":"b"}`, `{"message":"m","user_action":true,"userAction":false}`),
		`{"logs":[]}`, `{"logs":null}`, `{"Logs":[]}`, `{"logs":{}}`, `null`, `[]`, ``, `{"logs":[{"message":"m"}],"x":1}`,
	} {
		f.Add(seed)
	}
	le := newLogEnv(quiet(f), "sqlite", logEnvOptions{rate: RateLimit{PerSecond: 1e9, Burst: 1 << 30, AddressPerSecond: 1e9, AddressBurst: 1 << 30}})
	f.Fuzz(func(t *testing.T, body string) {
		sub := le.pipe.Subscribe(store.LogFilter{}, MaxUIEntries)
		defer sub.Close()
		now := time.Now()
		r := le.do(t, "POST", "/api/logs/ui", body)
		checkStatus(t, "POST /api/logs/ui", body, r, 200, 400, 413, 422)
		if r.status != http.StatusOK && r.status != http.StatusUnprocessableEntity {
			return
		}
		if _, ok := r.body["accepted"]; !ok {
			return // the batch itself was refused: "logs" missing or not a list
		}
		var in struct {
			Logs []json.RawMessage `json:"logs"`
		}
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			t.Fatalf("an answered batch does not read as one: %v", err)
		}
		accepted, _ := r.body["accepted"].(float64)
		rejected, _ := r.body["rejected"].(float64)
		errs, _ := r.body["errors"].([]any)
		if int(accepted)+int(rejected) != len(in.Logs) || int(rejected) != len(errs) || (r.status == 422) != (accepted == 0 && rejected > 0) {
			t.Fatalf("%d entries answered %d accepted, %d rejected, %d errors: %.500s", len(in.Logs), int(accepted), int(rejected), len(errs), r.raw)
		}
		refused := map[int]bool{}
		for _, e := range errs {
			e := e.(map[string]any)
			i := int(e["index"].(float64))
			if i < 0 || i >= len(in.Logs) || refused[i] || e["reason"] == "" {
				t.Fatalf("error %v of %d entries", e, len(in.Logs))
			}
			refused[i] = true
		}
		if accepted == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, dropped, err := sub.Next(ctx)
		if err != nil || dropped != 0 || len(got) != int(accepted) {
			t.Fatalf("%d entries acknowledged, %d published (%d dropped): %v", int(accepted), len(got), dropped, err)
		}
		next := 0
		for i, raw := range in.Logs {
			if !refused[i] {
				checkUIEntry(t, raw, got[next], now, le.admin.ID, le.credential())
				next++
			}
		}
	})
}

func FuzzLogQuery(f *testing.F) {
	for _, seed := range []string{
		"", "level=warn&source=ui,audit&component=vm", "q=entry&limit=3&order=asc", "search=%25_%5C&since=1h",
		"since=2026-01-18T09:00:00Z&until=2026-01-18T10:00:00Z", "until=2026-01-18T09:00:00Z&since=2026-01-18T10:00:00Z",
		"vm_id=vm-1&node_id=n&correlation_id=c&session_id=s&user_action=true", "cursor=!!", "limit=0", "limit=1001",
		"order=sideways", "level=LOUD", "user_action=maybe", "since=-5m", "q=" + strings.Repeat("x", 1001), "q=" + strings.Repeat("y", 50_001),
		"format=csv", "format=xml", "limit=99999999999999999999", "%zz=1&level=%", "source=&source=,,",
	} {
		f.Add(seed)
	}
	le := newLogEnv(quiet(f), "sqlite", logEnvOptions{})
	base := time.Date(2026, 1, 18, 9, 0, 0, 0, time.UTC)
	var es []logsink.Entry
	for i := range 30 {
		es = append(es, logsink.Entry{Timestamp: base.Add(time.Duration(i) * time.Minute), Level: logsink.Levels[i%4], Source: logsink.Sources[i%4],
			Component: logsink.ComponentVM, Message: fmt.Sprintf("entry %02d 100%% _done_ \\ ü", i), VMID: fmt.Sprintf("vm-%d", i%3), UserAction: i%2 == 0})
	}
	if err := le.pipe.Append(context.Background(), es); err != nil {
		f.Fatal(err)
	}
	le.waitStored(f, len(es))
	get := func(t *testing.T, path, query string) *httptest.ResponseRecorder {
		req := le.authorize(httptest.NewRequest(http.MethodGet, path, nil))
		req.URL.RawQuery = query
		if path == "/api/logs/stream" {
			req.Method = http.MethodHead
		}
		rec := httptest.NewRecorder()
		le.srv.ServeHTTP(rec, req)
		if rec.Code >= 500 || (rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest) {
			t.Fatalf("%s?%.200s: status %d: %.500s", path, query, rec.Code, rec.Body)
		}
		return rec
	}
	f.Fuzz(func(t *testing.T, query string) {
		rec := get(t, "/api/logs", query)
		if rec.Code != http.StatusOK {
			get(t, "/api/logs/export", query)
			return
		}
		var page logsReplyPage
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || page.Logs == nil || page.HasMore != (page.NextCursor != "") {
			t.Fatalf("?%.200s: page %v: %.500s", query, err, rec.Body)
		}
		// The filters were valid, so the stream takes them; the cursor
		// returned continues the listing.
		if s := get(t, "/api/logs/stream", query); s.Code != http.StatusOK {
			t.Fatalf("?%.200s: /api/logs took the filters, the stream answered %d: %s", query, s.Code, s.Body)
		}
		if page.HasMore {
			q, _ := url.ParseQuery(query) // what is not understood is left out, as the server does
			q.Set("cursor", page.NextCursor)
			if next := get(t, "/api/logs", q.Encode()); next.Code != http.StatusOK {
				t.Fatalf("?%.200s: the next page answered %d: %s", query, next.Code, next.Body)
			}
		}
		get(t, "/api/logs/export", query)
	})
}
