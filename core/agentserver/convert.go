package agentserver

import (
	"time"

	"github.com/quantixvm/quantix/core/agent/wire"
	"github.com/quantixvm/quantix/core/nodeapi"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

var opToProto = map[nodeapi.Op]agentv1.Op{
	nodeapi.OpCreate:  agentv1.Op_OP_CREATE,
	nodeapi.OpGet:     agentv1.Op_OP_GET,
	nodeapi.OpStart:   agentv1.Op_OP_START,
	nodeapi.OpStop:    agentv1.Op_OP_STOP,
	nodeapi.OpReboot:  agentv1.Op_OP_REBOOT,
	nodeapi.OpPause:   agentv1.Op_OP_PAUSE,
	nodeapi.OpResume:  agentv1.Op_OP_RESUME,
	nodeapi.OpDelete:  agentv1.Op_OP_DELETE,
	nodeapi.OpTailLog: agentv1.Op_OP_TAIL_LOG,
}

// commandToProto is cmd as command id of a session, which the agent gives
// up on after timeout. An op the protocol does not know travels as
// unspecified, which the agent refuses as unsupported.
func commandToProto(id uint64, cmd nodeapi.Command, timeout time.Duration) *agentv1.Command {
	p := &agentv1.Command{
		Id:            id,
		Op:            opToProto[cmd.Op],
		VmId:          cmd.VMID,
		StopForce:     cmd.Stop.Force,
		StopTimeoutMs: cmd.Stop.Timeout.Milliseconds(),
		DeleteDisks:   cmd.Delete.DeleteDisks,
		DeleteForce:   cmd.Delete.Force,
		Lines:         int32(cmd.Lines),
		TimeoutMs:     max(timeout.Milliseconds(), 1),
	}
	if cmd.Spec != nil {
		p.Spec = wire.SpecToProto(*cmd.Spec)
	}
	return p
}

// resultFromProto is what a command reply says: the result, or the error
// the backend returned with its kind.
func resultFromProto(r *agentv1.CommandReply) (*nodeapi.Result, error) {
	if err := wire.ErrorFromProto(r.GetError()); err != nil {
		return nil, err
	}
	return &nodeapi.Result{VM: wire.VMFromProto(r.GetVm()), Log: wire.LogTailFromProto(r.GetLog())}, nil
}

func registrationFromProto(req *agentv1.RegisterRequest) nodeapi.Registration {
	return nodeapi.Registration{
		NodeName: req.GetNodeName(),
		Address:  req.GetAddress(),
		Host:     wire.HostFromProto(req.GetHost()),
		Backend:  wire.BackendFromProto(req.GetBackend()),
		// Zero when the agent does not say: the reconciler's default.
		HeartbeatInterval: time.Duration(req.GetHeartbeatIntervalMs()) * time.Millisecond,
	}
}

func changeFromProto(c *agentv1.Change) nodeapi.Change {
	return nodeapi.Change{
		VM:     wire.VMFromProto(c.GetVm()),
		Gone:   c.GetGone(),
		VMID:   c.GetVmId(),
		Reason: c.GetReason(),
		At:     wire.TimeFromProto(c.GetAt()),
	}
}

func heartbeatFromProto(h *agentv1.Heartbeat) nodeapi.HeartbeatReport {
	return nodeapi.HeartbeatReport{
		StateHash: h.GetStateHash(),
		VMCount:   int(h.GetVmCount()),
		Backend:   wire.BackendFromProto(h.GetBackend()),
	}
}
