// Package teststore gives tests throw-away stores: on SQLite, a file in the
// test's temp dir; on PostgreSQL, a new schema in one database created for
// the run on the server `make deps` starts (internal/pgtest) and dropped by
// Cleanup, which TestMain calls. A test that needs PostgreSQL fails, not
// skips, when it is not reachable, saying to run `make deps`.
package teststore

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the admin connection

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/pgtest"
	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/testlog"
)

// Drivers are the databases the tests run on.
var Drivers = []string{"sqlite", "postgres"}

// pg is the run's throw-away database, created on first use.
var pg struct {
	once    sync.Once
	err     error
	admin   *sql.DB
	db      *sql.DB
	name    string
	dsn     string
	schemas atomic.Int64
}

func setupPostgres() error {
	admin, err := sql.Open("pgx", pgtest.AdminDSN())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		_ = admin.Close()
		return err
	}
	name := "qx_teststore_" + testid.Hex(6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		return fmt.Errorf("creating database %s: %w", name, err)
	}
	pg.admin, pg.name = admin, name
	pg.dsn = pgtest.WithParam(pgtest.AdminDSN(), "dbname", name)
	db, err := sql.Open("pgx", pg.dsn)
	if err != nil {
		return err
	}
	pg.db = db
	return nil
}

// Cleanup drops the run's PostgreSQL database, if one was made. TestMain
// calls it after m.Run.
func Cleanup() {
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
	pg.admin = nil
}

// PostgresDSN returns the DSN of a new, empty schema in the run's
// throw-away database (created on first use, dropped by Cleanup).
func PostgresDSN(t testing.TB) string {
	t.Helper()
	pg.once.Do(func() { pg.err = setupPostgres() })
	if pg.err != nil {
		t.Fatalf("PostgreSQL is not reachable at %q (%v); run `make deps` (scripts/setup-host.sh) to install and start it, or set %s",
			pgtest.Redact(pgtest.AdminDSN()), pg.err, pgtest.EnvDSN)
	}
	schema := fmt.Sprintf("s%d", pg.schemas.Add(1))
	if _, err := pg.db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	return pgtest.WithParam(pg.dsn, "search_path", schema)
}

// DSN returns a fresh database of driver: a file in a temp dir for sqlite,
// a new schema for postgres.
func DSN(t testing.TB, driver string) string {
	t.Helper()
	if driver == "postgres" {
		return PostgresDSN(t)
	}
	return filepath.Join(t.TempDir(), "quantix.db")
}

// Open opens a fresh store on driver, closed when the test ends.
func Open(t testing.TB, driver string) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), driver, DSN(t, driver), testlog.New(t, hclog.Warn))
	if err != nil {
		t.Fatalf("opening %s store: %v", driver, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	return s
}

// OpenAt opens a store on an existing database (from DSN) of driver,
// closed when the test ends: several stores on one database are what
// separate servers would hold.
func OpenAt(t testing.TB, driver, dsn string) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), driver, dsn, testlog.New(t, hclog.Warn))
	if err != nil {
		t.Fatalf("opening %s store: %v", driver, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	return s
}
