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
// *notObjectError, *unknownFieldError and errTrailingData; bodyError and
// entryDecodeError phrase them.
func decodeJSON(data []byte, dst any) error {
	start := bytes.TrimLeft(data, " \t\r\n")
	if len(start) == 0 {
		return io.EOF
	}
	// Malformed JSON is told first, whatever the values hold.
	if !json.Valid(data) {
		if start[0] == '[' {
			return &notObjectError{kind: "array"}
		}
		return syntaxError(data)
	}
	if start[0] != '{' {
		return &notObjectError{kind: valueKind(start[0])}
	}
	if err := checkKeys(data, reflect.TypeOf(dst)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
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

// valueKind names the JSON value that starts with c.
func valueKind(c byte) string {
	switch c {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "null"
	}
	return "number"
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

// checkKeys scans the JSON value in data, which json.Valid accepted,
// along type t and fails at the first object key that is not exactly the
// json name of a field of the struct it decodes into. It reads bytes, not
// tokens: it runs on every body and every UI entry.
func checkKeys(data []byte, t reflect.Type) error {
	s := keyScanner{data: data}
	return s.value(t)
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// keyScanner reads valid JSON from data at i.
type keyScanner struct {
	data []byte
	i    int
}

// value reads one value, which decodes into t (nil: anything, whose keys
// are not checked).
func (s *keyScanner) value(t reflect.Type) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType || (t != nil && t.Kind() == reflect.Interface) {
		t = nil
	}
	s.space()
	if s.i >= len(s.data) {
		return nil
	}
	switch s.data[s.i] {
	case '{':
		return s.object(t)
	case '[':
		return s.array(t)
	case '"':
		s.str()
	default: // a number, true, false or null
		for s.i < len(s.data) && !isDelim(s.data[s.i]) {
			s.i++
		}
	}
	return nil
}

func (s *keyScanner) object(t reflect.Type) error {
	var fields map[string]reflect.Type
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = jsonFields(t)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	s.i++ // {
	for {
		s.space()
		if s.i >= len(s.data) {
			return nil
		}
		switch s.data[s.i] {
		case '}':
			s.i++
			return nil
		case ',':
			s.i++
			continue
		}
		raw := s.str()
		s.space()
		s.i++ // :
		vt := elem
		if fields != nil {
			ft, ok := fields[string(raw)]
			if !ok || bytes.IndexByte(raw, '\\') >= 0 {
				key := jsonKey(raw)
				if ft, ok = fields[key]; !ok {
					return &unknownFieldError{key: key, known: caseless(fields, key)}
				}
			}
			vt = ft
		}
		if err := s.value(vt); err != nil {
			return within(err, jsonKey(raw))
		}
	}
}

func (s *keyScanner) array(t reflect.Type) error {
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	s.i++ // [
	for n := 0; ; n++ {
		s.space()
		if s.i >= len(s.data) {
			return nil
		}
		switch s.data[s.i] {
		case ']':
			s.i++
			return nil
		case ',':
			s.i++
		}
		if err := s.value(elem); err != nil {
			return within(err, fmt.Sprintf("[%d]", n))
		}
	}
}

// str reads a string and returns what is between its quotes, as written.
func (s *keyScanner) str() []byte {
	s.i++ // "
	start := s.i
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			return s.data[start : s.i-1]
		}
		s.i++
	}
	return s.data[start:min(s.i, len(s.data))]
}

func (s *keyScanner) space() {
	for s.i < len(s.data) && isSpace(s.data[s.i]) {
		s.i++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isDelim(c byte) bool { return c == ',' || c == '}' || c == ']' || isSpace(c) }

// jsonKey is the key whose quoted text, without its quotes, is raw.
func jsonKey(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	var key string
	if err := json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &key); err != nil {
		return string(raw)
	}
	return key
}

// within places an unknownFieldError found in the value of seg (a key, or
// "[n]") there.
func within(err error, seg string) error {
	var ufe *unknownFieldError
	if errors.As(err, &ufe) {
		switch {
		case ufe.in == "" || strings.HasPrefix(ufe.in, "["):
			ufe.in = seg + ufe.in
		default:
			ufe.in = seg + "." + ufe.in
		}
	}
	return err
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
