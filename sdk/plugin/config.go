package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// DecodeConfig decodes a plugin's `config {}` block, passed by the host as a
// JSON object, into dst. Unknown attributes and values of the wrong type are
// invalid-argument errors naming the attribute. Empty input leaves dst as is,
// so callers set defaults first.
func DecodeConfig(raw []byte, dst any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return InvalidArgument(typeErr.Field, "config: attribute %q must be %s, not %s", typeErr.Field, typeErr.Type, typeErr.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return InvalidArgument(field, "config: unknown attribute %q", field)
		default:
			return InvalidArgument("", "config: %v", err)
		}
	}
	return nil
}

// EncodeConfig is the host's side of DecodeConfig.
func EncodeConfig(cfg map[string]any) ([]byte, error) {
	if cfg == nil {
		cfg = map[string]any{}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding plugin config: %w", err)
	}
	return b, nil
}
