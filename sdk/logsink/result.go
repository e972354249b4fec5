package logsink

import (
	"context"
	"errors"
	"fmt"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// Outcome says what became of one entry of a Write.
type Outcome uint8

// Outcomes. The zero Outcome is none of them: a Result must be set.
const (
	// Delivered: the entry reached the destination.
	Delivered Outcome = iota + 1
	// Retryable: the entry was not delivered, for a reason that may pass
	// (the destination is down, a timeout); the host sends it again later.
	Retryable
	// Permanent: the entry can never be delivered as it is (the
	// destination refused it); the host drops it and counts it.
	Permanent
)

// String names the outcome: delivered, retryable or permanent.
func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Retryable:
		return "retryable"
	case Permanent:
		return "permanent"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Result is what became of one entry.
type Result struct {
	Outcome Outcome
	// Message says why the entry was not delivered, lowercase and starting
	// with context; empty when it was.
	Message string
}

// OK is the result of a delivered entry.
func OK() Result { return Result{Outcome: Delivered} }

// RetryLater is the result of an entry that was not delivered for a reason
// that may pass.
func RetryLater(format string, args ...any) Result {
	return Result{Outcome: Retryable, Message: fmt.Sprintf(format, args...)}
}

// Refused is the result of an entry that can never be delivered as it is.
func Refused(format string, args ...any) Result {
	return Result{Outcome: Permanent, Message: fmt.Sprintf(format, args...)}
}

// Delivered reports whether the entry was delivered.
func (r Result) Delivered() bool { return r.Outcome == Delivered }

// Err is nil for a delivered entry, an error matching plugin.ErrUnavailable
// for a retryable one and plugin.ErrInvalidArgument for a permanent one.
func (r Result) Err() error {
	switch r.Outcome {
	case Delivered:
		return nil
	case Retryable:
		return plugin.Unavailable("%s", r.Message)
	case Permanent:
		return plugin.InvalidArgument("", "%s", r.Message)
	}
	return fmt.Errorf("log sink result without an outcome: %s", r.Message)
}

// String describes the result for logs and test failures.
func (r Result) String() string {
	if r.Message == "" {
		return r.Outcome.String()
	}
	return r.Outcome.String() + ": " + r.Message
}

// ResultOf classifies err, the error of a Write that failed as a whole or
// of one entry: nil is delivered; an error of kind unavailable or internal,
// a cancelled call or a timeout is retryable; any other kind (invalid
// argument, not found, conflict, unsupported) is permanent.
func ResultOf(err error) Result {
	if err == nil {
		return OK()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Result{Outcome: Retryable, Message: err.Error()}
	}
	switch plugin.KindOf(err) {
	case plugin.KindUnavailable, plugin.KindInternal:
		return Result{Outcome: Retryable, Message: err.Error()}
	default:
		return Result{Outcome: Permanent, Message: err.Error()}
	}
}

// ResultsOf returns n copies of ResultOf(err).
func ResultsOf(err error, n int) []Result {
	r := ResultOf(err)
	out := make([]Result, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// AllDelivered returns n delivered results.
func AllDelivered(n int) []Result {
	out := make([]Result, n)
	for i := range out {
		out[i] = Result{Outcome: Delivered}
	}
	return out
}
