package auth

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an auth error; the API maps each kind to one status.
type Kind int

// The kinds of auth errors.
const (
	// KindInternal: a fault of the store or the daemon (500).
	KindInternal Kind = iota
	// KindUnauthenticated: no credentials, or credentials that are
	// malformed, unknown, wrong, expired or revoked (401).
	KindUnauthenticated
	// KindForbidden: authenticated, but the role does not allow it, or a
	// cookie-authenticated change lacks its CSRF token (403).
	KindForbidden
	// KindThrottled: too many failed logins for the user or the client
	// address (429); RetryAfter says when to try again.
	KindThrottled
	// KindInvalid: a field has a value that is not accepted (422); Field
	// names it.
	KindInvalid
	// KindNotFound: no such user or token (404).
	KindNotFound
	// KindConflict: a taken name, or a change that would leave no admin
	// (409).
	KindConflict
)

// Error is a classified auth error. Message is what the API shows: it
// names what is missing or wrong and never holds a secret.
type Error struct {
	Kind       Kind
	Field      string
	Message    string
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err: that of an *Error in its chain, else
// KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

func errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}
