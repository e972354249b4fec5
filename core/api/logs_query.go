package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// logsReplyPage is the reply of GET /api/logs.
type logsReplyPage struct {
	Logs       []logsink.Entry `json:"logs"`
	NextCursor string          `json:"next_cursor"`
	HasMore    bool            `json:"has_more"`
}

// errNoLogStore: the daemon runs without the built-in log store.
var errNoLogStore = &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, message: "the log store is not running in this process"}

// errNoPipeline: the daemon runs without the log pipeline.
var errNoPipeline = &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, message: "the log pipeline is not running in this process"}

// queryLogs: GET /api/logs, filtered (logFilter), limit (1..1000, default
// 100), cursor, order (desc, the default, or asc).
func (s *Server) queryLogs(c echo.Context) error {
	if s.logStore == nil {
		return errNoLogStore
	}
	f, err := logFilter(c, time.Now())
	if err != nil {
		return err
	}
	q := store.LogQuery{LogFilter: f, Cursor: strings.TrimSpace(c.QueryParam("cursor"))}
	if q.Limit, err = intParam(c, "limit", defaultLogPage, 1, maxLogPage); err != nil {
		return err
	}
	if q.Ascending, err = orderParam(c, false); err != nil {
		return err
	}
	page, err := s.logStore.Query(c.Request().Context(), q)
	if err != nil {
		return logStoreError(err)
	}
	out := logsReplyPage{Logs: page.Entries, NextCursor: page.NextCursor, HasMore: page.HasMore}
	if out.Logs == nil {
		out.Logs = []logsink.Entry{}
	}
	return c.JSON(http.StatusOK, out)
}

// logStoreError maps a store error: a bad cursor is the client's.
func logStoreError(err error) error {
	if errors.Is(err, store.ErrInvalid) {
		msg := err.Error()
		if _, rest, ok := strings.Cut(msg, "invalid argument: "); ok {
			msg = rest
		}
		return badRequest("cursor: %s", msg)
	}
	return err
}

// logSources: GET /api/logs/sources, the sources entries come from.
func (s *Server) logSources(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string][]logsink.Source{"sources": logsink.Sources})
}

// logComponents: GET /api/logs/components, the components entries are
// about.
func (s *Server) logComponents(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string][]logsink.Component{"components": logsink.Components})
}
