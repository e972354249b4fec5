package api

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// exportPage is how many entries an export reads from the store at a time:
// an export of any size holds at most this many in memory.
const exportPage = 1000

// exportFormats maps format=… to the content type of the reply.
var exportFormats = map[string]string{
	"json": "application/json",
	"csv":  "text/csv; charset=utf-8",
	"txt":  "text/plain; charset=utf-8",
}

// csvHeader are the columns of a CSV export, the fields of a log entry
// (docs/logs.md).
var csvHeader = []string{"id", "timestamp", "level", "source", "component", "message", "fields", "vm_id", "node_id",
	"user_id", "session_id", "correlation_id", "action", "target", "user_action"}

// exportLogs: GET /api/logs/export?format=json|csv|txt with the filters of
// GET /api/logs, oldest first unless order=desc, every match unless limit
// is given. The reply is streamed a store page at a time. A store error
// after the reply has started aborts it (http.ErrAbortHandler): the client
// sees the body end unexpectedly.
func (s *Server) exportLogs(c echo.Context) error {
	if s.logStore == nil {
		return errNoLogStore
	}
	format := strings.ToLower(c.QueryParam("format"))
	if format == "" {
		format = "json"
	}
	ctype, ok := exportFormats[format]
	if !ok {
		return badRequest("format: %q is not one of json, csv, txt", c.QueryParam("format"))
	}
	now := time.Now()
	f, err := logFilter(c, now)
	if err != nil {
		return err
	}
	ascending, err := orderParam(c, true)
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", 0, 0, 1<<31-1)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	q := store.LogQuery{LogFilter: f, Limit: exportPage, Ascending: ascending}
	// The first page is read before the reply starts, so that a store
	// failure is still an error reply.
	page, err := s.logStore.Query(ctx, q)
	if err != nil {
		return logStoreError(err)
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, ctype)
	w.Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="quantix-logs-%s.%s"`, now.UTC().Format("20060102T150405Z"), format))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if isHead(c) {
		return nil
	}
	enc := newExportEncoder(format, w)
	if err := enc.begin(); err != nil {
		return nil
	}
	written := 0
	for {
		for i := range page.Entries {
			if limit > 0 && written == limit {
				break
			}
			if err := enc.entry(&page.Entries[i]); err != nil {
				return nil
			}
			written++
		}
		w.Flush()
		if !page.HasMore || (limit > 0 && written >= limit) {
			break
		}
		q.Cursor = page.NextCursor
		if page, err = s.logStore.Query(ctx, q); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The status is sent: the reply is aborted, not ended, so that
			// the client sees it cut short (an unexpected end of the
			// chunked body) rather than a whole export of fewer entries.
			s.log.Error("log export failed part way; the reply is aborted", "request_id", requestID(c), "written", written, "error", err)
			panic(http.ErrAbortHandler)
		}
	}
	_ = enc.end()
	w.Flush()
	return nil
}

// exportEncoder writes entries in one export format.
type exportEncoder interface {
	begin() error
	entry(e *logsink.Entry) error
	end() error
}

func newExportEncoder(format string, w io.Writer) exportEncoder {
	switch format {
	case "csv":
		return &csvExport{w: csv.NewWriter(w)}
	case "txt":
		return &txtExport{w: w}
	}
	return &jsonExport{w: w}
}

// jsonExport writes a JSON array, one entry per line.
type jsonExport struct {
	w     io.Writer
	count int
}

func (j *jsonExport) begin() error { _, err := io.WriteString(j.w, "["); return err }

func (j *jsonExport) entry(e *logsink.Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	sep := ",\n"
	if j.count == 0 {
		sep = "\n"
	}
	j.count++
	if _, err := io.WriteString(j.w, sep); err != nil {
		return err
	}
	_, err = j.w.Write(b)
	return err
}

func (j *jsonExport) end() error { _, err := io.WriteString(j.w, "\n]\n"); return err }

// csvExport writes RFC 4180 CSV with a header row: fields that hold
// commas, quotes or line breaks are quoted, quotes doubled.
type csvExport struct{ w *csv.Writer }

func (x *csvExport) begin() error { return x.w.Write(csvHeader) }

func (x *csvExport) entry(e *logsink.Entry) error {
	fields := ""
	if e.HasFields() {
		fields = string(e.Fields)
	}
	err := x.w.Write([]string{e.ID, e.Timestamp.UTC().Format(time.RFC3339Nano), string(e.Level), string(e.Source), string(e.Component),
		e.Message, fields, e.VMID, e.NodeID, e.UserID, e.SessionID, e.CorrelationID, e.Action, e.Target, strconv.FormatBool(e.UserAction)})
	if err != nil {
		return err
	}
	x.w.Flush()
	return x.w.Error()
}

func (x *csvExport) end() error { x.w.Flush(); return x.w.Error() }

// txtExport writes one line per entry, `[timestamp] [LEVEL] [source]
// message`; a message's further lines follow indented by a tab, and its
// control characters are escaped (txtMessage), so that a message cannot
// drive the terminal the export is read on, or disguise itself.
type txtExport struct{ w io.Writer }

func (x *txtExport) begin() error { return nil }

func (x *txtExport) entry(e *logsink.Entry) error {
	_, err := fmt.Fprintf(x.w, "[%s] [%s] [%s] %s\n", e.Timestamp.UTC().Format(time.RFC3339Nano), strings.ToUpper(string(e.Level)), e.Source, txtMessage(e.Message))
	return err
}

// txtMessage is a message as a TXT export shows it: line breaks (\n or
// \r\n) continue it on a line indented by a tab; tabs stay; every other
// control character (C0, DEL, C1), the Unicode line and paragraph
// separators and the bidirectional controls are escaped as Go escapes
// them: ESC is \x1b, a lone CR \r, U+202E \u202e. A backslash stays as
// it is.
func txtMessage(msg string) string {
	msg = strings.ReplaceAll(msg, "\r\n", "\n")
	var b strings.Builder
	b.Grow(len(msg))
	for _, r := range msg {
		switch {
		case r == '\n':
			b.WriteString("\n\t")
		case r == '\t':
			b.WriteRune(r)
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (x *txtExport) end() error { return nil }
