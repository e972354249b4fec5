package agent

import (
	"context"
	"sync"
	"time"

	"github.com/quantixvm/quantix/core/agent/wire"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// The agent runs each request once. A server that cannot tell whether a
// command reached the agent (the server it went through died or could not
// be reached before the reply came) sends it again, through the node's
// next session, with the same Command.request_id: the agent answers that
// attempt with the first run's reply instead of running the command again.
const (
	// RequestMemory is how long the agent remembers a finished request:
	// longer than any attempt to deliver it again (a command's timeout,
	// then the wait for the node's next session).
	RequestMemory = 10 * time.Minute
	// maxRemembered bounds the finished requests remembered; the oldest go
	// first. Requests still running are always remembered.
	maxRemembered = 4096
)

// requestRun is one run of a request: done closes once reply is set.
type requestRun struct {
	op       agentv1.Op
	vmID     string
	done     chan struct{}
	reply    *agentv1.CommandReply
	finished time.Time
}

// requests remembers the requests the agent ran or runs, by request id.
type requests struct {
	mu    sync.Mutex
	runs  map[string]*requestRun
	order []string // ids in the order their runs began
}

func newRequests() *requests { return &requests{runs: map[string]*requestRun{}} }

// begin returns the run of request id and true when it is new: the caller
// runs it and calls finish. An earlier run is returned with false.
func (r *requests) begin(id string, cmd *agentv1.Command, now time.Time) (*requestRun, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune(now)
	if run, ok := r.runs[id]; ok {
		return run, false
	}
	run := &requestRun{op: cmd.GetOp(), vmID: cmd.GetVmId(), done: make(chan struct{})}
	r.runs[id] = run
	r.order = append(r.order, id)
	return run, true
}

// finish records the reply of run.
func (r *requests) finish(run *requestRun, reply *agentv1.CommandReply, now time.Time) {
	r.mu.Lock()
	run.reply, run.finished = reply, now
	r.mu.Unlock()
	close(run.done)
}

// prune forgets, oldest first, the finished runs older than RequestMemory
// and those past maxRemembered. It stops at the oldest run still going.
func (r *requests) prune(now time.Time) {
	n := 0
	for _, id := range r.order {
		run := r.runs[id]
		if run.finished.IsZero() || (len(r.order)-n <= maxRemembered && now.Sub(run.finished) < RequestMemory) {
			break
		}
		delete(r.runs, id)
		n++
	}
	r.order = r.order[n:]
}

// len says how many requests are remembered.
func (r *requests) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs)
}

// runRequest answers cmd, which names a request: the first command of the
// request runs on the backend, within its own timeout and until the agent
// stops (not until its session ends, so that its reply is there for the
// next attempt); a command repeating the request waits for that run. ctx
// bounds the wait, not the run. repeated says whether the reply is an
// earlier run's.
func (a *Agent) runRequest(ctx, agentCtx context.Context, cmd *agentv1.Command) (reply *agentv1.CommandReply, repeated bool) {
	id := cmd.GetRequestId()
	run, first := a.requests.begin(id, cmd, time.Now())
	if first {
		a.log.Debug("running a request", "request", id, "op", cmd.GetOp(), "vm", cmd.GetVmId())
		go func() {
			rctx, cancel := commandContext(agentCtx, cmd)
			defer cancel()
			a.requests.finish(run, a.execute(rctx, cmd), time.Now())
		}()
	} else if run.op != cmd.GetOp() || run.vmID != cmd.GetVmId() {
		return &agentv1.CommandReply{Error: wire.ErrorToProto(plugin.InvalidArgument("request_id",
			"request %s was %s of vm %q, this command is %s of vm %q: a request id names one command", id, run.op, run.vmID, cmd.GetOp(), cmd.GetVmId()))}, false
	}
	select {
	case <-run.done:
	case <-ctx.Done():
		// This attempt gave up waiting; the run goes on, for the next.
		return &agentv1.CommandReply{Error: wire.ErrorToProto(ctx.Err())}, false
	}
	return run.reply, !first
}

// commandContext bounds a command's run by its timeout_ms.
func commandContext(ctx context.Context, cmd *agentv1.Command) (context.Context, context.CancelFunc) {
	if t := cmd.GetTimeoutMs(); t > 0 {
		return context.WithTimeout(ctx, time.Duration(t)*time.Millisecond)
	}
	return context.WithCancel(ctx)
}
