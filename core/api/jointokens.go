package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/enroll"
)

// The join token routes: an admin creates a token for new agents (its
// text, with the secret, is in the reply of POST only), lists them and
// revokes one. All three change or show who may join the cluster: they
// need the administer action.
//
//	POST   /api/join-tokens      {"ttl"?, "uses"?, "description"?} -> 201 joinTokenCreated
//	GET    /api/join-tokens      -> 200 {"join_tokens": [...]}
//	DELETE /api/join-tokens/:id  -> 204

// joinTokenRoutes registers the join token routes on g; GET answers HEAD
// as well, as every GET route does.
func (s *Server) joinTokenRoutes(g *echo.Group) {
	s.add(g, http.MethodPost, "/join-tokens", administer, s.createJoinToken, s.audited)
	s.get(g, "/join-tokens", administer, s.listJoinTokens)
	s.add(g, http.MethodDelete, "/join-tokens/:id", administer, s.revokeJoinToken, s.audited)
}

// joinTokenRequest is the body of POST /api/join-tokens; every field is
// optional.
type joinTokenRequest struct {
	// TTL is a Go duration ("1h", "72h"); empty is enroll.DefaultTTL.
	TTL         string `json:"ttl"`
	Uses        int    `json:"uses"`
	Description string `json:"description"`
}

// joinTokenCreated is the reply of POST /api/join-tokens: the token and,
// this once, its text.
type joinTokenCreated struct {
	enroll.Token
	// Text is the token to give the new agents; it is not stored and
	// cannot be shown again.
	Text string `json:"token"`
	// CAFingerprint is the SHA-256 of the agent CA the token pins.
	CAFingerprint string `json:"ca_fingerprint"`
}

// joinTokensReply is the reply of GET /api/join-tokens.
type joinTokensReply struct {
	JoinTokens []enroll.Token `json:"join_tokens"`
}

// createJoinToken: POST /api/join-tokens. An empty body takes every
// default.
func (s *Server) createJoinToken(c echo.Context) error {
	if s.enroll == nil {
		return errNoEnroll
	}
	var req joinTokenRequest
	if c.Request().ContentLength != 0 {
		if err := decodeBody(c, &req); err != nil {
			return err
		}
	}
	var spec enroll.Spec
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil {
			return unprocessable("ttl: %q is not a duration such as \"1h\" or \"30m\"", cut(req.TTL))
		}
		if d == 0 {
			return unprocessable("ttl: 0 is not a lifetime: leave ttl out for the default, %s", enroll.DefaultTTL)
		}
		spec.TTL = d
	}
	spec.Uses, spec.Description = req.Uses, req.Description
	tok, text, err := s.enroll.Create(c.Request().Context(), spec)
	if err != nil {
		return enrollError(err)
	}
	return c.JSON(http.StatusCreated, joinTokenCreated{Token: tok, Text: text, CAFingerprint: s.enroll.CAFingerprint()})
}

// listJoinTokens: GET /api/join-tokens, oldest first, never a secret.
func (s *Server) listJoinTokens(c echo.Context) error {
	if s.enroll == nil {
		return errNoEnroll
	}
	list, err := s.enroll.List(c.Request().Context())
	if err != nil {
		return enrollError(err)
	}
	if list == nil {
		list = []enroll.Token{}
	}
	return c.JSON(http.StatusOK, joinTokensReply{JoinTokens: list})
}

// revokeJoinToken: DELETE /api/join-tokens/:id, 204; revoking a revoked
// token again is no error.
func (s *Server) revokeJoinToken(c echo.Context) error {
	if s.enroll == nil {
		return errNoEnroll
	}
	if _, err := s.enroll.Revoke(c.Request().Context(), c.Param("id")); err != nil {
		return enrollError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// errNoEnroll answers the join token routes of a server without agent
// enrollment.
var errNoEnroll = &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable,
	message: "join tokens are not available on this server: it has no agent enrollment"}

// enrollError maps the kinds of enroll errors to replies; what is not a
// request's fault is an internal error, logged and not shown.
func enrollError(err error) error {
	var e *enroll.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Kind {
	case enroll.KindInvalid:
		return &apiError{status: http.StatusUnprocessableEntity, code: codeInvalid, message: e.Message, cause: err}
	case enroll.KindNotFound:
		return &apiError{status: http.StatusNotFound, code: codeNotFound, message: e.Message, cause: err}
	}
	return err
}
