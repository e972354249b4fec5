package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/quantixvm/quantix/core/logs"
)

// DefaultLogStreamBuffer is how many entries a GET /api/logs/stream client
// may fall behind by before entries are dropped for it (and a gap sent).
const DefaultLogStreamBuffer = 1024

// logGap is the data of a "gap" event of GET /api/logs/stream.
type logGap struct {
	Kind    string `json:"kind"`
	Dropped int    `json:"dropped"`
	Message string `json:"message"`
}

// streamLogs: GET /api/logs/stream, server-sent events of the entries
// appended from now on that match the filters of GET /api/logs: "log"
// events (id: the entry id; data: the entry), and "gap" events when the
// client read too slowly and entries were dropped for it; the pipeline
// never waits for a client. Keep-alive comments flow while idle.
func (s *Server) streamLogs(c echo.Context) error {
	if s.logs == nil {
		return errNoPipeline
	}
	f, err := logFilter(c, time.Now())
	if err != nil {
		return err
	}
	sub := s.logs.Subscribe(f, s.streamBuf)
	defer sub.Close()
	ctx := c.Request().Context()
	w, ok := startStream(c)
	if !ok {
		return nil
	}
	for {
		nctx, cancel := context.WithTimeout(ctx, s.keepAlive)
		entries, dropped, err := sub.Next(nctx)
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil, errors.Is(err, logs.ErrClosed):
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return nil
			}
			w.Flush()
			continue
		default:
			s.log.Error("log stream failed", "request_id", requestID(c), "error", err)
			return nil
		}
		var buf []byte
		for i := range entries {
			b, err := json.Marshal(&entries[i])
			if err != nil {
				s.log.Error("encoding a streamed log entry", "request_id", requestID(c), "error", err)
				continue
			}
			buf = fmt.Appendf(buf, "id: %s\nevent: log\ndata: %s\n\n", entries[i].ID, b)
		}
		if dropped > 0 {
			b, _ := json.Marshal(logGap{Kind: "gap", Dropped: dropped,
				Message: fmt.Sprintf("%d entries were dropped because this client read too slowly; query GET /api/logs for them", dropped)})
			buf = fmt.Appendf(buf, "event: gap\ndata: %s\n\n", b)
		}
		if _, err := w.Write(buf); err != nil {
			return nil
		}
		w.Flush()
	}
}
