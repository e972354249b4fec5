package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// health: GET /api/health, liveness and version.
func (s *Server) health(c echo.Context) error {
	return c.JSON(http.StatusOK, healthReply{Status: "ok", Version: s.version})
}
