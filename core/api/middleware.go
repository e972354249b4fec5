package api

import (
	"fmt"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"github.com/labstack/echo/v4"
)

// HeaderRequestID carries the request id both ways.
const HeaderRequestID = "X-Request-Id"

// HeaderCorrelationID carries a client's correlation id: the id of an
// operation of the client (a UI action) that may take several API calls.
// It becomes the correlation_id of the audit entries of each of them and is
// echoed in the reply; one that is not short and plain (as for
// HeaderRequestID) is ignored.
const HeaderCorrelationID = "X-Correlation-Id"

const (
	requestIDKey     = "request_id"
	correlationIDKey = "correlation_id"
)

// A client's request or correlation id is kept when it is short and plain.
var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:/+=-]{1,128}$`)

// withRequestID takes the client's request id or makes one, and echoes it
// in the reply; it keeps the client's correlation id, when usable, and
// echoes it too.
func withRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		id := h.Get(HeaderRequestID)
		if !requestIDRE.MatchString(id) {
			id = uuid.NewString()
		}
		c.Set(requestIDKey, id)
		c.Response().Header().Set(HeaderRequestID, id)
		if corr := h.Get(HeaderCorrelationID); corr != "" && requestIDRE.MatchString(corr) {
			c.Set(correlationIDKey, corr)
			c.Response().Header().Set(HeaderCorrelationID, corr)
		}
		return next(c)
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(requestIDKey).(string)
	return id
}

// correlationID is the correlation id of the request's audit entries: the
// client's X-Correlation-Id, else the request id.
func correlationID(c echo.Context) string {
	if id, _ := c.Get(correlationIDKey).(string); id != "" {
		return id
	}
	return requestID(c)
}

// accessLog logs every request once its reply is written; an error a
// handler returns is rendered first, so the logged status is the one sent.
// An authenticated request's line names the user and the credential id
// (never a secret).
func accessLog(logger hclog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			req, res := c.Request(), c.Response()
			args := []any{"request_id", requestID(c), "method", req.Method, "path", cut(req.URL.Path),
				"status", res.Status, "bytes", res.Size, "duration", time.Since(start).Round(time.Microsecond), "remote", req.RemoteAddr}
			if p, ok := principalOf(c); ok {
				args = append(args, "user", p.User, "credential", p.CredentialID())
			}
			logger.Info("request", args...)
			return nil
		}
	}
}

// recoverPanics turns a panic of a handler into an error (a JSON 500) and
// logs it with its stack. http.ErrAbortHandler goes on to net/http, which
// aborts the reply: a handler panics with it to cut short a reply already
// started.
func recoverPanics(logger hclog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				if r := recover(); r != nil {
					if r == http.ErrAbortHandler {
						panic(r)
					}
					logger.Error("handler panicked", "request_id", requestID(c), "method", c.Request().Method,
						"path", cut(c.Request().URL.Path), "panic", shortMessage(fmt.Sprint(r)), "stack", string(debug.Stack()))
					err = fmt.Errorf("handler panicked: %v", r)
				}
			}()
			return next(c)
		}
	}
}
