package agentserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/quantixvm/quantix/core/agent/wire"
	"github.com/quantixvm/quantix/core/nodeapi"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

// Execute sends cmd down the session's stream and waits for the agent's
// reply, at most cmd.Timeout(). A session that is over, or that ends
// before the reply comes, gives nodeapi.ErrNodeUnavailable at once.
func (s *agentSession) Execute(ctx context.Context, nodeID string, cmd nodeapi.Command) (*nodeapi.Result, error) {
	if nodeID != s.nodeID {
		return nil, fmt.Errorf("node %s: not served by the session of node %s: %w", nodeID, s.nodeID, nodeapi.ErrNodeUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, cmd.Timeout())
	defer cancel()
	s.mu.Lock()
	if s.ctx.Err() != nil || !s.attached {
		s.mu.Unlock()
		return nil, s.notSent(cmd, "is not connected")
	}
	if s.draining {
		s.mu.Unlock()
		return nil, s.notSent(cmd, "is moving to another server")
	}
	s.nextCmd++
	id := s.nextCmd
	reply := make(chan *agentv1.CommandReply, 1)
	s.pending[id] = reply
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, id)
		if s.idle != nil && len(s.pending) == 0 {
			close(s.idle)
			s.idle = nil
		}
		s.mu.Unlock()
	}()

	timeout := cmd.Timeout()
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	msg := &agentv1.ServerMessage{Msg: &agentv1.ServerMessage_Command{Command: commandToProto(id, cmd, timeout)}}
	select {
	case s.out <- msg:
	case <-s.ctx.Done():
		return nil, s.notSent(cmd, "disconnected")
	case <-ctx.Done():
		return nil, fmt.Errorf("node %s: sending %s: %w", s.nodeID, wire.OpName(cmd.Op), ctx.Err())
	}
	select {
	case r := <-reply:
		return resultFromProto(r)
	case <-s.ctx.Done():
		return nil, s.maybeSent(cmd, "disconnected before replying")
	case <-ctx.Done():
		return nil, fmt.Errorf("node %s: no reply to %s within %s: %w", s.nodeID, wire.OpName(cmd.Op), timeout.Round(time.Millisecond), ctx.Err())
	}
}

// errMaybeSent marks a command that may have reached the agent but whose
// reply did not come back (the session or the server it went through was
// lost): it is sent again, with its request id, only to an agent that runs
// each request once.
var errMaybeSent = errors.New("the command may have reached the agent")

func (s *agentSession) maybeSent(cmd nodeapi.Command, what string) error {
	return fmt.Errorf("node %s: the agent %s (%s): %w", s.nodeID, what, wire.OpName(cmd.Op), errors.Join(errMaybeSent, nodeapi.ErrNodeUnavailable))
}

// executeAgain runs cmd, an attempt of a request whose earlier attempt
// may have reached the agent: only when the agent runs each request once
// and cmd names its request, so that the agent answers with the earlier
// run's reply rather than running it twice. Else it is refused unsent.
func (s *agentSession) executeAgain(ctx context.Context, nodeID string, cmd nodeapi.Command) (*nodeapi.Result, error) {
	if !s.remembers || cmd.RequestID == "" {
		return nil, s.notSent(cmd, "does not remember the requests it ran, and an earlier attempt may have reached it")
	}
	return s.Execute(ctx, nodeID, cmd)
}

// againExecutor is an executor that takes a command again after an attempt
// that may have reached the agent, when that cannot run it twice.
type againExecutor interface {
	executeAgain(ctx context.Context, nodeID string, cmd nodeapi.Command) (*nodeapi.Result, error)
}

// executeAgain runs cmd on e after an attempt that may have reached the
// agent: refused unsent unless e is an againExecutor.
func executeAgain(ctx context.Context, e nodeapi.Executor, nodeID string, cmd nodeapi.Command) (*nodeapi.Result, error) {
	if a, ok := e.(againExecutor); ok {
		return a.executeAgain(ctx, nodeID, cmd)
	}
	return nil, fmt.Errorf("node %s: an earlier attempt of %s may have reached the agent, and this executor cannot tell: %w", nodeID, wire.OpName(cmd.Op), errors.Join(errNotSent, nodeapi.ErrNodeUnavailable))
}

// errNotSent marks a command refused before it was handed to the session's
// stream: it certainly did not reach the agent, so it may go to the node's
// next session.
var errNotSent = errors.New("the command was not sent to the agent")

func (s *agentSession) notSent(cmd nodeapi.Command, what string) error {
	return fmt.Errorf("node %s: the agent %s (%s): %w", s.nodeID, what, wire.OpName(cmd.Op), errors.Join(errNotSent, nodeapi.ErrNodeUnavailable))
}

// drain makes the session refuse new commands and returns a channel that
// closes once none is in flight.
func (s *agentSession) drain() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	ch := make(chan struct{})
	if len(s.pending) == 0 {
		close(ch)
	} else {
		s.idle = ch
	}
	return ch
}

// deliver hands a reply to the Execute waiting for it; a reply nobody
// waits for (the caller gave up) is dropped.
func (s *agentSession) deliver(r *agentv1.CommandReply) {
	s.mu.Lock()
	ch := s.pending[r.GetCommandId()]
	s.mu.Unlock()
	if ch == nil {
		s.srv.log.Debug("reply to a command nobody waits for anymore dropped", "node", s.name, "command", r.GetCommandId())
		return
	}
	select {
	case ch <- r:
	default:
	}
}

// Connected lists the session's node while it is attached.
func (s *agentSession) Connected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.attached || s.ctx.Err() != nil {
		return nil
	}
	return []string{s.nodeID}
}
