package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/quantixvm/quantix/core/agent/wire"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
	"github.com/quantixvm/quantix/sdk/backend"
)

// session is one attached Session stream: a reader taking commands,
// heartbeat replies and log acknowledgements, a reporter sending every
// report in order, a log sender when the server takes VM log lines, and a
// goroutine per command running.
type session struct {
	a      *Agent
	server string
	nodeID string
	id     string
	stream grpc.BidiStreamingClient[agentv1.AgentMessage, agentv1.ServerMessage]
	// client renews the node's certificate over the session's connection.
	client agentv1.AgentServiceClient
	// consoleClient attaches consoles over the session's connection.
	consoleClient agentv1.AgentConsoleClient
	// end cancels the stream's context: a Recv or Send blocked on it
	// returns.
	end context.CancelFunc
	// agentCtx ends when the agent stops: it bounds the runs of requests,
	// which outlive their session.
	agentCtx context.Context
	// shipLogs is set when the session sends VM log lines (the agent
	// ships them and the server takes them); logToken is then the
	// session's token with the shipper.
	shipLogs bool
	logToken uint64

	// sendMu serialises Send; seq is the last report's sequence number.
	sendMu sync.Mutex
	seq    uint64

	// listed has a value when a fresh listing waits to be sent as a full
	// sync; syncAsked when the server asked for one.
	listed    chan struct{}
	syncAsked chan struct{}
	// began is when the attempt that made the session started: the sync
	// jitter counts from there.
	began    time.Time
	commands sync.WaitGroup
	// consoles are the goroutines carrying consoles (console.go);
	// consoleEnds ends each attached console, by its token, when the
	// server says it closed it.
	consoles    sync.WaitGroup
	consoleMu   sync.Mutex
	consoleEnds map[string]context.CancelFunc
}

func newSession(a *Agent, server, nodeID, id string, stream grpc.BidiStreamingClient[agentv1.AgentMessage, agentv1.ServerMessage], end context.CancelFunc) *session {
	return &session{
		a: a, server: server, nodeID: nodeID, id: id, stream: stream, end: end,
		listed:    make(chan struct{}, 1),
		syncAsked: make(chan struct{}, 1),
	}
}

func (s *session) notifyListed() {
	select {
	case s.listed <- struct{}{}:
	default:
	}
}

// run serves the session until the stream breaks or ctx ends; it returns
// why, after every command it started has replied or given up.
func (s *session) run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if s.shipLogs {
		s.logToken = s.a.logs.attach()
	}
	var wg sync.WaitGroup
	wg.Go(func() { cancel(s.read(ctx)) })
	wg.Go(func() { cancel(s.report(ctx)) })
	if s.shipLogs {
		wg.Go(func() { cancel(s.sendLogs(ctx)) })
	}
	if s.client != nil {
		wg.Go(func() { s.a.renewLoop(ctx, s.client) })
	}
	if sc, ok := s.a.cfg.Backend.(backend.StatsCollector); ok && !s.a.cfg.DisableStats {
		wg.Go(func() {
			if err := s.sendStats(ctx, sc); err != nil {
				cancel(err)
			}
		})
	}
	<-ctx.Done()
	err := context.Cause(ctx)
	s.end()
	wg.Wait()
	s.commands.Wait()
	s.consoles.Wait()
	return err
}

// read takes what the server sends until the stream ends.
func (s *session) read(ctx context.Context) error {
	for {
		msg, err := s.stream.Recv()
		if err != nil {
			return fmt.Errorf("receiving: %w", err)
		}
		switch m := msg.GetMsg().(type) {
		case *agentv1.ServerMessage_Command:
			s.commands.Go(func() { s.execute(ctx, m.Command) })
		case *agentv1.ServerMessage_HeartbeatReply:
			if m.HeartbeatReply.GetRequestFullSync() {
				select {
				case s.syncAsked <- struct{}{}:
				default:
				}
			}
		case *agentv1.ServerMessage_ConsoleOpen:
			s.consoles.Go(func() { s.console(ctx, m.ConsoleOpen) })
		case *agentv1.ServerMessage_ConsoleClose:
			s.endConsole(m.ConsoleClose.GetToken())
		case *agentv1.ServerMessage_LogAck:
			if s.shipLogs {
				s.a.logs.ack(s.logToken, m.LogAck)
			}
		default:
			s.a.log.Debug("ignoring a server message this agent does not know", "type", fmt.Sprintf("%T", m))
		}
	}
}

// report sends every report of the session, in order: changes as they
// come, a full sync once the jitter passed (and whenever a fresh listing
// calls for one), heartbeats every interval.
//
// The jitter counts from the start of the connection attempt, not from the
// session: agents that reconnect together spread their full syncs over
// agent.sync_jitter whatever their enrollment and registration took, and
// an agent whose registration took longer than its share syncs at once.
//
// The first heartbeat goes out at once, the second after a random part of
// the interval, the others every interval: agents that (re)connect
// together, as after a server restart, do not heartbeat in step for ever
// after, and the server gets their heartbeats spread over the interval
// rather than in one burst.
func (s *session) report(ctx context.Context) error {
	a := s.a
	delay := max(0, time.Until(s.began.Add(jitter(a.cfg.SyncJitter))))
	a.log.Debug("full sync scheduled", "in", delay)
	initial := time.NewTimer(delay)
	defer initial.Stop()
	beat := time.NewTimer(heartbeatPhase(a.cfg.HeartbeatInterval))
	defer beat.Stop()
	// scheduled is true until the jitter passed: no full sync goes out
	// before, whoever asks for one, so that reconnecting agents spread
	// their full syncs.
	scheduled := true
	if err := s.heartbeat(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-initial.C:
			scheduled = false
			a.requestResync()
		case <-s.listed:
			// Before the jitter passed, the full sync it schedules covers
			// whatever this listing found.
			if scheduled {
				continue
			}
			if err := s.fullSync(); err != nil {
				return err
			}
		case <-s.syncAsked:
			if !scheduled {
				a.log.Debug("the server's view of the node differs: sending a full sync")
				a.requestResync()
			}
		case <-a.view.changed:
			if err := s.changes(); err != nil {
				return err
			}
		case <-beat.C:
			beat.Reset(a.cfg.HeartbeatInterval)
			if err := s.changes(); err != nil {
				return err
			}
			if err := s.heartbeat(); err != nil {
				return err
			}
		}
	}
}

// heartbeatPhase is the delay of a session's second heartbeat: random in
// (0, interval].
func heartbeatPhase(interval time.Duration) time.Duration {
	return interval - jitter(interval)
}

// fullSync sends the view when it is complete; when it is not (the event
// stream broke since the listing), the next listing sends it.
func (s *session) fullSync() error {
	vms, ok := s.a.view.snapshot()
	if !ok {
		return nil
	}
	body := &agentv1.FullSync{Vms: make([]*backendv1.VM, 0, len(vms))}
	for _, x := range vms {
		body.Vms = append(body.Vms, backend.VMToProto(x))
	}
	s.a.log.Debug("sending a full sync", "vms", len(vms))
	return s.sendReport(&agentv1.Report{Body: &agentv1.Report_FullSync{FullSync: body}})
}

// changes sends the latest state of every VM changed since the last
// report.
func (s *session) changes() error {
	for _, c := range s.a.view.takeDirty() {
		ch := &agentv1.Change{VmId: c.id, Reason: c.reason, At: wire.TimeToProto(c.at), ObservedAt: wire.TimeToProto(c.observed)}
		if c.vm == nil {
			ch.Gone = true
		} else {
			ch.Vm = backend.VMToProto(c.vm)
		}
		if err := s.sendReport(&agentv1.Report{Body: &agentv1.Report_Change{Change: ch}}); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) heartbeat() error {
	hash, count := s.a.view.hash()
	return s.sendReport(&agentv1.Report{Body: &agentv1.Report_Heartbeat{Heartbeat: &agentv1.Heartbeat{
		StateHash: hash,
		VmCount:   int32(count),
		Backend:   wire.BackendToProto(s.a.backendInfo()),
	}}})
}

// sendReport numbers r and sends it.
func (s *session) sendReport(r *agentv1.Report) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.seq++
	r.SessionId = s.id
	r.Seq = s.seq
	r.Time = timestamppb.Now()
	return s.sendLocked(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Report{Report: r}})
}

// sendLogs sends the shipper's batches of VM log lines until ctx ends.
func (s *session) sendLogs(ctx context.Context) error {
	sh := s.a.logs
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for id := uint64(1); ; {
		b, wait := sh.take(s.logToken, id, time.Now())
		if b != nil {
			s.sendMu.Lock()
			err := s.sendLocked(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Logs{Logs: b}})
			s.sendMu.Unlock()
			if err != nil {
				return err
			}
			id++
			continue
		}
		var expired <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			expired = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-sh.ready:
		case <-expired:
		}
		timer.Stop()
	}
}

func (s *session) sendReply(r *agentv1.CommandReply) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.sendLocked(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Reply{Reply: r}})
}

func (s *session) sendLocked(m *agentv1.AgentMessage) error {
	if err := s.stream.Send(m); err != nil {
		return fmt.Errorf("sending: %w", err)
	}
	return nil
}

// execute runs one command and sends its reply. A command naming a
// request runs once per request (runRequest): a repeated one is answered
// with the first run's reply.
func (s *session) execute(ctx context.Context, cmd *agentv1.Command) {
	began := time.Now()
	var (
		reply    *agentv1.CommandReply
		repeated bool
	)
	if cmd.GetRequestId() != "" {
		wctx, cancel := commandContext(ctx, cmd)
		reply, repeated = s.a.runRequest(wctx, s.agentCtx, cmd)
		cancel()
		reply = proto.CloneOf(reply)
		reply.CommandId = cmd.GetId()
	} else {
		rctx, cancel := commandContext(ctx, cmd)
		reply = s.a.execute(rctx, cmd)
		cancel()
	}
	log := []any{"id", cmd.GetId(), "request", cmd.GetRequestId(), "op", cmd.GetOp(), "vm", cmd.GetVmId(), "took", time.Since(began)}
	switch e := reply.GetError(); {
	case repeated:
		s.a.log.Info("command repeating a request answered with the reply of its run", log...)
	case e != nil:
		s.a.log.Debug("command failed", append(log, "error", e.GetMessage())...)
	default:
		s.a.log.Debug("command done", log...)
	}
	if err := s.sendReply(reply); err != nil && !errors.Is(ctx.Err(), context.Canceled) {
		s.a.log.Warn("the reply to a command could not be sent", "id", cmd.GetId(), "op", cmd.GetOp(), "error", err)
	}
}
