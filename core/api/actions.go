package api

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/controlplane"
)

// actionReply writes the reply of an action: success with the VM, or the
// failure with its status code.
func (s *Server) actionReply(c echo.Context, res *controlplane.ActionResult, err error) error {
	if err != nil {
		return s.actionFailed(c, err)
	}
	if res.VM != nil {
		setAuditVM(c, res.VM.ID)
	}
	return c.JSON(http.StatusOK, actionReply{Success: true, Message: res.Message, VM: toVMReply(res.VM)})
}

// actionFailed writes {"success": false, "code", "message", "vm"}.
func (s *Server) actionFailed(c echo.Context, err error) error {
	ae := classify(c, err)
	if ae.status >= 500 {
		s.log.Warn("action failed", "request_id", requestID(c), "path", cut(c.Request().URL.Path), "status", ae.status, "error", shortMessage(err.Error()))
	}
	out := actionReply{Code: ae.code, Message: ae.message}
	var ce *controlplane.Error
	if errors.As(err, &ce) {
		out.VM = toVMReply(ce.VM)
		if ce.VM != nil {
			setAuditVM(c, ce.VM.ID)
		}
	}
	return c.JSON(ae.status, out)
}

func (s *Server) startVM(c echo.Context) error {
	res, err := s.svc.Start(c.Request().Context(), c.Param("id"))
	return s.actionReply(c, res, err)
}

// stopVM: ?force=true stops hard; ?timeout=30s bounds a graceful stop.
func (s *Server) stopVM(c echo.Context) error {
	force, err := boolParam(c, "force")
	if err != nil {
		return s.actionFailed(c, err)
	}
	timeout, err := durationParam(c, "timeout", controlplane.MaxStopTimeout)
	if err != nil {
		return s.actionFailed(c, err)
	}
	res, err := s.svc.Stop(c.Request().Context(), c.Param("id"), controlplane.StopOptions{Force: force, Timeout: timeout})
	return s.actionReply(c, res, err)
}

func (s *Server) rebootVM(c echo.Context) error {
	res, err := s.svc.Reboot(c.Request().Context(), c.Param("id"))
	return s.actionReply(c, res, err)
}

func (s *Server) pauseVM(c echo.Context) error {
	res, err := s.svc.Pause(c.Request().Context(), c.Param("id"))
	return s.actionReply(c, res, err)
}

func (s *Server) resumeVM(c echo.Context) error {
	res, err := s.svc.Resume(c.Request().Context(), c.Param("id"))
	return s.actionReply(c, res, err)
}

// resetState: ?force=true sets STOPPED without asking the host.
func (s *Server) resetState(c echo.Context) error {
	force, err := boolParam(c, "force")
	if err != nil {
		return s.actionFailed(c, err)
	}
	res, err := s.svc.ResetState(c.Request().Context(), c.Param("id"), force)
	return s.actionReply(c, res, err)
}
