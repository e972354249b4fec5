package logsink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// Validate checks what every sink relies on: an id and a timestamp, a known
// level and source, a known component or none, fields that are a JSON
// object or nothing, and valid UTF-8 everywhere. Errors are invalid-argument
// errors naming the field. The gRPC client and server validate every entry,
// so a sink served by Serve only ever sees valid ones; an invalid entry gets
// a permanent result saying why.
func (e Entry) Validate() error {
	if e.ID == "" {
		return plugin.InvalidArgument("id", "entry: id must not be empty")
	}
	for _, f := range []struct{ name, v string }{
		{"id", e.ID}, {"component", string(e.Component)}, {"message", e.Message},
		{"vm_id", e.VMID}, {"node_id", e.NodeID}, {"user_id", e.UserID},
		{"session_id", e.SessionID}, {"correlation_id", e.CorrelationID},
		{"action", e.Action}, {"target", e.Target},
	} {
		if !utf8.ValidString(f.v) {
			return plugin.InvalidArgument(f.name, "entry %s: %s is not valid UTF-8", safeID(e.ID), f.name)
		}
	}
	if e.Timestamp.IsZero() {
		return plugin.InvalidArgument("timestamp", "entry %s: timestamp must be set", e.ID)
	}
	if e.Level.Rank() < 0 {
		return plugin.InvalidArgument("level", "entry %s: level %q is not one of %s", e.ID, e.Level, joinAll(Levels))
	}
	if !slices.Contains(Sources, e.Source) {
		return plugin.InvalidArgument("source", "entry %s: source %q is not one of %s", e.ID, e.Source, joinAll(Sources))
	}
	if e.Component != "" && !slices.Contains(Components, e.Component) {
		return plugin.InvalidArgument("component", "entry %s: component %q is not one of %s", e.ID, e.Component, joinAll(Components))
	}
	if err := checkFields(e.Fields); err != nil {
		return plugin.InvalidArgument("fields", "entry %s: fields: %v", e.ID, err)
	}
	return nil
}

// safeID is id fit for an error message, which must be valid UTF-8 to
// cross the wire.
func safeID(id string) string { return strings.ToValidUTF8(id, "\uFFFD") }

// checkFields accepts nothing, JSON null or a JSON object.
func checkFields(raw json.RawMessage) error {
	f := bytes.TrimSpace(raw)
	if len(f) == 0 || string(f) == "null" {
		return nil
	}
	if f[0] != '{' {
		return fmt.Errorf("must be a JSON object, not %.20q", f)
	}
	if !json.Valid(f) {
		return fmt.Errorf("not valid JSON")
	}
	if !utf8.Valid(f) {
		return fmt.Errorf("not valid UTF-8")
	}
	return nil
}

func joinAll[T ~string](list []T) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
