package agent

import (
	"context"
	"time"

	"github.com/quantixvm/quantix/core/agent/wire"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// execute runs a command on the backend and returns its reply.
func (a *Agent) execute(ctx context.Context, cmd *agentv1.Command) *agentv1.CommandReply {
	b := a.cfg.Backend
	id := cmd.GetVmId()
	var (
		x   *backend.VM
		err error
		out = &agentv1.CommandReply{CommandId: cmd.GetId()}
	)
	switch cmd.GetOp() {
	case agentv1.Op_OP_CREATE:
		if cmd.GetSpec() == nil {
			err = plugin.InvalidArgument("spec", "create: the command carries no spec")
			break
		}
		x, err = b.CreateVM(ctx, backend.SpecFromProto(cmd.GetSpec()))
		if err == nil && x != nil && a.logs != nil {
			a.logs.created(ctx, x.ID)
		}
	case agentv1.Op_OP_GET:
		x, err = b.GetVM(ctx, id)
	case agentv1.Op_OP_START:
		x, err = b.StartVM(ctx, id)
	case agentv1.Op_OP_STOP:
		x, err = b.StopVM(ctx, id, backend.StopOptions{Force: cmd.GetStopForce(), Timeout: time.Duration(cmd.GetStopTimeoutMs()) * time.Millisecond})
	case agentv1.Op_OP_REBOOT:
		x, err = b.RebootVM(ctx, id)
	case agentv1.Op_OP_PAUSE:
		x, err = b.PauseVM(ctx, id)
	case agentv1.Op_OP_RESUME:
		x, err = b.ResumeVM(ctx, id)
	case agentv1.Op_OP_DELETE:
		err = b.DeleteVM(ctx, id, backend.DeleteOptions{DeleteDisks: cmd.GetDeleteDisks(), Force: cmd.GetDeleteForce()})
	case agentv1.Op_OP_FIND_BY_NAME:
		x, err = findByName(ctx, b, cmd.GetVmName())
	case agentv1.Op_OP_TAIL_LOG:
		var t *backend.LogTail
		t, err = b.TailLog(ctx, id, int(cmd.GetLines()))
		out.Log = backend.LogTailToProto(t)
	default:
		err = plugin.Unsupported("command %s: this agent does not know it; upgrade the agent to the server's version", cmd.GetOp())
	}
	// When the backend answered x, by the clock the view's changes are
	// stamped with: the server keeps the newer of this reply and a change.
	observed := time.Now()
	if err != nil {
		return &agentv1.CommandReply{CommandId: cmd.GetId(), Error: wire.ErrorToProto(err)}
	}
	out.Vm = backend.VMToProto(x)
	if x != nil {
		out.ObservedAt = wire.TimeToProto(observed)
	}
	return out
}

// findByName returns the VM named name on the host; not found when there is
// none.
func findByName(ctx context.Context, b backend.Backend, name string) (*backend.VM, error) {
	if name == "" {
		return nil, plugin.InvalidArgument("vm_name", "find_by_name: the command names no vm")
	}
	list, err := b.ListVMs(ctx)
	if err != nil {
		return nil, err
	}
	for _, x := range list {
		if x != nil && x.Name == name {
			return x, nil
		}
	}
	return nil, plugin.NotFound("vm %q", name)
}
