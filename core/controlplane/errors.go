package controlplane

import (
	"context"
	"errors"
	"fmt"

	"github.com/quantixvm/quantix/core/agent/wire"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Kind classifies a service error; the API maps each kind to one HTTP
// status.
type Kind int

// The kinds of service errors.
const (
	// KindInternal: a fault of the control plane itself (500).
	KindInternal Kind = iota
	// KindBadRequest: a malformed query parameter or cursor (400).
	KindBadRequest
	// KindInvalid: a field has a value the model does not accept (422);
	// Field names it.
	KindInvalid
	// KindNotFound: no such VM or node (404).
	KindNotFound
	// KindConflict: the request clashes with the current state: a refused
	// transition, a taken name, a concurrent change (409).
	KindConflict
	// KindUnavailable: the VM's node cannot be reached now (503).
	KindUnavailable
	// KindUnsupported: the node's backend does not implement the operation
	// (501).
	KindUnsupported
	// KindBackend: the node's backend failed the operation (502).
	KindBackend
)

// Error is a classified service error. Message is what the API shows; VM,
// when set, is the VM as it is after the failure (action replies carry it).
type Error struct {
	Kind    Kind
	Field   string
	Message string
	VM      *vm.VM
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

func invalid(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(ref string) *Error {
	return &Error{Kind: KindNotFound, Message: fmt.Sprintf("vm %q not found", ref), Err: store.ErrNotFound}
}

// transitionError turns a refused vm.Check into a conflict naming the VM.
func transitionError(v *vm.VM, err error) *Error {
	var te *vm.TransitionError
	if errors.As(err, &te) {
		return &Error{Kind: KindConflict, Message: fmt.Sprintf("vm %q: %v", v.Name, te), VM: v, Err: err}
	}
	return &Error{Kind: KindInternal, Message: fmt.Sprintf("vm %q: %v", v.Name, err), VM: v, Err: err}
}

// storeError classifies an error of the store.
func storeError(what string, err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, store.ErrNotFound):
		return &Error{Kind: KindNotFound, Message: what + ": not found", Err: err}
	case errors.Is(err, store.ErrConflict):
		return &Error{Kind: KindConflict, Message: fmt.Sprintf("%s: %v", what, err), Err: err}
	case errors.Is(err, store.ErrFenced):
		// Never retried as stale: this server no longer leads.
		return &Error{Kind: KindUnavailable, Message: fmt.Sprintf("%s: %v", what, err), Err: err}
	case errors.Is(err, store.ErrStale):
		return &Error{Kind: KindConflict, Message: what + ": the vm kept changing concurrently; retry", Err: err}
	case errors.Is(err, store.ErrInvalid):
		return &Error{Kind: KindBadRequest, Message: fmt.Sprintf("%s: %v", what, err), Err: err}
	}
	return &Error{Kind: KindInternal, Message: fmt.Sprintf("%s: %v", what, err), Err: err}
}

// hostError classifies what a node returned for a command on v (nil for
// create). hint, when set, is appended to the message of an unavailable
// node.
func hostError(v *vm.VM, nodeID string, op agentv1.Op, err error, hint string) *Error {
	name := wire.OpName(op)
	subject := "vm"
	if v != nil {
		subject = fmt.Sprintf("vm %q", v.Name)
	}
	e := &Error{VM: v, Err: err}
	switch {
	case errors.Is(err, nodeapi.ErrNodeUnavailable) || plugin.KindOf(err) == plugin.KindUnavailable:
		e.Kind = KindUnavailable
		e.Message = fmt.Sprintf("%s: node %s is unavailable, cannot %s now: %v", subject, nodeID, name, err)
		if hint != "" {
			e.Message += "; " + hint
		}
	case errors.Is(err, context.DeadlineExceeded):
		e.Kind = KindBackend
		e.Message = fmt.Sprintf("%s: %s on node %s timed out: %v", subject, name, nodeID, err)
	default:
		switch plugin.KindOf(err) {
		case plugin.KindNotFound:
			e.Kind = KindConflict
			e.Message = fmt.Sprintf("%s: node %s does not have it (%v); reset_state corrects the record", subject, nodeID, err)
		case plugin.KindConflict:
			e.Kind = KindConflict
			e.Message = fmt.Sprintf("%s: %v", subject, err)
		case plugin.KindInvalidArgument:
			e.Kind = KindInvalid
			e.Field = plugin.FieldOf(err)
			e.Message = err.Error()
		case plugin.KindUnsupported:
			e.Kind = KindUnsupported
			e.Field = plugin.FieldOf(err)
			e.Message = fmt.Sprintf("%s: the backend of node %s cannot %s: %v", subject, nodeID, name, err)
		default:
			e.Kind = KindBackend
			e.Message = fmt.Sprintf("%s: %s failed on node %s: %v", subject, name, nodeID, err)
		}
	}
	return e
}
