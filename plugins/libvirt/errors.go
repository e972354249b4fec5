package libvirt

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/plugin"
)

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// checkID accepts only canonical UUIDs as VM ids and returns the id in
// lower case.
func checkID(id string) (string, error) {
	if !uuidRE.MatchString(id) {
		return "", plugin.InvalidArgument("id", "id: %q is not a uuid", id)
	}
	return strings.ToLower(id), nil
}

// virError returns the libvirt error inside err, if there is one.
func virError(err error) (libvirt.Error, bool) {
	var lv libvirt.Error
	if errors.As(err, &lv) {
		return lv, true
	}
	var plv *libvirt.Error
	if errors.As(err, &plv) && plv != nil {
		return *plv, true
	}
	return libvirt.Error{}, false
}

// hasCode reports whether err is a libvirt error with one of codes.
func hasCode(err error, codes ...libvirt.ErrorNumber) bool {
	lv, ok := virError(err)
	if !ok {
		return false
	}
	for _, c := range codes {
		if lv.Code == c {
			return true
		}
	}
	return false
}

// isConnectionError reports whether err says the connection to libvirtd is
// broken rather than that the request failed.
func isConnectionError(err error) bool {
	lv, ok := virError(err)
	if !ok {
		return false
	}
	switch lv.Code {
	case libvirt.ERR_NO_CONNECT, libvirt.ERR_INVALID_CONN, libvirt.ERR_RPC:
		return true
	}
	return lv.Domain == libvirt.FROM_RPC
}

// classify turns an error into a plugin error of the right kind whose
// message starts with the context built from format and args. Errors that
// already have a kind keep it; libvirt errors get one from their code.
func classify(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...) + ": " + describe(err)
	var pe *plugin.Error
	if errors.As(err, &pe) {
		return &plugin.Error{Kind: pe.Kind, Field: pe.Field, Message: msg, Err: err}
	}
	if _, ok := virError(err); !ok {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
	}
	return &plugin.Error{Kind: virKind(err), Message: msg, Err: err}
}

// virKind is the plugin error kind of a libvirt error.
func virKind(err error) plugin.Kind {
	lv, _ := virError(err)
	switch {
	case isConnectionError(err):
		return plugin.KindUnavailable
	case lv.Code == libvirt.ERR_NO_DOMAIN:
		return plugin.KindNotFound
	case lv.Code == libvirt.ERR_OPERATION_INVALID, lv.Code == libvirt.ERR_STORAGE_VOL_EXIST:
		return plugin.KindConflict
	case lv.Code == libvirt.ERR_OPERATION_TIMEOUT, lv.Code == libvirt.ERR_AGENT_UNRESPONSIVE:
		return plugin.KindUnavailable
	}
	return plugin.KindInternal
}

// describe renders err for a message, with libvirt's own text in place of
// the binding's "virError(Code=..., ...)" form.
func describe(err error) string {
	s := err.Error()
	if lv, ok := virError(err); ok {
		s = strings.Replace(s, lv.Error(), lowerFirst(lv.Message), 1)
	}
	return s
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// vmNotFound is the error for an id no domain has.
func vmNotFound(id string) error {
	return plugin.NotFound("vm %q not found", id)
}
