package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// slowQuery is the duration past which a query is logged at warn.
const slowQuery = 200 * time.Millisecond

// maxLoggedSQL caps the SQL text a log line carries (batched inserts can be
// long).
const maxLoggedSQL = 2000

// gormLogger routes gorm's logging to hclog: slow queries at warn, failed
// queries at debug (the repositories return the error to their caller),
// every query at trace. The SQL it logs keeps its placeholders: the values
// (password and token hashes, log lines, whole batches of rows) are never
// written into the log, nor formatted into the text at all, which a slow
// batched insert under load would otherwise pay for on every line.
type gormLogger struct {
	log  hclog.Logger
	slow time.Duration
}

func newGormLogger(l hclog.Logger) *gormLogger {
	return &gormLogger{log: l, slow: slowQuery}
}

// LogMode is part of gorm's logger interface; the level comes from hclog.
func (g *gormLogger) LogMode(gormlogger.LogLevel) gormlogger.Interface { return g }

// Info logs gorm's informational messages at debug.
func (g *gormLogger) Info(_ context.Context, msg string, args ...any) {
	g.log.Debug(fmt.Sprintf(msg, args...))
}

// Warn logs gorm's warnings.
func (g *gormLogger) Warn(_ context.Context, msg string, args ...any) {
	g.log.Warn(fmt.Sprintf(msg, args...))
}

// Error logs gorm's errors.
func (g *gormLogger) Error(_ context.Context, msg string, args ...any) {
	g.log.Error(fmt.Sprintf(msg, args...))
}

// Trace is called after every query.
func (g *gormLogger) Trace(_ context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	failed := err != nil && !errors.Is(err, gorm.ErrRecordNotFound)
	switch {
	case elapsed > g.slow:
		sql, rows := fc()
		args := []any{"elapsed", elapsed, "threshold", g.slow, "rows", rows, "sql", clip(sql)}
		if failed {
			args = append(args, "error", err)
		}
		g.log.Warn("slow query", args...)
	case failed && g.log.IsDebug():
		sql, rows := fc()
		g.log.Debug("query failed", "elapsed", elapsed, "rows", rows, "sql", clip(sql), "error", err)
	case g.log.IsTrace():
		sql, rows := fc()
		g.log.Trace("query", "elapsed", elapsed, "rows", rows, "sql", clip(sql))
	}
}

// ParamsFilter is gorm's hook for the SQL a log line carries: the
// statement's values are left out (the SQL keeps its placeholders).
func (g *gormLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

var _ gorm.ParamsFilter = (*gormLogger)(nil)

func clip(s string) string {
	if len(s) <= maxLoggedSQL {
		return s
	}
	return s[:maxLoggedSQL] + fmt.Sprintf("... (%d more bytes)", len(s)-maxLoggedSQL)
}
