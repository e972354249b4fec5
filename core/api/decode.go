package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 1 << 20

const tooLargeMessage = "request body is larger than 1 MiB"

// decodeBody reads the request body, at most MaxBodyBytes, and decodes it
// into dst with decodeJSON.
func decodeBody(c echo.Context, dst any) error {
	req := c.Request()
	if req.ContentLength > MaxBodyBytes {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge, message: tooLargeMessage}
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return bodyError(err)
		}
		return badRequest("reading the request body: %v", err)
	}
	if err := decodeJSON(data, dst); err != nil {
		return bodyError(err)
	}
	return nil
}

// decodeJSON is the one decoder of what clients send (request bodies and
// each entry of a UI log batch): data must be one JSON object whose keys
// match the json names of dst's fields exactly (encoding/json alone also
// takes them in any case: {"NAME": ...} would set name), at every level of
// nesting, with nothing after it. Its errors are those of encoding/json,
// errNotObject, *unknownFieldError and errTrailingData; bodyError and
// entryDecodeError phrase them.
func decodeJSON(data []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &notObjectError{kind: tokenKind(tok)}
	}
	// Malformed JSON is told first, whatever the values hold.
	if !json.Valid(data) {
		return syntaxError(data)
	}
	if err := checkKeys(data, reflect.TypeOf(dst)); err != nil {
		return err
	}
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(dst)
}

// syntaxError is what is wrong with data, which json.Valid refused: an
// error of the decoder, with its offset, or errTrailingData.
func syntaxError(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return errTrailingData
}

// errTrailingData: more follows the object.
var errTrailingData = errors.New("unexpected data after the object")

// notObjectError: the value is valid JSON, but not an object.
type notObjectError struct{ kind string }

func (e *notObjectError) Error() string { return "expected an object, got " + e.kind }

// tokenKind names the JSON value a first token starts.
func tokenKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "array"
		}
	case string:
		return "string"
	case float64, json.Number:
		return "number"
	case bool:
		return "true or false"
	case nil:
		return "null"
	}
	return fmt.Sprint(tok)
}

// unknownFieldError: a key that no field of the object has, by exact
// name. In is where the object is ("" at the top, "disks[0]").
type unknownFieldError struct {
	key, in, known string
}

func (e *unknownFieldError) Error() string {
	msg := fmt.Sprintf("unknown field %q", e.key)
	if e.in != "" {
		msg += " in " + e.in
	}
	if e.known != "" {
		msg += fmt.Sprintf("; keys are case-sensitive: did you mean %q?", e.known)
	}
	return msg
}

// checkKeys walks the JSON value in data along type t and fails at the
// first object key that is not exactly the json name of a field of the
// struct it decodes into. Syntax errors are left to the decoding that
// follows, which reports them with their offset.
func checkKeys(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	err := walkKeys(dec, t, "")
	var ufe *unknownFieldError
	if errors.As(err, &ufe) {
		return err
	}
	return nil
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// walkKeys reads one value from dec, which decodes into t (nil: anything,
// not checked).
func walkKeys(dec *json.Decoder, t reflect.Type, at string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t == rawMessageType || t.Kind() == reflect.Interface {
		var skip json.RawMessage
		return dec.Decode(&skip)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		var fields map[string]reflect.Type
		var elem reflect.Type
		switch t.Kind() {
		case reflect.Struct:
			fields = jsonFields(t)
		case reflect.Map:
			elem = t.Elem()
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			vt, path := elem, joinPath(at, key)
			if fields != nil {
				ft, ok := fields[key]
				if !ok {
					return &unknownFieldError{key: key, in: at, known: caseless(fields, key)}
				}
				vt = ft
			}
			if err := walkKeys(dec, vt, path); err != nil {
				return err
			}
		}
	case '[':
		var elem reflect.Type
		if k := t.Kind(); k == reflect.Slice || k == reflect.Array {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := walkKeys(dec, elem, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

func joinPath(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

// caseless is the field named key but for case, if any.
func caseless(fields map[string]reflect.Type, key string) string {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return name
		}
	}
	return ""
}

// fieldCache holds jsonFields per struct type.
var fieldCache sync.Map

// jsonFields maps the json names of a struct's fields, as encoding/json
// names them (the tag's name, else the Go name; "-" leaves a field out;
// embedded structs without a name are flattened), to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, ok := m[k]; !ok {
						m[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldCache.Store(t, m)
	return m
}

// bodyError says what is wrong with a body.
func bodyError(err error) error {
	var (
		tooLarge  *http.MaxBytesError
		syntax    *json.SyntaxError
		typ       *json.UnmarshalTypeError
		notObject *notObjectError
		unknown   *unknownFieldError
	)
	switch {
	case errors.As(err, &tooLarge):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge, message: tooLargeMessage}
	case errors.Is(err, io.EOF):
		return badRequest("request body is empty: expected a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: the body ends in the middle of a value")
	case errors.As(err, &syntax):
		return badRequest("malformed JSON at byte %d: %s", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &notObject):
		return badRequest("malformed JSON: %s", notObject.Error())
	case errors.As(err, &unknown):
		return badRequest("%s", unknown.Error())
	case errors.Is(err, errTrailingData):
		return badRequest("malformed JSON: %s", err.Error())
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("malformed JSON: expected an object, got %s", typ.Value)
		}
		return unprocessable("%s: must be %s, not %s", typ.Field, jsonKind(typ.Type.String()), typ.Value)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return badRequest("unknown field %s", f)
	}
	return badRequest("malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(goType string) string {
	goType = strings.TrimPrefix(goType, "*")
	switch {
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map[") || strings.Contains(goType, "."):
		return "an object"
	}
	return fmt.Sprintf("a %s", goType)
}
