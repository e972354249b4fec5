package pluginhost

import (
	"errors"
	"fmt"
	"strings"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// ErrClosed is the cause of the unavailable error every call returns once
// the plugin (or the host) was closed.
var ErrClosed = errors.New("plugin host closed")

// ErrPluginExited is the cause of the unavailable error calls return while a
// plugin process that exited is being relaunched.
var ErrPluginExited = errors.New("plugin process exited")

// unavailable builds the error calls on backend plugin name get while it
// cannot answer. It matches plugin.ErrUnavailable and wraps cause.
func unavailable(name string, cause error) error {
	return unavailableOf(plugin.TypeBackend, name, cause)
}

// unavailableOf is unavailable for a plugin of type t.
func unavailableOf(t plugin.Type, name string, cause error) error {
	switch {
	case errors.Is(cause, ErrClosed):
		return plugin.Unavailable("%s plugin %q is shut down (%w)", t, name, cause)
	case cause == nil:
		return plugin.Unavailable("%s plugin %q is not running (%w); it is being relaunched, retry shortly", t, name, ErrPluginExited)
	default:
		return plugin.Unavailable("%s plugin %q is not running (%w); it is being relaunched, retry shortly", t, name, cause)
	}
}

// configError wraps an error a plugin's Configure returned with the plugin's
// name and the config block it came from. The kind and field of a
// *plugin.Error are kept, so errors.As and errors.Is still see them.
func configError(name string, err error) error {
	return configErrorOf("plugin", name, err)
}

// configErrorOf is configError for a plugin configured by a block of type
// block ("plugin", "log_sink").
func configErrorOf(block, name string, err error) error {
	var perr *plugin.Error
	if !errors.As(err, &perr) {
		return fmt.Errorf("%s %q config: %w; fix the config block of %s %q", block, name, err, block, name)
	}
	msg := strings.TrimPrefix(perr.Message, "config: ")
	hint := fmt.Sprintf("fix the config block of %s %q", block, name)
	if perr.Kind == plugin.KindUnavailable {
		hint = "check that what the plugin drives is reachable"
	}
	return &plugin.Error{
		Kind:    perr.Kind,
		Field:   perr.Field,
		Message: fmt.Sprintf("%s %q config: %s; %s", block, name, msg, hint),
		Err:     err,
	}
}
