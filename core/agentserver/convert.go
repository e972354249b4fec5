package agentserver

import (
	"time"

	"github.com/quantixvm/quantix/core/agent/wire"
	"github.com/quantixvm/quantix/core/nodeapi"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
	"github.com/quantixvm/quantix/sdk/backend"
)

// commandToProto is cmd as command id of a session, which the agent gives
// up on after timeout. An op the agent does not know it refuses as
// unsupported.
func commandToProto(id uint64, cmd nodeapi.Command, timeout time.Duration) *agentv1.Command {
	p := &agentv1.Command{
		Id:            id,
		Op:            cmd.Op,
		VmId:          cmd.VMID,
		StopForce:     cmd.Stop.Force,
		StopTimeoutMs: cmd.Stop.Timeout.Milliseconds(),
		DeleteDisks:   cmd.Delete.DeleteDisks,
		DeleteForce:   cmd.Delete.Force,
		Lines:         int32(cmd.Lines),
		VmName:        cmd.Name,
		RequestId:     cmd.RequestID,
		TimeoutMs:     max(timeout.Milliseconds(), 1),
	}
	if cmd.Spec != nil {
		p.Spec = backend.SpecToProto(*cmd.Spec)
	}
	return p
}

// resultFromProto is what a command reply says: the result, or the error
// the backend returned with its kind.
func resultFromProto(r *agentv1.CommandReply) (*nodeapi.Result, error) {
	if err := wire.ErrorFromProto(r.GetError()); err != nil {
		return nil, err
	}
	return &nodeapi.Result{VM: backend.VMFromProto(r.GetVm()), Log: backend.LogTailFromProto(r.GetLog()),
		ObservedAt: wire.TimeFromProto(r.GetObservedAt())}, nil
}

func registrationFromProto(req *agentv1.RegisterRequest) nodeapi.Registration {
	return nodeapi.Registration{
		NodeName:       req.GetNodeName(),
		ClaimedAddress: req.GetAddress(),
		Host:           wire.HostFromProto(req.GetHost()),
		Backend:        wire.BackendFromProto(req.GetBackend()),
		// Zero when the agent does not say: the reconciler's default.
		HeartbeatInterval: time.Duration(req.GetHeartbeatIntervalMs()) * time.Millisecond,
	}
}

func changeFromProto(c *agentv1.Change) nodeapi.Change {
	return nodeapi.Change{
		VM:     backend.VMFromProto(c.GetVm()),
		Gone:   c.GetGone(),
		VMID:   c.GetVmId(),
		Reason: c.GetReason(),
		At:     wire.TimeFromProto(c.GetAt()),

		ObservedAt: wire.TimeFromProto(c.GetObservedAt()),
	}
}

func heartbeatFromProto(h *agentv1.Heartbeat) nodeapi.HeartbeatReport {
	return nodeapi.HeartbeatReport{
		StateHash: h.GetStateHash(),
		VMCount:   int(h.GetVmCount()),
		Backend:   wire.BackendFromProto(h.GetBackend()),
	}
}

// vmsFromProto converts a full sync's VMs, skipping nil entries.
func vmsFromProto(list []*backendv1.VM) []*backend.VM {
	out := make([]*backend.VM, 0, len(list))
	for _, p := range list {
		if p != nil {
			out = append(out, backend.VMFromProto(p))
		}
	}
	return out
}
