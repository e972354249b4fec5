package plugin

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kind classifies a plugin error. Kinds survive the gRPC boundary, so the host
// can tell a missing VM from a bad request from a plugin that is down.
type Kind int

const (
	// KindInternal is anything not classified below.
	KindInternal Kind = iota
	// KindNotFound: the object asked for does not exist.
	KindNotFound
	// KindInvalidArgument: a field of the request is wrong; Field names it.
	KindInvalidArgument
	// KindConflict: the request clashes with the current state (a duplicate
	// name, pausing a stopped VM).
	KindConflict
	// KindUnavailable: the plugin or what it drives cannot answer now; retry
	// later.
	KindUnavailable
	// KindUnsupported: the plugin does not implement this operation.
	KindUnsupported
)

func (k Kind) String() string {
	switch k {
	case KindNotFound:
		return "not found"
	case KindInvalidArgument:
		return "invalid argument"
	case KindConflict:
		return "conflict"
	case KindUnavailable:
		return "unavailable"
	case KindUnsupported:
		return "unsupported"
	default:
		return "internal"
	}
}

// Sentinel errors for errors.Is: errors.Is(err, plugin.ErrNotFound) holds for
// any *Error of that kind, on either side of the wire.
var (
	ErrNotFound        = &Error{Kind: KindNotFound, Message: "not found"}
	ErrInvalidArgument = &Error{Kind: KindInvalidArgument, Message: "invalid argument"}
	ErrConflict        = &Error{Kind: KindConflict, Message: "conflict"}
	ErrUnavailable     = &Error{Kind: KindUnavailable, Message: "unavailable"}
	ErrUnsupported     = &Error{Kind: KindUnsupported, Message: "unsupported"}
)

// Error is a classified plugin error.
type Error struct {
	Kind Kind
	// Field names the offending request field for KindInvalidArgument, as a
	// path such as "spec.disks[0].size_gib".
	Field string
	// Message says what is wrong, lowercase, starting with context.
	Message string
	// Err is the underlying cause, if any; it does not cross the wire.
	Err error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches any *Error of the same kind, so the sentinels work with errors.Is.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && (t.Field == "" || t.Field == e.Field)
}

// The helpers below build an *Error of one kind. All take a format and its
// arguments as fmt.Errorf does, %w included: a cause wrapped with %w is kept
// for errors.Is and errors.As in the plugin's process (it does not cross the
// wire; its text, being part of the message, does):
//
//	plugin.NotFound("vm %q not found", id)
//	plugin.Unavailable("connecting to %s: %w", uri, err)
//
// InvalidArgument also names the offending field.

// NotFound builds a KindNotFound error.
func NotFound(format string, args ...any) error {
	return newError(KindNotFound, "", format, args)
}

// InvalidArgument builds a KindInvalidArgument error naming field.
func InvalidArgument(field, format string, args ...any) error {
	return newError(KindInvalidArgument, field, format, args)
}

// Conflict builds a KindConflict error.
func Conflict(format string, args ...any) error {
	return newError(KindConflict, "", format, args)
}

// Unavailable builds a KindUnavailable error.
func Unavailable(format string, args ...any) error {
	return newError(KindUnavailable, "", format, args)
}

// Unsupported builds a KindUnsupported error.
func Unsupported(format string, args ...any) error {
	return newError(KindUnsupported, "", format, args)
}

// newError formats the message; when it wraps causes (%w), Err is the
// formatted error, which unwraps to them.
func newError(kind Kind, field, format string, args []any) *Error {
	err := fmt.Errorf(format, args...)
	e := &Error{Kind: kind, Field: field, Message: err.Error()}
	switch err.(type) {
	case interface{ Unwrap() error }, interface{ Unwrap() []error }:
		e.Err = err
	}
	return e
}

// KindOf returns the kind of err, KindInternal when it is not classified.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// FieldOf returns the field an invalid-argument error names, or "".
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

var kindCodes = map[Kind]codes.Code{
	KindNotFound:        codes.NotFound,
	KindInvalidArgument: codes.InvalidArgument,
	KindConflict:        codes.FailedPrecondition,
	KindUnavailable:     codes.Unavailable,
	KindUnsupported:     codes.Unimplemented,
	KindInternal:        codes.Internal,
}

// ToStatus turns err into a gRPC status error, keeping its kind and field.
// Plugin servers call it on every error they return.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	var e *Error
	if !errors.As(err, &e) {
		return status.Error(codes.Internal, err.Error())
	}
	st := status.New(kindCodes[e.Kind], err.Error())
	if e.Field != "" {
		withField, derr := st.WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: e.Field, Description: e.Message}},
		})
		if derr == nil {
			st = withField
		}
	}
	return st.Err()
}

// FromStatus turns a gRPC error back into an *Error of the right kind. The
// host's client wrappers call it on every error a plugin returns. A broken
// connection (the plugin died) becomes KindUnavailable.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Canceled:
		return fmt.Errorf("%s: %w", msg, context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w", msg, context.DeadlineExceeded)
	case codes.NotFound:
		return &Error{Kind: KindNotFound, Message: msg}
	case codes.InvalidArgument:
		e := &Error{Kind: KindInvalidArgument, Message: msg}
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok && len(br.FieldViolations) > 0 {
				e.Field = br.FieldViolations[0].Field
			}
		}
		return e
	case codes.FailedPrecondition, codes.AlreadyExists, codes.Aborted:
		return &Error{Kind: KindConflict, Message: msg}
	case codes.Unavailable:
		return &Error{Kind: KindUnavailable, Message: "plugin unavailable: " + msg, Err: err}
	case codes.Unimplemented:
		return &Error{Kind: KindUnsupported, Message: msg}
	default:
		return &Error{Kind: KindInternal, Message: msg, Err: err}
	}
}
