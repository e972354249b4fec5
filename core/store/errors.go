package store

import (
	"errors"
	"fmt"
	"strings"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrInvalid: an argument the store cannot use (a malformed cursor, a limit
// out of range, an empty id). The API answers it with 400.
var ErrInvalid = errors.New("invalid argument")

// SchemaTooNewError is returned by Open when the database was migrated by a
// newer quantixd than this one: the schema may hold things this binary would
// corrupt, so it refuses to run.
type SchemaTooNewError struct {
	// Database is the newest migration recorded in the database.
	Database int
	// Supported is the newest migration this binary knows.
	Supported int
}

// Error says which versions differ and what to do.
func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("database schema version %d is newer than this quantixd supports (%d); upgrade quantixd",
		e.Database, e.Supported)
}

// SQLite extended result codes of constraint violations
// (https://www.sqlite.org/rescode.html).
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
	// sqliteTooBig: a string or blob over SQLite's size limit.
	sqliteTooBig = 18
)

// pgDataException is the SQLSTATE class of values PostgreSQL cannot take
// (invalid text, out of range, too long).
const pgDataException = "22"

// PostgreSQL SQLSTATE codes of constraint violations.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
)

// PostgreSQL SQLSTATE codes of transactions aborted for the sake of
// others: run again, they may succeed.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// Retryable reports whether err is PostgreSQL aborting a transaction for
// the sake of another (a deadlock it broke, a serialization failure): the
// transaction wrote nothing and may succeed when run again as a whole from
// its start. A statement of a transaction that failed so cannot be retried
// alone.
func Retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == pgDeadlockDetected || pgErr.Code == pgSerializationFailure
}

// constraintNames says, per unique constraint, what a conflict on it means.
// SQLite names the columns ("vms.name"), PostgreSQL the constraint or index.
var constraintNames = map[string]string{
	"vms.id":                "a vm with this id exists",
	"vms_pkey":              "a vm with this id exists",
	"vms.name":              "the name is taken by another managed vm that is not TERMINATED",
	"vms_managed_name_key":  "the name is taken by another managed vm that is not TERMINATED",
	"nodes.id":              "a node with this id exists",
	"nodes_pkey":            "a node with this id exists",
	"nodes.name":            "the node name is taken by another node",
	"nodes_name_key":        "the node name is taken by another node",
	"vm_labels.vm_id":       "duplicate label key",
	"vm_labels_pkey":        "duplicate label key",
	"users.id":              "a user with this id exists",
	"users_pkey":            "a user with this id exists",
	"users.name":            "the user name is taken",
	"users_name_key":        "the user name is taken",
	"api_tokens.id":         "a token with this id exists",
	"api_tokens_pkey":       "a token with this id exists",
	"api_tokens.prefix":     "a token with this prefix exists",
	"api_tokens_prefix_key": "a token with this prefix exists",
	"sessions.id":           "a session with this id exists",
	"sessions_pkey":         "a session with this id exists",
	"sessions.hash":         "a session with this secret exists",
	"sessions_hash_key":     "a session with this secret exists",
	"join_tokens.id":        "a join token with this id exists",
	"join_tokens_pkey":      "a join token with this id exists",
	"node_certs.serial":     "a certificate with this serial is recorded",
	"node_certs_pkey":       "a certificate with this serial is recorded",
}

// dbError turns a driver error into one of the package's errors where one
// applies: a unique violation is ErrConflict (saying which constraint), a
// foreign key violation ErrNotFound (the row referred to is missing), a
// value the database cannot take (PostgreSQL's data exceptions, SQLite's
// too big) ErrInvalid. Other errors are returned unchanged. Callers add
// their own context.
func dbError(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgUniqueViolation:
			return fmt.Errorf("%w: %s", ErrConflict, conflictReason(pgErr.ConstraintName))
		case pgForeignKeyViolation:
			return fmt.Errorf("%w: %s", ErrNotFound, pgErr.Detail)
		}
		if strings.HasPrefix(pgErr.Code, pgDataException) {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return err
	}
	var sqlErr *gosqlite.Error
	if errors.As(err, &sqlErr) {
		switch sqlErr.Code() {
		case sqliteConstraintUnique, sqliteConstraintPrimaryKey:
			return fmt.Errorf("%w: %s", ErrConflict, conflictReason(sqliteConstraintColumn(sqlErr.Error())))
		case sqliteConstraintForeignKey:
			return fmt.Errorf("%w: the record referred to does not exist", ErrNotFound)
		case sqliteTooBig:
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return err
}

// sqliteConstraintColumn extracts "table.column" from SQLite's
// "UNIQUE constraint failed: table.column" message.
func sqliteConstraintColumn(msg string) string {
	const marker = "constraint failed: "
	i := strings.LastIndex(msg, marker)
	if i < 0 {
		return ""
	}
	rest := msg[i+len(marker):]
	if j := strings.IndexAny(rest, " ,("); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func conflictReason(constraint string) string {
	if r, ok := constraintNames[constraint]; ok {
		return r
	}
	if constraint == "" {
		return "a unique constraint would be violated"
	}
	return "unique constraint " + constraint + " would be violated"
}
