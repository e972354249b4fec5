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

const requestIDKey = "request_id"

// A client's request id is kept when it is short and plain.
var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:/+=-]{1,128}$`)

// withRequestID takes the client's request id or makes one, and echoes it
// in the reply.
func withRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(HeaderRequestID)
		if !requestIDRE.MatchString(id) {
			id = uuid.NewString()
		}
		c.Set(requestIDKey, id)
		c.Response().Header().Set(HeaderRequestID, id)
		return next(c)
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(requestIDKey).(string)
	return id
}

// accessLog logs every request once its reply is written; an error a
// handler returns is rendered first, so the logged status is the one sent.
func accessLog(logger hclog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			req, res := c.Request(), c.Response()
			logger.Info("request", "request_id", requestID(c), "method", req.Method, "path", cut(req.URL.Path),
				"status", res.Status, "bytes", res.Size, "duration", time.Since(start).Round(time.Microsecond), "remote", req.RemoteAddr)
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
