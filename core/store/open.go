package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// The database drivers Open knows, as named in the config's
// `database { driver }`; they are also the dialect names.
const (
	dialectSQLite   = "sqlite"
	dialectPostgres = "postgres"
)

// SQLite connection settings. Writes go through a pool of one connection, so
// writers queue in the process instead of meeting SQLITE_BUSY; transactions
// begin IMMEDIATE so that another process writing the same file waits for
// the lock (busy_timeout) up front rather than failing on a lock upgrade.
// Reads use their own pool: with WAL they run beside the writer.
const (
	sqliteBusyTimeoutMS = 10000
	sqliteReaders       = 4
)

// PostgreSQL pool settings. Every connection the pool opens may stay idle
// in it (pgMaxIdle = pgMaxOpen): agents' heartbeats come in bursts, and a
// pool that closed all but a few connections after each burst would open
// them again at the next one, each a new server process and a SCRAM
// handshake. Connections idle for pgMaxIdleTime are closed.
const (
	pgMaxOpen     = 16
	pgMaxIdle     = pgMaxOpen
	pgMaxIdleTime = 5 * time.Minute
)

// Open opens the inventory database and brings its schema up to date.
// driver is "sqlite" (dsn is the database file's path; its directory is
// created) or "postgres" (dsn is a libpq key=value string or a postgres://
// URL). A database migrated by a newer quantixd is refused with a
// *SchemaTooNewError. logger receives slow queries (over 200 ms) at warn and
// applied migrations at info; nil discards.
func Open(ctx context.Context, driver, dsn string, logger hclog.Logger) (Store, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	logger = logger.Named("store")
	var (
		s   *sqlStore
		err error
	)
	switch driver {
	case dialectSQLite:
		s, err = openSQLite(ctx, dsn, logger, migrations)
	case dialectPostgres:
		s, err = openPostgres(ctx, dsn, logger, migrations)
	default:
		return nil, fmt.Errorf("opening store: unknown database driver %q: must be sqlite or postgres", driver)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func gormConfig(logger hclog.Logger) *gorm.Config {
	return &gorm.Config{
		Logger:                 newGormLogger(logger),
		SkipDefaultTransaction: true,
		DisableAutomaticPing:   true,
		NowFunc:                func() time.Time { return normTime(time.Now()) },
	}
}

// sqliteDSN is the driver DSN for path: pragmas run on every new connection.
func sqliteDSN(path string, reader bool) string {
	params := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", sqliteBusyTimeoutMS),
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(NORMAL)",
	}
	if reader {
		params = append(params, "_pragma=query_only(1)")
	} else {
		params = append(params, "_pragma=journal_mode(WAL)", "_pragma=temp_store(MEMORY)", "_pragma=cache_size(-65536)", "_txlock=immediate")
	}
	return path + "?" + strings.Join(params, "&")
}

func openSQLite(ctx context.Context, path string, logger hclog.Logger, list []migration) (*sqlStore, error) {
	if path == "" {
		return nil, errors.New("opening sqlite store: empty path: set server.database.dsn to the database file")
	}
	if strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, fmt.Errorf("opening sqlite store: dsn %q must be a plain file path", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("opening sqlite store: creating the database directory: %w", err)
	}
	w, err := gorm.Open(sqlite.Open(sqliteDSN(path, false)), gormConfig(logger))
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	wdb, err := w.DB()
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)

	var mode string
	if err := w.WithContext(ctx).Raw("PRAGMA journal_mode").Scan(&mode).Error; err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		logger.Warn("sqlite database is not in WAL mode; readers will wait for writers", "path", path, "journal_mode", mode)
	}
	if err := migrate(ctx, w, dialectSQLite, list, logger); err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}

	r, err := gorm.Open(sqlite.Open(sqliteDSN(path, true)), gormConfig(logger))
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	rdb, err := r.DB()
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(sqliteReaders)
	rdb.SetMaxIdleConns(sqliteReaders)
	return &sqlStore{
		w:       w,
		r:       r,
		dialect: dialectSQLite,
		log:     logger,
		close: func() error {
			return errors.Join(rdb.Close(), wdb.Close())
		},
	}, nil
}

func openPostgres(ctx context.Context, dsn string, logger hclog.Logger, list []migration) (*sqlStore, error) {
	if dsn == "" {
		return nil, errors.New("opening postgres store: empty dsn: set server.database.dsn")
	}
	db, err := gorm.Open(postgres.Open(dsn), gormConfig(logger))
	if err != nil {
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	sdb, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	sdb.SetMaxOpenConns(pgMaxOpen)
	sdb.SetMaxIdleConns(pgMaxIdle)
	sdb.SetConnMaxIdleTime(pgMaxIdleTime)
	if err := sdb.PingContext(ctx); err != nil {
		_ = sdb.Close()
		return nil, fmt.Errorf("opening postgres store: connecting: %w", err)
	}
	if err := migrate(ctx, db, dialectPostgres, list, logger); err != nil {
		_ = sdb.Close()
		return nil, fmt.Errorf("opening postgres store: %w", err)
	}
	var schema string
	if err := db.WithContext(ctx).Raw("SELECT current_schema()").Scan(&schema).Error; err != nil {
		_ = sdb.Close()
		return nil, fmt.Errorf("opening postgres store: reading the current schema: %w", err)
	}
	return &sqlStore{w: db, r: db, dialect: dialectPostgres, log: logger, close: sdb.Close,
		pg: &pgStream{dsn: dsn, channel: streamChannel(schema), origin: uuid.NewString()}}, nil
}

// sqlStore is the Store on gorm. Outside a transaction w is the writer pool
// and r the reader pool (the same on PostgreSQL); in a transaction both are
// the transaction.
type sqlStore struct {
	w, r    *gorm.DB
	dialect string
	inTx    bool
	log     hclog.Logger
	close   func() error
	// pg is set on PostgreSQL: what streams across servers need (stream.go).
	pg *pgStream
}

// VMs returns the VM repository.
func (s *sqlStore) VMs() VMRepo { return vmRepo{s} }

// Nodes returns the node repository.
func (s *sqlStore) Nodes() NodeRepo { return nodeRepo{s} }

// Events returns the event repository.
func (s *sqlStore) Events() EventRepo { return eventRepo{s} }

// Logs returns the log entry repository.
func (s *sqlStore) Logs() LogRepo { return logRepo{s} }

// Tx runs fn in one transaction, after the fence check when ctx is fenced
// (checkFence). On a Store that is itself a transaction's, fn runs within
// that transaction.
func (s *sqlStore) Tx(ctx context.Context, fn func(Store) error) error {
	if s.inTx {
		if err := s.checkFence(ctx, s.w); err != nil {
			return err
		}
		return fn(s)
	}
	return s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.checkFence(ctx, tx); err != nil {
			return err
		}
		return fn(&sqlStore{w: tx, r: tx, dialect: s.dialect, inTx: true, log: s.log, pg: s.pg})
	})
}

// Close closes the database pools. A transaction's Store cannot be closed.
func (s *sqlStore) Close() error {
	if s.inTx {
		return errors.New("closing store: a transaction's store cannot be closed; return from Tx instead")
	}
	if err := s.close(); err != nil {
		return fmt.Errorf("closing store: %w", err)
	}
	return nil
}

// read returns the pool (or transaction) reads go to.
func (s *sqlStore) read(ctx context.Context) *gorm.DB { return s.r.WithContext(ctx) }

// write runs fn on the writer. Outside a transaction fn runs in a
// transaction of its own when atomic is set (several statements), directly
// otherwise. Inside one, fn runs under a savepoint, so that a failed write
// (a conflict, say) leaves the enclosing transaction usable: PostgreSQL
// aborts the whole transaction on any error otherwise.
func (s *sqlStore) write(ctx context.Context, atomic bool, fn func(tx *gorm.DB) error) error {
	db := s.w.WithContext(ctx)
	if s.inTx || atomic {
		return db.Transaction(fn)
	}
	return fn(db)
}
