package enroll

import (
	"errors"
	"fmt"
)

// Kind classifies an enrollment error. The API maps the kinds of token
// management (KindInvalid, KindNotFound) to statuses; the agent server
// refuses an agent for any of the redeem kinds, showing it Message.
type Kind int

// The kinds of enrollment errors.
const (
	// KindInternal: a fault of the store or the daemon.
	KindInternal Kind = iota
	// KindInvalid: a field of a request has a value that is not accepted
	// (422); Field names it.
	KindInvalid
	// KindNotFound: no join token with that id (404).
	KindNotFound

	// The reasons Redeem refuses a token, one kind each.

	// KindMalformed: the text is not a join token (nor the static token).
	KindMalformed
	// KindUnknown: no join token has the text's id.
	KindUnknown
	// KindWrongSecret: the id is known, the secret is not its.
	KindWrongSecret
	// KindWrongCA: the token pins a CA other than this server's agent CA.
	KindWrongCA
	// KindExpired: the token's expiry has passed.
	KindExpired
	// KindUsedUp: the token has been used as many times as it allows.
	KindUsedUp
	// KindRevoked: the token was revoked.
	KindRevoked
)

// String names the kind as logs show it.
func (k Kind) String() string {
	switch k {
	case KindInternal:
		return "internal"
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not_found"
	case KindMalformed:
		return "malformed"
	case KindUnknown:
		return "unknown"
	case KindWrongSecret:
		return "wrong_secret"
	case KindWrongCA:
		return "wrong_ca"
	case KindExpired:
		return "expired"
	case KindUsedUp:
		return "used_up"
	case KindRevoked:
		return "revoked"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is a classified enrollment error. Message says what is wrong and
// how to fix it; it never holds a token's secret.
type Error struct {
	Kind    Kind
	Field   string
	Message string
	Err     error
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

func invalidf(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

func internal(what string, err error) *Error {
	return &Error{Kind: KindInternal, Message: fmt.Sprintf("%s: %v", what, err), Err: err}
}
