package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 1 << 20

const tooLargeMessage = "request body is larger than 1 MiB"

// decodeBody decodes the request body, one JSON object, into dst. Unknown
// fields, trailing data and a body over MaxBodyBytes are refused.
func decodeBody(c echo.Context, dst any) error {
	req := c.Request()
	if req.ContentLength > MaxBodyBytes {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge, message: tooLargeMessage}
	}
	body := http.MaxBytesReader(c.Response(), req.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			return badRequest("malformed JSON: unexpected data after the object")
		}
		return bodyError(err)
	}
	return nil
}

// bodyError says what is wrong with a body.
func bodyError(err error) error {
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
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
