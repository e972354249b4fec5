package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/auth"
	"github.com/quantixvm/quantix/core/controlplane"
)

// Error codes of replies.
const (
	codeBadRequest       = "bad_request"
	codeInvalid          = "invalid_argument"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeConflict         = "conflict"
	codeTooLarge         = "payload_too_large"
	codeUnavailable      = "unavailable"
	codeUnsupported      = "unsupported"
	codeBackend          = "backend_error"
	codeInternal         = "internal"
	codeUnauthenticated  = "unauthenticated"
	codeForbidden        = "forbidden"
	codeTooManyRequests  = "too_many_requests"
)

// errorReply is the body of every error.
type errorReply struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// apiError is an error with its status and code decided.
type apiError struct {
	status  int
	code    string
	message string
	cause   error
	// retryAfter, when positive, is sent as Retry-After (whole seconds,
	// rounded up).
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.message }
func (e *apiError) Unwrap() error { return e.cause }

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeBadRequest, message: fmt.Sprintf(format, args...)}
}

func unprocessable(format string, args ...any) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: codeInvalid, message: fmt.Sprintf(format, args...)}
}

// kindStatus maps service error kinds to replies.
var kindStatus = map[controlplane.Kind]struct {
	status int
	code   string
}{
	controlplane.KindBadRequest:  {http.StatusBadRequest, codeBadRequest},
	controlplane.KindInvalid:     {http.StatusUnprocessableEntity, codeInvalid},
	controlplane.KindNotFound:    {http.StatusNotFound, codeNotFound},
	controlplane.KindConflict:    {http.StatusConflict, codeConflict},
	controlplane.KindUnavailable: {http.StatusServiceUnavailable, codeUnavailable},
	controlplane.KindUnsupported: {http.StatusNotImplemented, codeUnsupported},
	controlplane.KindBackend:     {http.StatusBadGateway, codeBackend},
	controlplane.KindInternal:    {http.StatusInternalServerError, codeInternal},
}

// authKindStatus maps auth error kinds to replies.
var authKindStatus = map[auth.Kind]struct {
	status int
	code   string
}{
	auth.KindUnauthenticated: {http.StatusUnauthorized, codeUnauthenticated},
	auth.KindForbidden:       {http.StatusForbidden, codeForbidden},
	auth.KindThrottled:       {http.StatusTooManyRequests, codeTooManyRequests},
	auth.KindInvalid:         {http.StatusUnprocessableEntity, codeInvalid},
	auth.KindNotFound:        {http.StatusNotFound, codeNotFound},
	auth.KindConflict:        {http.StatusConflict, codeConflict},
}

// unauthenticated and forbidden are the 401 and 403 of the API's own
// checks.
func unauthenticated(format string, args ...any) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: codeUnauthenticated, message: fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) *apiError {
	return &apiError{status: http.StatusForbidden, code: codeForbidden, message: fmt.Sprintf(format, args...)}
}

// setRetryAfter sets Retry-After to d in whole seconds, at least 1.
func setRetryAfter(c echo.Context, d time.Duration) int {
	secs := max(int(math.Ceil(d.Seconds())), 1)
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return secs
}

// classify decides the status, code and message of err. Internal faults
// are not shown to clients: the message points to the daemon's log. What
// the message echoes of the request is cut short (shortMessage).
func classify(c echo.Context, err error) *apiError {
	ae := classifyFull(c, err)
	if msg := shortMessage(ae.message); msg != ae.message {
		short := *ae
		short.message = msg
		return &short
	}
	return ae
}

func classifyFull(c echo.Context, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return echoError(c, he)
	}
	var ue *auth.Error
	if errors.As(err, &ue) && ue.Kind != auth.KindInternal {
		m := authKindStatus[ue.Kind]
		return &apiError{status: m.status, code: m.code, message: ue.Message, cause: err, retryAfter: ue.RetryAfter}
	}
	var ce *controlplane.Error
	if errors.As(err, &ce) && ce.Kind != controlplane.KindInternal {
		m := kindStatus[ce.Kind]
		return &apiError{status: m.status, code: m.code, message: ce.Message, cause: err}
	}
	return &apiError{status: http.StatusInternalServerError, code: codeInternal, cause: err,
		message: fmt.Sprintf("internal error (request id %s); see the daemon's log", requestID(c))}
}

func echoError(c echo.Context, he *echo.HTTPError) *apiError {
	msg := fmt.Sprint(he.Message)
	switch he.Code {
	case http.StatusNotFound:
		return &apiError{status: he.Code, code: codeNotFound, message: fmt.Sprintf("no route %s %s", c.Request().Method, cut(c.Request().URL.Path))}
	case http.StatusMethodNotAllowed:
		return &apiError{status: he.Code, code: codeMethodNotAllowed, message: fmt.Sprintf("method %s is not allowed on %s", c.Request().Method, cut(c.Request().URL.Path))}
	case http.StatusRequestEntityTooLarge:
		return &apiError{status: he.Code, code: codeTooLarge, message: tooLargeMessage}
	case http.StatusBadRequest:
		return &apiError{status: he.Code, code: codeBadRequest, message: msg}
	}
	if he.Code >= 500 {
		return &apiError{status: he.Code, code: codeInternal, message: fmt.Sprintf("internal error (request id %s); see the daemon's log", requestID(c)), cause: he}
	}
	return &apiError{status: he.Code, code: strings.ToLower(strings.ReplaceAll(http.StatusText(he.Code), " ", "_")), message: msg}
}

// errorHandler renders every error that reaches echo as {"code", "message"}.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	ae := classify(c, err)
	if ae.status >= 500 {
		s.log.Error("request failed", "request_id", requestID(c), "method", c.Request().Method, "path", cut(c.Request().URL.Path), "error", shortMessage(err.Error()))
	}
	switch ae.status {
	case http.StatusUnauthorized:
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="quantix"`)
	case http.StatusTooManyRequests:
		if ae.retryAfter > 0 {
			setRetryAfter(c, ae.retryAfter)
		}
	}
	if werr := c.JSON(ae.status, errorReply{Code: ae.code, Message: ae.message}); werr != nil {
		s.log.Debug("writing an error reply", "request_id", requestID(c), "error", werr)
	}
}
