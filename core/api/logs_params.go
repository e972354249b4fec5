package api

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// Page sizes of GET /api/logs.
const (
	defaultLogPage = 100
	maxLogPage     = 1000
)

// MaxLogTextQuery bounds the text filter q (or search), in characters:
// what is searched for is a phrase of a message, and a store's pattern
// matching has limits of its own (SQLite refuses patterns over 50,000
// bytes).
const MaxLogTextQuery = 1000

// logFilter reads the filters GET /api/logs, its export and its stream
// share: level (the minimum), source and component (comma-separated or
// repeated), vm_id, node_id, correlation_id, session_id, user_action, q
// (text, at most MaxLogTextQuery characters; search is an alias), since
// and until (RFC 3339 times, or a duration such as 15m meaning that long
// ago).
func logFilter(c echo.Context, now time.Time) (store.LogFilter, error) {
	var f store.LogFilter
	if v := strings.TrimSpace(c.QueryParam("level")); v != "" {
		l := logsink.Level(strings.ToLower(v))
		if l.Rank() < 0 {
			return f, badRequest("level: %q is not one of %s", v, joinNames(logsink.Levels))
		}
		f.MinLevel = l
	}
	for _, v := range listParam(c, "source") {
		s := logsink.Source(strings.ToLower(v))
		if !slices.Contains(logsink.Sources, s) {
			return f, badRequest("source: %q is not one of %s", v, joinNames(logsink.Sources))
		}
		f.Sources = append(f.Sources, s)
	}
	for _, v := range listParam(c, "component") {
		comp := logsink.Component(strings.ToLower(v))
		if !slices.Contains(logsink.Components, comp) {
			return f, badRequest("component: %q is not one of %s", v, joinNames(logsink.Components))
		}
		f.Components = append(f.Components, comp)
	}
	f.VMID = strings.TrimSpace(c.QueryParam("vm_id"))
	f.NodeID = strings.TrimSpace(c.QueryParam("node_id"))
	f.CorrelationID = strings.TrimSpace(c.QueryParam("correlation_id"))
	f.SessionID = strings.TrimSpace(c.QueryParam("session_id"))
	if v := c.QueryParam("user_action"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, badRequest("user_action: %q is not a boolean (true or false)", v)
		}
		f.UserAction = &b
	}
	textParam := "q"
	f.Text = c.QueryParam(textParam)
	if f.Text == "" {
		textParam = "search"
		f.Text = c.QueryParam(textParam)
	}
	if n := utf8.RuneCountInString(f.Text); n > MaxLogTextQuery {
		return f, badRequest("%s: %d characters; at most %d", textParam, n, MaxLogTextQuery)
	}
	var err error
	if f.Since, err = timeParam(c, "since", now); err != nil {
		return f, err
	}
	if f.Until, err = timeParam(c, "until", now); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, badRequest("since (%s) must be before until (%s)", f.Since.Format(time.RFC3339Nano), f.Until.Format(time.RFC3339Nano))
	}
	return f, nil
}

// listParam returns the values of a parameter given as a comma-separated
// list, repeated, or both.
func listParam(c echo.Context, name string) []string {
	var out []string
	for _, v := range c.QueryParams()[name] {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// timeParam reads an RFC 3339 time, or a duration meaning that long before
// now; absent is the zero time.
func timeParam(c echo.Context, name string, now time.Time) (time.Time, error) {
	v := strings.TrimSpace(c.QueryParam(name))
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, badRequest("%s: %q is neither an RFC 3339 time such as 2026-01-18T10:00:00Z nor a duration such as 15m", name, v)
}

// orderParam reads order=asc|desc; absent is def.
func orderParam(c echo.Context, def bool) (ascending bool, err error) {
	switch v := strings.ToLower(strings.TrimSpace(c.QueryParam("order"))); v {
	case "":
		return def, nil
	case "asc":
		return true, nil
	case "desc":
		return false, nil
	default:
		return false, badRequest("order: %q is not asc or desc", v)
	}
}

func joinNames[T ~string](list []T) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
