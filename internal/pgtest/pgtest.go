// Package pgtest holds what tests need to reach the PostgreSQL server the
// project's scripts start: its DSN (overridable through EnvDSN), a way to
// point a DSN at another database or schema, and a way to print a DSN
// without its password.
package pgtest

import (
	"net/url"
	"os"
	"regexp"
	"strings"
)

// EnvDSN overrides DefaultDSN.
const EnvDSN = "QUANTIX_TEST_POSTGRES_DSN"

// DefaultDSN is the server scripts/setup-host.sh starts.
const DefaultDSN = "host=127.0.0.1 port=5432 user=quantix password=quantix dbname=postgres sslmode=disable"

// AdminDSN is the DSN of the server's maintenance database: $EnvDSN, or
// DefaultDSN.
func AdminDSN() string {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// WithParam sets key=value in a libpq key=value DSN or a postgres:// URL.
func WithParam(dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return dsn
		}
		if key == "dbname" {
			u.Path = "/" + value
			return u.String()
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	// In a key=value DSN a later key wins.
	return dsn + " " + key + "=" + value
}

var (
	kvPasswordRE  = regexp.MustCompile(`(password=)\S+`)
	urlPasswordRE = regexp.MustCompile(`(://[^:/@]+:)[^@]+@`)
)

// Redact hides the password of a DSN, for messages.
func Redact(dsn string) string {
	return urlPasswordRE.ReplaceAllString(kvPasswordRE.ReplaceAllString(dsn, "${1}xxx"), "${1}xxx@")
}
