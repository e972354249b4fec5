package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
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
			if path := unknownPath(raw, reflect.TypeOf(dst), field); path != "" {
				field = path
			}
			return InvalidArgument(field, "config: unknown attribute %q", field)
		default:
			return InvalidArgument("", "config: %v", err)
		}
	}
	return nil
}

// unknownPath returns the path of the attribute of the JSON value raw that
// no field of t takes and is named leaf, the way encoding/json names fields
// in type errors ("vms.colour", "disks[1].size"); "" when there is none.
// encoding/json reports an unknown field by its name only.
func unknownPath(raw []byte, t reflect.Type, leaf string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return ""
		}
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			f, ok := jsonField(t, key)
			if !ok {
				if key == leaf {
					return key
				}
				continue
			}
			if sub := unknownPath(obj[key], f.Type, leaf); sub != "" {
				return joinPath(key, sub)
			}
		}
	case reflect.Map:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return ""
		}
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			if sub := unknownPath(obj[key], t.Elem(), leaf); sub != "" {
				return joinPath(key, sub)
			}
		}
	case reflect.Slice, reflect.Array:
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil {
			return ""
		}
		for i, item := range list {
			if sub := unknownPath(item, t.Elem(), leaf); sub != "" {
				return joinPath(fmt.Sprintf("[%d]", i), sub)
			}
		}
	}
	return ""
}

// joinPath appends sub, a path inside the attribute or element key, to key.
func joinPath(key, sub string) string {
	if strings.HasPrefix(sub, "[") {
		return key + sub
	}
	return key + "." + sub
}

// jsonField returns the field of struct t that encoding/json decodes the
// object key into.
func jsonField(t reflect.Type, key string) (reflect.StructField, bool) {
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				continue // its fields are promoted
			}
			name = f.Name
		}
		if strings.EqualFold(name, key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
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
