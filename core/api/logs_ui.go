package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/auth"
	"github.com/quantixvm/quantix/core/logs"
	"github.com/quantixvm/quantix/internal/ratelimit"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// Bounds of POST /api/logs/ui. The body is bounded by MaxBodyBytes.
const (
	// MaxUIEntries is how many entries one request may carry.
	MaxUIEntries = 1000
	// MaxUIMessageBytes bounds an entry's message.
	MaxUIMessageBytes = 8 << 10
	// maxUIFieldBytes bounds an entry's other strings (ids, action, target).
	maxUIFieldBytes = 512
	// MaxUIFieldsBytes bounds an entry's fields (or metadata), as sent.
	MaxUIFieldsBytes = 16 << 10
	// MaxUIFieldsDepth bounds how deep objects and arrays nest in an
	// entry's fields, the outer object counting as 1: JSON readers such as
	// jq and Python's give up on a few hundred to a thousand levels, and
	// every page and export holding the entry would break them.
	MaxUIFieldsDepth = 32
	// UITimestampYears is how far from the server's clock, either way, an
	// entry's timestamp may be: a front end's clock may be wrong, but not
	// by decades.
	UITimestampYears = 10
)

const codeRateLimited = "rate_limited"

// uiLogsRequest is the body of POST /api/logs/ui. Entries are decoded one
// by one, so that a bad one is rejected alone.
type uiLogsRequest struct {
	Logs []json.RawMessage `json:"logs"`
}

// uiEntry is one entry as front ends send it: the keys of a log entry
// (docs/logs.md) in snake_case, and the seed front end's camelCase ones
// (correlationId, sessionId, userId, userAction, vmId, nodeId) and metadata
// for fields.
type uiEntry struct {
	Timestamp *string         `json:"timestamp"`
	Level     string          `json:"level"`
	Source    string          `json:"source"`
	Component string          `json:"component"`
	Message   *string         `json:"message"`
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	Fields    json.RawMessage `json:"fields"`
	Metadata  json.RawMessage `json:"metadata"`

	VMID          string `json:"vm_id"`
	VMIDAlias     string `json:"vmId"`
	NodeID        string `json:"node_id"`
	NodeIDAlias   string `json:"nodeId"`
	UserID        string `json:"user_id"`
	UserIDAlias   string `json:"userId"`
	SessionID     string `json:"session_id"`
	SessionAlias  string `json:"sessionId"`
	Correlation   string `json:"correlation_id"`
	CorrelAlias   string `json:"correlationId"`
	UserAction    *bool  `json:"user_action"`
	UserActionAlt *bool  `json:"userAction"`
}

// uiLogsReply is the reply of POST /api/logs/ui; with every entry refused
// it also carries code and message, as errors do.
type uiLogsReply struct {
	Accepted int         `json:"accepted"`
	Rejected int         `json:"rejected"`
	Errors   []uiLogFail `json:"errors"`
	Code     string      `json:"code,omitempty"`
	Message  string      `json:"message,omitempty"`
}

// uiLogFail says why the entry at Index was rejected.
type uiLogFail struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// ingestUILogs: POST /api/logs/ui. Each entry's user_id and session_id
// are the caller's (its user id and credential id, auth.Principal):
// values in the body, under either spelling, are ignored. Good entries are
// kept when others are bad; the reply is 200 when at least one entry was accepted (or none was
// sent), 422 when every entry was rejected, 413 over MaxUIEntries or the
// body limit, 429 with Retry-After when the caller's credential or its
// client address is over its rate (uiCharges), 503 when the spool cannot
// take entries.
func (s *Server) ingestUILogs(c echo.Context) error {
	if s.logs == nil {
		return errNoPipeline
	}
	var req uiLogsRequest
	if err := decodeBody(c, &req); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusRequestEntityTooLarge {
			s.logs.Metrics().Rejected(logsink.SourceUI, logs.RejectTooLarge, 1)
		}
		return err
	}
	if req.Logs == nil {
		return unprocessable("logs: required: send {\"logs\": [ ... ]}")
	}
	n := len(req.Logs)
	if n > MaxUIEntries {
		s.logs.Metrics().Rejected(logsink.SourceUI, logs.RejectTooLarge, n)
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge,
			message: fmt.Sprintf("logs: %d entries; at most %d per request", n, MaxUIEntries)}
	}
	now := time.Now()
	p, _ := principalOf(c)
	good := make([]logsink.Entry, 0, n)
	out := uiLogsReply{Errors: []uiLogFail{}}
	for i, raw := range req.Logs {
		e, err := parseUIEntry(raw, now)
		if err != nil {
			out.Errors = append(out.Errors, uiLogFail{Index: i, Reason: shortMessage(err.Error())})
			continue
		}
		// Who sent the entry is the caller, whatever the body says.
		e.UserID, e.SessionID = p.UserID, p.CredentialID()
		good = append(good, e)
	}
	if ok, short, wait := s.uiLimit.TakeAll(uiCharges(c, p, n), now); !ok {
		s.logs.Metrics().Rejected(logsink.SourceUI, logs.RejectRateLimited, n)
		secs := setRetryAfter(c, wait)
		who, across, class := cut(strings.Replace(short.Key, ":", " ", 1)), "", s.uiLimit.Class(short.Class)
		if short.Class == classAddress {
			who, across = "address "+cut(strings.TrimPrefix(short.Key, "client:")), " across all its credentials"
		}
		return &apiError{status: http.StatusTooManyRequests, code: codeRateLimited,
			message: fmt.Sprintf("%s is over its rate of %g log entries per second%s (burst %g); retry after %ds", who, class.PerSecond, across, class.Burst, secs)}
	}
	out.Rejected = len(out.Errors)
	if out.Rejected > 0 {
		s.logs.Metrics().Rejected(logsink.SourceUI, logs.RejectInvalid, out.Rejected)
	}
	if len(good) > 0 {
		if err := s.logs.Append(c.Request().Context(), good); err != nil {
			s.log.Error("spooling ui log entries", "request_id", requestID(c), "entries", len(good), "error", err)
			return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, cause: err,
				message: "the log spool cannot take entries right now; retry later"}
		}
	}
	out.Accepted = len(good)
	if out.Accepted == 0 && out.Rejected > 0 {
		out.Code, out.Message = codeInvalid, fmt.Sprintf("every one of the %d entries was rejected; see errors", out.Rejected)
		return c.JSON(http.StatusUnprocessableEntity, out)
	}
	return c.JSON(http.StatusOK, out)
}

// uiCharges is what a request of n entries costs: all n are charged to
// the caller's credential (its token or session: a client cannot buy a
// fresh bucket by naming another session in the body) and to its client
// address, which bounds what one address sends across all its
// credentials. Without a principal (a server built without
// authentication, in tests), the credential's bucket is the address's.
//
// The client address is the peer address of the connection: the server
// has no setting naming proxies to trust, and a forwarded-for header is the
// client's to forge. Behind a proxy, its clients share the proxy's bounds.
func uiCharges(c echo.Context, p auth.Principal, n int) []ratelimit.Charge {
	host := clientAddr(c)
	key := p.CredentialID()
	if key == "" {
		key = "address:" + host
	}
	return []ratelimit.Charge{
		{Key: key, Class: classSession, N: n},
		{Key: "client:" + host, Class: classAddress, N: n},
	}
}

// clientAddr is the host of the connection's peer address.
func clientAddr(c echo.Context) string {
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host
}

// parseUIEntry decodes and checks one entry of a UI request. Its error is
// the reason given to the client, starting with the field at fault.
func parseUIEntry(raw json.RawMessage, now time.Time) (logsink.Entry, error) {
	var u uiEntry
	if err := decodeJSON(raw, &u); err != nil {
		return logsink.Entry{}, entryDecodeError(err)
	}
	e := logsink.Entry{Source: logsink.SourceUI, Action: u.Action, Target: u.Target, UserAction: true}
	if u.Message == nil || strings.TrimSpace(*u.Message) == "" {
		return e, errors.New("message: required")
	}
	if len(*u.Message) > MaxUIMessageBytes {
		return e, fmt.Errorf("message: %d bytes, at most %d", len(*u.Message), MaxUIMessageBytes)
	}
	e.Message = *u.Message
	level := strings.ToLower(u.Level)
	switch level {
	case "":
		level = string(logsink.LevelInfo)
	case "trace":
		level = string(logsink.LevelDebug)
	}
	if e.Level = logsink.Level(level); e.Level.Rank() < 0 {
		return e, fmt.Errorf("level: %q is not one of trace, %s", u.Level, joinNames(logsink.Levels))
	}
	if u.Source != "" && u.Source != string(logsink.SourceUI) {
		return e, fmt.Errorf("source: %q; entries sent here are %q", u.Source, logsink.SourceUI)
	}
	if u.Component != "" {
		if e.Component = logsink.Component(u.Component); !slices.Contains(logsink.Components, e.Component) {
			return e, fmt.Errorf("component: %q is not one of %s", u.Component, joinNames(logsink.Components))
		}
	}
	if u.Timestamp != nil && *u.Timestamp != "" {
		t, err := time.Parse(time.RFC3339Nano, *u.Timestamp)
		if err != nil {
			return e, fmt.Errorf("timestamp: %q is not an RFC 3339 time such as 2026-01-18T10:00:00.000Z", *u.Timestamp)
		}
		if lo, hi := now.AddDate(-UITimestampYears, 0, 0), now.AddDate(UITimestampYears, 0, 0); t.Before(lo) || t.After(hi) {
			return e, fmt.Errorf("timestamp: %s is more than %d years from the server's time (%s); send the time the event happened",
				t.Format(time.RFC3339Nano), UITimestampYears, now.UTC().Format(time.RFC3339))
		}
		e.Timestamp = t
	}
	var err error
	pairs := []struct {
		dst                *string
		snake, camel       string
		snakeVal, camelVal string
	}{
		{&e.VMID, "vm_id", "vmId", u.VMID, u.VMIDAlias},
		{&e.NodeID, "node_id", "nodeId", u.NodeID, u.NodeIDAlias},
		{&e.UserID, "user_id", "userId", u.UserID, u.UserIDAlias},
		{&e.SessionID, "session_id", "sessionId", u.SessionID, u.SessionAlias},
		{&e.CorrelationID, "correlation_id", "correlationId", u.Correlation, u.CorrelAlias},
	}
	for _, p := range pairs {
		if *p.dst, err = alias(p.snake, p.camel, p.snakeVal, p.camelVal); err != nil {
			return e, err
		}
	}
	for _, f := range []struct{ name, v string }{
		{"action", e.Action}, {"target", e.Target}, {"vm_id", e.VMID}, {"node_id", e.NodeID},
		{"user_id", e.UserID}, {"session_id", e.SessionID}, {"correlation_id", e.CorrelationID},
	} {
		if len(f.v) > maxUIFieldBytes {
			return e, fmt.Errorf("%s: %d bytes, at most %d", f.name, len(f.v), maxUIFieldBytes)
		}
	}
	switch {
	case u.UserAction != nil && u.UserActionAlt != nil && *u.UserAction != *u.UserActionAlt:
		return e, errors.New("user_action and userAction differ; send one of them")
	case u.UserAction != nil:
		e.UserAction = *u.UserAction
	case u.UserActionAlt != nil:
		e.UserAction = *u.UserActionAlt
	}
	fields := u.Fields
	if isJSONNull(fields) {
		fields = nil
	}
	if !isJSONNull(u.Metadata) {
		if fields != nil {
			return e, errors.New("fields and metadata are both set; send one of them")
		}
		fields = u.Metadata
	}
	if fields != nil {
		if t := bytes.TrimSpace(fields); len(t) == 0 || t[0] != '{' {
			return e, errors.New("fields: must be a JSON object")
		}
		if jsonDepth(fields, MaxUIFieldsDepth) > MaxUIFieldsDepth {
			return e, fmt.Errorf("fields: objects and arrays nest more than %d levels deep; at most %d", MaxUIFieldsDepth, MaxUIFieldsDepth)
		}
		if len(fields) > MaxUIFieldsBytes {
			return e, fmt.Errorf("fields: %d bytes, at most %d", len(fields), MaxUIFieldsBytes)
		}
		e.Fields = fields
	}
	if !utf8.ValidString(e.Message) {
		return e, errors.New("message: not valid UTF-8")
	}
	if err := logs.Prepare(&e, now); err != nil {
		return e, err
	}
	return e, nil
}

// jsonDepth is how deep objects and arrays nest in the JSON value b (0 for
// a scalar), counted up to limit+1: past that it stops looking.
func jsonDepth(b []byte, limit int) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > deepest {
				if deepest = depth; deepest > limit {
					return deepest
				}
			}
		case '}', ']':
			depth--
		}
	}
	return deepest
}

// alias returns the value given under either key, refusing two different
// values.
func alias(snake, camel, snakeVal, camelVal string) (string, error) {
	if snakeVal != "" && camelVal != "" && snakeVal != camelVal {
		return "", fmt.Errorf("%s and %s differ; send one of them", snake, camel)
	}
	if snakeVal != "" {
		return snakeVal, nil
	}
	return camelVal, nil
}

func isJSONNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// entryDecodeError says what is wrong with one entry's JSON.
func entryDecodeError(err error) error {
	var (
		typ       *json.UnmarshalTypeError
		notObject *notObjectError
		unknown   *unknownFieldError
	)
	switch {
	case errors.As(err, &notObject):
		return fmt.Errorf("entry: must be a JSON object, not %s", notObject.kind)
	case errors.As(err, &unknown):
		return unknown
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Errorf("entry: must be a JSON object, not %s", typ.Value)
		}
		return fmt.Errorf("%s: must be %s, not %s", typ.Field, jsonKind(typ.Type.String()), typ.Value)
	case errors.Is(err, io.EOF):
		return errors.New("entry: empty")
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("unknown field %s", f)
	}
	return fmt.Errorf("entry: %s", strings.TrimPrefix(err.Error(), "json: "))
}
