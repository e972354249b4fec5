package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// countingLogger counts the queries gorm runs.
type countingLogger struct {
	mu sync.Mutex
	n  int
}

func (c *countingLogger) LogMode(gormlogger.LogLevel) gormlogger.Interface { return c }
func (c *countingLogger) Info(context.Context, string, ...any)             {}
func (c *countingLogger) Warn(context.Context, string, ...any)             {}
func (c *countingLogger) Error(context.Context, string, ...any)            {}
func (c *countingLogger) Trace(context.Context, time.Time, func() (string, int64), error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestGormLogger(t *testing.T) {
	query := func() (string, int64) { return "SELECT 1", 1 }
	cases := []struct {
		name    string
		level   hclog.Level
		elapsed time.Duration
		err     error
		want    string // "" means nothing logged
	}{
		{"fast query at info", hclog.Info, time.Millisecond, nil, ""},
		{"slow query", hclog.Info, 250 * time.Millisecond, nil, "[WARN]  store: slow query"},
		{"slow query at warn level", hclog.Warn, 250 * time.Millisecond, nil, "slow query"},
		{"just under the threshold", hclog.Info, 150 * time.Millisecond, nil, ""},
		{"failed query at info", hclog.Info, time.Millisecond, errors.New("boom"), ""},
		{"failed query at debug", hclog.Debug, time.Millisecond, errors.New("boom"), "[DEBUG] store: query failed"},
		{"record not found at debug", hclog.Debug, time.Millisecond, gorm.ErrRecordNotFound, ""},
		{"every query at trace", hclog.Trace, time.Millisecond, nil, "[TRACE] store: query"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf syncBuffer
			l := newGormLogger(hclog.New(&hclog.LoggerOptions{Name: "store", Level: tc.level, Output: &buf}))
			l.Trace(context.Background(), time.Now().Add(-tc.elapsed), query, tc.err)
			out := buf.String()
			if tc.want == "" {
				if out != "" {
					t.Errorf("logged %q, want nothing", out)
				}
				return
			}
			if !strings.Contains(out, tc.want) || !strings.Contains(out, "SELECT 1") {
				t.Errorf("logged %q, want %q with the SQL", out, tc.want)
			}
		})
	}
	long := strings.Repeat("x", 3*maxLoggedSQL)
	if c := clip(long); len(c) > maxLoggedSQL+40 || !strings.Contains(c, "more bytes") {
		t.Errorf("clip kept %d bytes", len(c))
	}
}

// TestSlowQueryLogged runs a real slow query through a store and looks for
// the warning in its log.
func TestSlowQueryLogged(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		driver, dsn := b.fresh(t)
		var buf syncBuffer
		st, err := Open(ctx, driver, dsn, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: &buf}))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		s := st.(*sqlStore)
		slow := func(int) string { return "SELECT pg_sleep(0.25)" }
		if driver == dialectSQLite {
			// SQLite has no sleep: count, longer each round, past 200 ms.
			slow = func(round int) string {
				return fmt.Sprintf("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) SELECT count(*) FROM c",
					1000000<<round)
			}
		}
		var took time.Duration
		for round := 0; round < 5 && took < slowQuery+100*time.Millisecond; round++ {
			began := time.Now()
			if err := s.w.Exec(slow(round)).Error; err != nil {
				t.Fatal(err)
			}
			took = time.Since(began)
		}
		if took <= slowQuery {
			t.Fatalf("the slow query took only %v", took)
		}
		if out := buf.String(); !strings.Contains(out, "[WARN]  store: slow query") {
			t.Errorf("log after a %v query = %q, want a slow query warning", took, out)
		}
		if _, err := s.VMs().Get(ctx, "nothing"); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if !strings.Contains(line, "slow query") {
				t.Errorf("unexpected log line %q: only slow queries log at warn", line)
			}
		}
	})
}

// TestLoggedSQLKeepsValuesOut runs a query with a value through a store
// logging every query and looks for the value in the log: the SQL is
// logged with its placeholders only.
func TestLoggedSQLKeepsValuesOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		driver, dsn := b.fresh(t)
		var buf syncBuffer
		st, err := Open(ctx, driver, dsn, hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: &buf}))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		const secret = "s3cret-value-never-logged"
		if _, err := st.VMs().Get(ctx, secret); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		out := buf.String()
		if !strings.Contains(out, "store: query") || !strings.Contains(out, "FROM") {
			t.Fatalf("no query logged at trace: %q", out)
		}
		if strings.Contains(out, secret) {
			t.Errorf("a query's value is in the log: %q", out)
		}
	})
}
