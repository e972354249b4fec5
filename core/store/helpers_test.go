package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the test database's admin connection

	"github.com/quantixvm/quantix/internal/pgtest"
)

// backend is one database the suite runs on.
type backend struct {
	name string
	// fresh returns the driver and DSN of a new, empty database.
	fresh func(t testing.TB) (driver, dsn string)
}

var backends = []backend{
	{name: dialectSQLite, fresh: freshSQLite},
	{name: dialectPostgres, fresh: freshPostgres},
}

// forEachBackend runs fn as a subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

func freshSQLite(t testing.TB) (string, string) {
	// A directory that does not exist yet: Open creates it.
	return dialectSQLite, filepath.Join(t.TempDir(), "data", "quantix.db")
}

// The PostgreSQL side: one throw-away database per run (created on first
// use, dropped by TestMain), one schema per fresh database in it.
var pg struct {
	once    sync.Once
	err     error
	admin   *sql.DB // connected to the server's maintenance database
	db      *sql.DB // connected to the run's database
	name    string  // the run's database
	baseDSN string  // DSN of the run's database
	schemas atomic.Int64
}

func setupPostgres() error {
	dsn := pgtest.AdminDSN()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		return err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "qx_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		return fmt.Errorf("creating database %s: %w", name, err)
	}
	pg.admin, pg.name = admin, name
	pg.baseDSN = pgtest.WithParam(dsn, "dbname", name)
	db, err := sql.Open("pgx", pg.baseDSN)
	if err != nil {
		return err
	}
	pg.db = db
	return nil
}

// freshPostgres returns the DSN of a new schema in the run's database; the
// DSN's search_path makes it the one the store uses.
func freshPostgres(t testing.TB) (string, string) {
	t.Helper()
	pg.once.Do(func() { pg.err = setupPostgres() })
	if pg.err != nil {
		t.Fatalf("PostgreSQL is not reachable at %q (%v); run `make deps` (scripts/setup-host.sh) to install and start it, or set QUANTIX_TEST_POSTGRES_DSN",
			pgtest.Redact(pgtest.AdminDSN()), pg.err)
	}
	schema := fmt.Sprintf("t%d", pg.schemas.Add(1))
	if _, err := pg.db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	return dialectPostgres, pgtest.WithParam(pg.baseDSN, "search_path", schema)
}

func teardownPostgres() {
	if pg.admin == nil {
		return
	}
	if pg.db != nil {
		_ = pg.db.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pg.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pg.name+" WITH (FORCE)"); err != nil {
		fmt.Fprintf(os.Stderr, "dropping test database %s: %v\n", pg.name, err)
	}
	_ = pg.admin.Close()
}

func TestMain(m *testing.M) {
	code := m.Run()
	teardownPostgres()
	os.Exit(code)
}

// testLogger writes the store's log to the test's log at warn.
func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// openFresh opens a store on a new database of b and closes it at cleanup.
func openFresh(t testing.TB, b backend) (*sqlStore, string) {
	t.Helper()
	driver, dsn := b.fresh(t)
	return openAt(t, driver, dsn), dsn
}

// openAt opens a store on dsn and closes it at cleanup.
func openAt(t testing.TB, driver, dsn string) *sqlStore {
	t.Helper()
	s, err := Open(context.Background(), driver, dsn, testLogger(t))
	if err != nil {
		t.Fatalf("Open(%s): %v", driver, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s.(*sqlStore)
}
