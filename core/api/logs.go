package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/controlplane"
)

// vmLogs: GET /api/vms/{id}/logs?lines=N.
func (s *Server) vmLogs(c echo.Context) error {
	lines, err := intParam(c, "lines", controlplane.DefaultLogLines, 1, controlplane.MaxLogLines)
	if err != nil {
		return err
	}
	tail, err := s.svc.Logs(c.Request().Context(), c.Param("id"), lines)
	if err != nil {
		return err
	}
	out := logsReply{
		VMID:          tail.VM.ID,
		VMName:        tail.VM.Name,
		LogPath:       tail.Path,
		LogSizeBytes:  tail.SizeBytes,
		LinesReturned: len(tail.Lines),
		Truncated:     tail.Truncated,
		LastModified:  tail.LastModified,
		Lines:         make([]logLineReply, len(tail.Lines)),
	}
	texts := make([]string, len(tail.Lines))
	for i, l := range tail.Lines {
		out.Lines[i] = logLineReply{N: l.N, Text: l.Text, Severity: l.Severity}
		texts[i] = l.Text
	}
	out.QEMULog = strings.Join(texts, "\n")
	return c.JSON(http.StatusOK, out)
}
