package api

import (
	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/auth"
)

// principalKey is where the authentication middleware leaves the caller's
// principal in the echo context, for the access log and audit entries.
const principalKey = "principal"

// principalOf returns the caller of c, if it authenticated.
func principalOf(c echo.Context) (auth.Principal, bool) {
	p, ok := c.Get(principalKey).(auth.Principal)
	return p, ok
}

// setPrincipal records p as the caller of c: in the echo context and in
// the request's context (auth.PrincipalFrom).
func setPrincipal(c echo.Context, p auth.Principal) {
	c.Set(principalKey, p)
	c.SetRequest(c.Request().WithContext(auth.WithPrincipal(c.Request().Context(), p)))
}
