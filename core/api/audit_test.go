package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// TestAuditEntries: every mutating call leaves an audit entry naming the
// route, the VM, the result, the duration and the request id, durable
// before the reply is sent; reads leave none.
func TestAuditEntries(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{backend: true})
	before := le.pipe.Stats().End
	r := le.do(t, "POST", "/api/vms", `{"name":"audited","vcpus":1,"memory_mib":64}`, HeaderRequestID, "req-create-1")
	r.want(t, http.StatusCreated, "")
	id := r.str("id")
	if got := le.pipe.Stats().End; got != before+1 {
		t.Fatalf("spool end %d right after the reply, want %d: the audit entry must be durable before the reply", got, before+1)
	}
	le.do(t, "GET", "/api/vms/"+id, "").want(t, http.StatusOK, "")
	le.do(t, "POST", "/api/vms/audited/start", "").want(t, http.StatusOK, "")
	le.do(t, "POST", "/api/vms/audited/start", "", HeaderRequestID, "req-conflict").want(t, http.StatusConflict, codeConflict)
	le.do(t, "POST", "/api/vms/nope/stop", "").want(t, http.StatusNotFound, codeNotFound)
	le.do(t, "PATCH", "/api/vms/audited", `{"vcpus":"x"}`).want(t, http.StatusUnprocessableEntity, "")
	le.waitStored(t, 5)

	page, err := le.store.Logs().Query(context.Background(), store.LogQuery{LogFilter: store.LogFilter{Sources: []logsink.Source{logsink.SourceAudit}}, Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 5 {
		t.Fatalf("%d audit entries, want 5 (no entry for the GET)", len(page.Entries))
	}
	want := []struct {
		action, vmID, corr string
		level              logsink.Level
		status             float64
	}{
		{"vm.create", id, "req-create-1", logsink.LevelInfo, 201},
		{"vm.start", id, "", logsink.LevelInfo, 200},
		{"vm.start", id, "req-conflict", logsink.LevelWarn, 409},
		{"vm.stop", "", "", logsink.LevelWarn, 404},
		{"vm.update", "", "", logsink.LevelWarn, 422},
	}
	for i, w := range want {
		e := page.Entries[i]
		var f map[string]any
		if err := json.Unmarshal(e.Fields, &f); err != nil {
			t.Fatal(err)
		}
		if e.Action != w.action || e.VMID != w.vmID || e.Level != w.level || f["status"] != w.status || e.Component != logsink.ComponentVM ||
			e.CorrelationID == "" || (w.corr != "" && e.CorrelationID != w.corr) || f["route"] == "" || f["duration_ms"] == nil {
			t.Errorf("audit entry %d: %+v fields %s; want %+v", i, e, e.Fields, w)
		}
	}
	if page.Entries[3].Target != "nope" {
		t.Errorf("target of the 404: %q", page.Entries[3].Target)
	}
}

// TestAuditedPanic: a handler that panics on an audited route still gets
// its 500 reply out, and the audit entry says 500.
func TestAuditedPanic(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{})
	le.srv.echo.POST("/api/test/panic", func(echo.Context) error { panic("boom") }, le.srv.audited)
	r := le.do(t, "POST", "/api/test/panic", "")
	r.want(t, http.StatusInternalServerError, codeInternal, "internal error")
	le.waitStored(t, 1)
	page, err := le.store.Logs().Query(context.Background(), store.LogQuery{})
	if err != nil || len(page.Entries) != 1 || page.Entries[0].Level != logsink.LevelError || page.Entries[0].Action != "test.panic" {
		t.Fatalf("audit entry of the panic: %+v, %v", page.Entries, err)
	}
}

// TestAuditCorrelationID: a client's X-Correlation-Id becomes the
// correlation_id of the call's audit entry, the request id staying in its
// fields; one that is not short and plain is ignored, as is its absence
// (the request id is the correlation id then).
func TestAuditCorrelationID(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{})
	r := le.do(t, "POST", "/api/vms/nope/start", "", HeaderRequestID, "req-1", HeaderCorrelationID, "ui-click-42")
	r.want(t, http.StatusNotFound, codeNotFound)
	if got := r.header.Get(HeaderCorrelationID); got != "ui-click-42" {
		t.Errorf("reply %s %q, want it echoed", HeaderCorrelationID, got)
	}
	le.do(t, "POST", "/api/vms/nope/stop", "", HeaderRequestID, "req-2", HeaderCorrelationID, "has space").want(t, http.StatusNotFound, codeNotFound)
	le.do(t, "POST", "/api/vms/nope/pause", "", HeaderRequestID, "req-3").want(t, http.StatusNotFound, codeNotFound)
	le.waitStored(t, 3)
	page, err := le.store.Logs().Query(context.Background(), store.LogQuery{LogFilter: store.LogFilter{Sources: []logsink.Source{logsink.SourceAudit}}, Ascending: true})
	if err != nil || len(page.Entries) != 3 {
		t.Fatalf("audit entries: %d, %v", len(page.Entries), err)
	}
	for i, want := range []struct{ corr, req string }{{"ui-click-42", "req-1"}, {"req-2", "req-2"}, {"req-3", "req-3"}} {
		e := page.Entries[i]
		var f map[string]any
		if err := json.Unmarshal(e.Fields, &f); err != nil {
			t.Fatal(err)
		}
		if e.CorrelationID != want.corr || f["request_id"] != want.req {
			t.Errorf("entry %d: correlation_id %q, fields.request_id %v; want %q, %q", i, e.CorrelationID, f["request_id"], want.corr, want.req)
		}
	}
}
