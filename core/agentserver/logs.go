package agentserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/quantixvm/quantix/core/agent/wire"
	"github.com/quantixvm/quantix/core/vmlog"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// errNoLogs answers the log batches of an agent when the server has no
// LogAppender.
var errNoLogs = errors.New("this server keeps no vm log lines")

// qemuLineSpace is the UUID namespace of the ids of VM log lines.
var qemuLineSpace = uuid.MustParse("61e05161-6a8b-488b-92c7-7cb9c5ebd958")

// storeLogs appends the session's log batches to the LogAppender one at a
// time, in order, and answers each once it is durable or failed.
func (s *agentSession) storeLogs(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-s.logs:
			ack := &agentv1.LogAck{Id: b.GetId()}
			if err := s.appendLogs(ctx, b); err != nil {
				ack.Error = err.Error()
				if ctx.Err() == nil {
					s.srv.log.Warn("storing vm log lines failed; the agent sends them again", "node", s.name, "session", s.id, "lines", len(b.GetLines()), "error", err)
				}
			}
			select {
			case s.out <- &agentv1.ServerMessage{Msg: &agentv1.ServerMessage_LogAck{LogAck: ack}}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// appendLogs appends the lines of b as log entries of the session's node.
func (s *agentSession) appendLogs(ctx context.Context, b *agentv1.LogBatch) error {
	if s.srv.logs == nil {
		return errNoLogs
	}
	ctx, cancel := context.WithTimeout(ctx, logAppendTimeout)
	defer cancel()
	if err := s.srv.logs.Append(ctx, logEntries(s.nodeID, b.GetLines(), time.Now())); err != nil {
		return fmt.Errorf("appending %d vm log lines: %w", len(b.GetLines()), err)
	}
	return nil
}

// logEntries makes a log entry of source qemu of each line, at the
// severity vmlog.Classify gives it. An entry's id is derived from the line's
// node, VM, place in the log and text, so that a line sent again is the
// same entry; a line without a time gets now.
func logEntries(nodeID string, lines []*agentv1.LogLine, now time.Time) []logsink.Entry {
	out := make([]logsink.Entry, len(lines))
	for i, l := range lines {
		text := strings.ToValidUTF8(l.GetText(), "\uFFFD")
		vmID := strings.ToValidUTF8(l.GetVmId(), "\uFFFD")
		at := wire.TimeFromProto(l.GetTime())
		if at.IsZero() {
			at = now
		}
		fields := fmt.Sprintf(`{"offset":%d}`, l.GetOffset())
		if g := l.GetGeneration(); g > 0 {
			fields = fmt.Sprintf(`{"offset":%d,"generation":%d}`, l.GetOffset(), g)
		}
		out[i] = logsink.Entry{
			ID:        lineID(nodeID, vmID, l.GetGeneration(), l.GetOffset(), text),
			Timestamp: at,
			Level:     severityLevel(vmlog.Classify(text)),
			Source:    logsink.SourceQEMU,
			Component: logsink.ComponentQEMU,
			Message:   text,
			Fields:    []byte(fields),
			VMID:      vmID,
			NodeID:    nodeID,
		}
	}
	return out
}

// lineID is the entry id of a VM log line: a name-based UUID (version 5)
// of where the line is and what it says.
func lineID(nodeID, vmID string, generation uint32, offset int64, text string) string {
	name := make([]byte, 0, len(nodeID)+len(vmID)+len(text)+16)
	name = append(name, nodeID...)
	name = append(name, 0)
	name = append(name, vmID...)
	name = append(name, 0)
	name = binary.BigEndian.AppendUint32(name, generation)
	name = binary.BigEndian.AppendUint64(name, uint64(offset))
	name = append(name, text...)
	return uuid.NewSHA1(qemuLineSpace, name).String()
}

// severityLevel is the log level of a line of severity sev.
func severityLevel(sev vmlog.Severity) logsink.Level {
	switch sev {
	case vmlog.SeverityError:
		return logsink.LevelError
	case vmlog.SeverityWarning:
		return logsink.LevelWarn
	}
	return logsink.LevelInfo
}
