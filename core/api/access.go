package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/core/webui"
)

// access is what a route asks of its caller. Every route the server
// registers declares one (Server.add); a route of echo's without one is
// refused (authenticate) and fails the route x role test.
type access struct {
	// public routes are served to anyone, without credentials.
	public bool
	// console marks the web console's catch-all routes: public for the
	// console's paths (webui.IsConsolePath); a request under /api or to
	// /metrics that only they match is a route that does not exist.
	console bool
	// action is what the caller's role must allow.
	action identity.Action
	// stream routes run under the principal's Watch: they end as soon as
	// its token or session is revoked or expires, its user is deleted or
	// its role changes.
	stream bool
	// refused, when set, audits a request refused for the caller's role
	// (403 before the handler runs) on a GET route whose handler audits
	// its own requests (the console's); err is the refusal answered.
	refused func(s *Server, c echo.Context, err *apiError)
}

// The accesses of the routes (AUTH-SPEC's roles: every GET, HEAD and
// stream is read; VM changes, actions and POST /api/logs/ui are operate;
// users, tokens and node removal are administer; /api/auth/* take any
// authenticated caller, and every role allows read).
var (
	public     = access{public: true}
	console    = access{public: true, console: true}
	read       = access{action: identity.ActionRead}
	readStream = access{action: identity.ActionRead, stream: true}
	operate    = access{action: identity.ActionOperate}
	// operateStream is the console: operate, ending with the credential,
	// and a refusal audited as the console's handler audits its own.
	operateStream = access{action: identity.ActionOperate, stream: true, refused: (*Server).auditConsoleRefused}
	administer    = access{action: identity.ActionAdminister}
)

// errNoAuth answers every route but GET /api/health of a server built
// without Options.Auth.
var errNoAuth = &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
	message: "the API has no authentication configured (api.Options.Auth is nil); it serves only GET /api/health"}

const healthPath = "/api/health"

// authenticate runs before every route: it lets public routes through,
// answers everything else 401 without valid credentials (auth.Service's
// Authenticate: a bearer token, or the session cookie with its CSRF header
// for changes) and 403 when the caller's role does not allow the route's
// action, and puts the principal in the request's context. A request echo
// matched to no route (404, 405) needs credentials too, so that routes are
// not revealed to strangers; a route registered without an access is
// refused (500) rather than served.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		key := routeKey(req.Method, c.Path())
		acc, known := s.access[key]
		if s.auth == nil {
			if known && c.Path() == healthPath {
				return next(c)
			}
			return errNoAuth
		}
		if known && acc.console && !webui.IsConsolePath(req.URL.Path) {
			// No API route matched: as for any unknown route, the caller
			// must authenticate before learning that it is 404.
			p, err := s.auth.Authenticate(req.Context(), req)
			if err != nil {
				return err
			}
			setPrincipal(c, p)
			if allow := s.apiMethods(req.URL.Path); len(allow) > 0 {
				c.Response().Header().Set(echo.HeaderAllow, strings.Join(allow, ", "))
				return echo.ErrMethodNotAllowed
			}
			return echo.ErrNotFound
		}
		if known && acc.public {
			return next(c)
		}
		p, err := s.auth.Authenticate(req.Context(), req)
		if err != nil {
			return err
		}
		setPrincipal(c, p)
		if !known {
			if s.registered[key] {
				s.log.Error("a route has no access declared; refusing it", "route", key)
				return fmt.Errorf("route %s has no access declared", key)
			}
			return next(c)
		}
		if !p.Allows(acc.action) {
			err := forbidden("%s %s needs the %s role (to %s); the caller's role is %s", req.Method, c.Path(), leastRole(acc.action), acc.action, roleName(p.Role))
			if req.Method != http.MethodGet && req.Method != http.MethodHead {
				// A refused change is audited like an allowed one.
				return s.audited(func(echo.Context) error { return err })(c)
			}
			if acc.refused != nil {
				acc.refused(s, c, err)
			}
			return err
		}
		if acc.stream {
			ctx, cancel := s.auth.Watch(c.Request().Context(), p)
			defer cancel()
			c.SetRequest(c.Request().WithContext(ctx))
		}
		return next(c)
	}
}

// apiMethods lists the methods of the routes other than the console's that
// match path: a request echo gave to the console's catch-all because no
// API route takes its method is 405 with these as Allow, as it would be
// without the console.
func (s *Server) apiMethods(path string) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		c := s.echo.NewContext(nil, nil)
		s.echo.Router().Find(m, path, c)
		key := routeKey(m, c.Path())
		if s.registered[key] && !s.access[key].console {
			allow = append(allow, m)
		}
	}
	return allow
}

// leastRole is the least privileged role that allows a.
func leastRole(a identity.Action) identity.Role {
	roles := slices.Clone(identity.Roles)
	slices.Reverse(roles)
	for _, r := range roles {
		if r.Allows(a) {
			return r
		}
	}
	return identity.RoleAdmin
}

func roleName(r identity.Role) string {
	if r == "" {
		return "none"
	}
	return string(r)
}

func routeKey(method, path string) string { return method + " " + path }

// add registers h for method path under g with its access.
func (s *Server) add(g *echo.Group, method, path string, acc access, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r := g.Add(method, path, h, m...)
	s.access[routeKey(method, r.Path)] = acc
}

// get registers h for GET path and for HEAD path, both with acc. A HEAD
// reply is the GET reply without its body: the same status and headers,
// the body left unwritten (headOnly); streams and exports end once their
// headers are sent (isHead).
func (s *Server) get(g *echo.Group, path string, acc access, h echo.HandlerFunc) {
	s.add(g, http.MethodGet, path, acc, h)
	s.add(g, http.MethodHead, path, acc, h, headOnly)
}

// noteRegistered records every route echo has once routes are added, so
// that authenticate tells a route without an access from a request that
// matched none.
func (s *Server) noteRegistered() {
	s.registered = map[string]bool{}
	for _, r := range s.echo.Routes() {
		s.registered[routeKey(r.Method, r.Path)] = true
	}
}
