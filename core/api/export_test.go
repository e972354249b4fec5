package api

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// trickyMessages are messages an export must carry intact.
var trickyMessages = []string{
	`plain`,
	`comma, and "quotes"`,
	"two\nlines",
	"crlf\r\nline",
	`=SUM(A1) ünïcödé 日本`,
	` leading and trailing space `,
}

func seedExport(t *testing.T, le *logEnv, n int) []logsink.Entry {
	t.Helper()
	base := time.Date(2026, 1, 18, 8, 0, 0, 0, time.UTC)
	es := make([]logsink.Entry, n)
	for i := range es {
		es[i] = logsink.Entry{
			Timestamp: base.Add(time.Duration(i) * time.Millisecond), Level: logsink.Levels[i%4], Source: logsink.SourceUI,
			Component: logsink.ComponentVM, Message: trickyMessages[i%len(trickyMessages)], VMID: "vm-x",
			Fields: json.RawMessage(`{"i":` + fmt.Sprint(i) + `}`), Action: "a,b", UserAction: true,
		}
	}
	for start := 0; start < n; start += 1000 {
		if err := le.pipe.Append(context.Background(), es[start:min(start+1000, n)]); err != nil {
			t.Fatal(err)
		}
	}
	le.waitStored(t, n)
	return es
}

// countingRepo counts the store pages an export reads.
type countingRepo struct {
	store.LogRepo
	queries atomic.Int32
}

func (r *countingRepo) Query(ctx context.Context, q store.LogQuery) (store.LogPage, error) {
	r.queries.Add(1)
	return r.LogRepo.Query(ctx, q)
}

// firstWriteRecorder notes how many store pages had been read when the
// reply's first bytes were written.
type firstWriteRecorder struct {
	*httptest.ResponseRecorder
	repo      *countingRepo
	atFirst   int32
	wroteOnce bool
}

func (w *firstWriteRecorder) Write(p []byte) (int, error) {
	if !w.wroteOnce {
		w.wroteOnce, w.atFirst = true, w.repo.queries.Load()
	}
	return w.ResponseRecorder.Write(p)
}

func TestExportFormats(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{})
	es := seedExport(t, le, 2100)
	repo := &countingRepo{LogRepo: le.store.Logs()}
	le.srv.logStore = repo

	export := func(query string) (*firstWriteRecorder, string) {
		repo.queries.Store(0)
		req := le.authorize(httptest.NewRequest("GET", "/api/logs/export?"+query, nil))
		rec := &firstWriteRecorder{ResponseRecorder: httptest.NewRecorder(), repo: repo}
		le.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("export %s: %d %s", query, rec.Code, rec.Body)
		}
		return rec, rec.Body.String()
	}

	// JSON: every entry, oldest first, streamed a page at a time.
	rec, body := export("format=json&vm_id=vm-x")
	if rec.Header().Get("Content-Type") != "application/json" || !strings.Contains(rec.Header().Get("Content-Disposition"), `.json"`) {
		t.Errorf("headers %v", rec.Header())
	}
	var got []logsink.Entry
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("the JSON export is not a JSON array: %v", err)
	}
	if len(got) != 2100 || got[0].Message != es[0].Message || got[2099].ID != es[2099].ID {
		t.Fatalf("JSON export: %d entries", len(got))
	}
	if rec.atFirst != 1 || repo.queries.Load() != 3 {
		t.Errorf("export wrote its first bytes after %d store pages and read %d in all; want 1 and 3 (streamed a page at a time)", rec.atFirst, repo.queries.Load())
	}

	// CSV: quoted so that a CSV reader gets every field back.
	rec, body = export("format=csv&level=warn")
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
		t.Errorf("csv content type %q", rec.Header().Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV export does not parse: %v", err)
	}
	if strings.Join(rows[0], ",") != strings.Join(csvHeader, ",") {
		t.Errorf("header %v", rows[0])
	}
	var warn []logsink.Entry
	for _, e := range es {
		if e.Level.Rank() >= logsink.LevelWarn.Rank() {
			warn = append(warn, e)
		}
	}
	if len(rows)-1 != len(warn) {
		t.Fatalf("%d CSV rows, want %d", len(rows)-1, len(warn))
	}
	if !strings.Contains(body, "\"crlf\r\nline\"") {
		t.Error("the CSV export does not hold the CR LF of a message verbatim, quoted")
	}
	for i, e := range warn {
		row := rows[i+1]
		// encoding/csv reads a quoted CR LF back as LF.
		if row[0] != e.ID || row[5] != strings.ReplaceAll(e.Message, "\r\n", "\n") || row[6] != string(e.Fields) || row[12] != "a,b" || row[14] != "true" || row[2] != string(e.Level) {
			t.Fatalf("CSV row %d: %q, want entry %+v", i, row, e)
		}
	}

	// TXT: one line per entry, continuation lines indented.
	_, body = export("format=txt&limit=7")
	sc := bufio.NewScanner(strings.NewReader(body))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	want := []string{
		"[2026-01-18T08:00:00Z] [DEBUG] [ui] plain",
		`[2026-01-18T08:00:00.001Z] [INFO] [ui] comma, and "quotes"`,
		"[2026-01-18T08:00:00.002Z] [WARN] [ui] two",
		"\tlines",
		"[2026-01-18T08:00:00.003Z] [ERROR] [ui] crlf",
		"\tline",
		"[2026-01-18T08:00:00.004Z] [DEBUG] [ui] =SUM(A1) ünïcödé 日本",
		"[2026-01-18T08:00:00.005Z] [INFO] [ui]  leading and trailing space ",
		"[2026-01-18T08:00:00.006Z] [WARN] [ui] plain",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("TXT export:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// Newest first on request; an empty match is an empty array.
	_, body = export("format=json&order=desc&limit=2")
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != 2 || got[0].ID != es[2099].ID {
		t.Errorf("desc export: %v %d", err, len(got))
	}
	_, body = export("format=json&vm_id=none")
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != 0 {
		t.Errorf("empty export %q: %v", body, err)
	}
	le.do(t, "GET", "/api/logs/export?format=xml", "").want(t, http.StatusBadRequest, codeBadRequest, `format: "xml" is not one of json, csv, txt`)
	le.do(t, "GET", "/api/logs/export?level=loud", "").want(t, http.StatusBadRequest, codeBadRequest, "level")
}

// failingPagesRepo fails every Query after the first pages it lets through.
type failingPagesRepo struct {
	store.LogRepo
	pages atomic.Int32
}

func (r *failingPagesRepo) Query(ctx context.Context, q store.LogQuery) (store.LogPage, error) {
	if r.pages.Add(-1) < 0 {
		return store.LogPage{}, fmt.Errorf("reading log entries: %w", context.DeadlineExceeded)
	}
	return r.LogRepo.Query(ctx, q)
}

// TestExportCutShort: a store failure after an export has started aborts
// the reply, so that the client sees it cut short instead of a whole
// export of fewer entries; a failure before it starts is an error reply.
func TestExportCutShort(t *testing.T) {
	le := newLogEnv(t, "sqlite", logEnvOptions{})
	seedExport(t, le, 2100)
	repo := &failingPagesRepo{LogRepo: le.store.Logs()}
	le.srv.logStore = repo
	srv := httptest.NewServer(le.srv)
	defer srv.Close()
	for _, format := range []string{"csv", "txt", "json"} {
		repo.pages.Store(1)
		res, err := le.client().Get(srv.URL + "/api/logs/export?format=" + format)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || err == nil {
			t.Errorf("%s: status %d, read error %v after %d bytes; want 200 and the body cut short", format, res.StatusCode, err, len(body))
		}
	}
	repo.pages.Store(0)
	rec := httptest.NewRecorder()
	le.srv.ServeHTTP(rec, le.authorize(httptest.NewRequest("GET", "/api/logs/export?format=csv", nil)))
	if rec.Code < 500 {
		t.Errorf("a store failure before the export started: %d %s, want a 5xx", rec.Code, rec.Body)
	}
}
