package wire

import (
	"context"
	"errors"

	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/plugin"
)

var kindToProto = map[plugin.Kind]agentv1.ErrorKind{
	plugin.KindInternal:        agentv1.ErrorKind_ERROR_KIND_INTERNAL,
	plugin.KindNotFound:        agentv1.ErrorKind_ERROR_KIND_NOT_FOUND,
	plugin.KindInvalidArgument: agentv1.ErrorKind_ERROR_KIND_INVALID_ARGUMENT,
	plugin.KindConflict:        agentv1.ErrorKind_ERROR_KIND_CONFLICT,
	plugin.KindUnavailable:     agentv1.ErrorKind_ERROR_KIND_UNAVAILABLE,
	plugin.KindUnsupported:     agentv1.ErrorKind_ERROR_KIND_UNSUPPORTED,
}

// ErrorToProto keeps what the control plane needs of a backend error: its
// kind (sdk/plugin), the field of an invalid argument, a deadline or a
// cancellation, and the message. nil gives nil.
func ErrorToProto(err error) *agentv1.Error {
	if err == nil {
		return nil
	}
	e := &agentv1.Error{Kind: agentv1.ErrorKind_ERROR_KIND_INTERNAL, Message: err.Error()}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		e.Kind = agentv1.ErrorKind_ERROR_KIND_DEADLINE_EXCEEDED
	case errors.Is(err, context.Canceled):
		e.Kind = agentv1.ErrorKind_ERROR_KIND_CANCELED
	default:
		e.Kind = kindToProto[plugin.KindOf(err)]
		e.Field = plugin.FieldOf(err)
	}
	return e
}

// ErrorFromProto rebuilds the error: a *plugin.Error of the kind the agent
// saw (errors.Is works with the plugin.Err* sentinels), or an error wrapping
// context.DeadlineExceeded or context.Canceled. nil gives nil.
func ErrorFromProto(p *agentv1.Error) error {
	if p == nil {
		return nil
	}
	msg := p.GetMessage()
	switch p.GetKind() {
	case agentv1.ErrorKind_ERROR_KIND_DEADLINE_EXCEEDED:
		return &contextError{msg: msg, err: context.DeadlineExceeded}
	case agentv1.ErrorKind_ERROR_KIND_CANCELED:
		return &contextError{msg: msg, err: context.Canceled}
	}
	for k, v := range kindToProto {
		if v == p.GetKind() {
			return &plugin.Error{Kind: k, Field: p.GetField(), Message: msg}
		}
	}
	return &plugin.Error{Kind: plugin.KindInternal, Message: msg}
}

// contextError is a deadline or a cancellation the agent met, with its
// message as the agent wrote it.
type contextError struct {
	msg string
	err error
}

func (e *contextError) Error() string { return e.msg }

// Unwrap returns context.DeadlineExceeded or context.Canceled.
func (e *contextError) Unwrap() error { return e.err }
