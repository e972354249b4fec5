package logsink

import (
	"strings"

	logsinkv1 "github.com/quantixvm/quantix/proto/quantix/logsink/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func entryFromProto(p *logsinkv1.Entry) Entry {
	e := Entry{
		ID:            p.GetId(),
		Level:         Level(p.GetLevel()),
		Source:        Source(p.GetSource()),
		Component:     Component(p.GetComponent()),
		Message:       p.GetMessage(),
		VMID:          p.GetVmId(),
		NodeID:        p.GetNodeId(),
		UserID:        p.GetUserId(),
		SessionID:     p.GetSessionId(),
		CorrelationID: p.GetCorrelationId(),
		Action:        p.GetAction(),
		Target:        p.GetTarget(),
		UserAction:    p.GetUserAction(),
	}
	if ts := p.GetTimestamp(); ts != nil {
		e.Timestamp = ts.AsTime()
	}
	if f := p.GetFieldsJson(); len(f) > 0 {
		e.Fields = f
	}
	return e
}

func entriesToProto(entries []Entry) []*logsinkv1.Entry {
	// One allocation for the whole batch instead of one per entry.
	backing := make([]logsinkv1.Entry, len(entries))
	stamps := make([]timestamppb.Timestamp, len(entries))
	out := make([]*logsinkv1.Entry, len(entries))
	for i := range entries {
		e := &entries[i]
		p := &backing[i]
		p.Id, p.Level, p.Source, p.Component, p.Message = e.ID, string(e.Level), string(e.Source), string(e.Component), e.Message
		p.VmId, p.NodeId, p.UserId, p.SessionId, p.CorrelationId = e.VMID, e.NodeID, e.UserID, e.SessionID, e.CorrelationID
		p.Action, p.Target, p.UserAction = e.Action, e.Target, e.UserAction
		if !e.Timestamp.IsZero() {
			stamps[i].Seconds, stamps[i].Nanos = e.Timestamp.Unix(), int32(e.Timestamp.Nanosecond())
			p.Timestamp = &stamps[i]
		}
		if e.HasFields() {
			p.FieldsJson = e.Fields
		}
		out[i] = p
	}
	return out
}

func entriesFromProto(ps []*logsinkv1.Entry) []Entry {
	out := make([]Entry, len(ps))
	for i, p := range ps {
		out[i] = entryFromProto(p)
	}
	return out
}

var outcomeToProto = map[Outcome]logsinkv1.ResultCode{
	Delivered: logsinkv1.ResultCode_RESULT_CODE_OK,
	Retryable: logsinkv1.ResultCode_RESULT_CODE_RETRYABLE,
	Permanent: logsinkv1.ResultCode_RESULT_CODE_PERMANENT,
}

var outcomeFromProto = map[logsinkv1.ResultCode]Outcome{
	logsinkv1.ResultCode_RESULT_CODE_OK:        Delivered,
	logsinkv1.ResultCode_RESULT_CODE_RETRYABLE: Retryable,
	logsinkv1.ResultCode_RESULT_CODE_PERMANENT: Permanent,
}

func resultsToProto(rs []Result) []*logsinkv1.Result {
	backing := make([]logsinkv1.Result, len(rs))
	out := make([]*logsinkv1.Result, len(rs))
	for i, r := range rs {
		backing[i].Code = outcomeToProto[r.Outcome]
		// A message must be valid UTF-8 to be encoded; a sink may quote
		// what it received.
		backing[i].Message = strings.ToValidUTF8(r.Message, "\uFFFD")
		out[i] = &backing[i]
	}
	return out
}

func resultsFromProto(ps []*logsinkv1.Result) []Result {
	out := make([]Result, len(ps))
	for i, p := range ps {
		out[i] = Result{Outcome: outcomeFromProto[p.GetCode()], Message: p.GetMessage()}
	}
	return out
}
