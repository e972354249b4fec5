package agentserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quantixvm/quantix/core/nodeapi"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
)

// agentSession is one session of one node: registered by Register,
// attached to a Session stream, ended by the stream's end, a newer session,
// missed heartbeats or the server closing. While attached it is the
// node's Executor in the Dispatcher.
type agentSession struct {
	srv       *Server
	node      *agentNode
	nodeID    string
	name      string
	id        string
	heartbeat time.Duration
	// serial is the agent's client certificate's.
	serial string
	// remembers is set when the agent runs each request once
	// (RegisterRequest.remembers_requests): a command whose earlier attempt
	// may have reached it can be sent again.
	remembers bool

	// ctx ends with the session; its cause says why.
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu       sync.Mutex
	stream   grpc.BidiStreamingServer[agentv1.AgentMessage, agentv1.ServerMessage]
	attached bool
	pending  map[uint64]chan *agentv1.CommandReply
	nextCmd  uint64
	// draining refuses new commands (the server hands the session over);
	// idle, while set, closes once no command is in flight.
	draining bool
	idle     chan struct{}
	// resync is set when applying a report failed: the next heartbeat
	// reply asks for a full sync, which repairs whatever was missed.
	resync bool
	// claimedAt is when the session was recorded as its node's in the
	// cluster's records; zero on a single server or before.
	claimedAt time.Time
	// finished closes once the session has ended and released its claim
	// and its place as its node's session (or never attached).
	finished   chan struct{}
	finishOnce sync.Once

	out      chan *agentv1.ServerMessage
	reports  chan *agentv1.Report
	logs     chan *agentv1.LogBatch
	lastSeen atomic.Int64 // unix nanoseconds of the agent's last message
}

var _ nodeapi.Executor = (*agentSession)(nil)

func newAgentSession(srv *Server, n *agentNode, nodeID, name, id string, heartbeat time.Duration) *agentSession {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &agentSession{
		srv: srv, node: n, nodeID: nodeID, name: name, id: id, heartbeat: heartbeat,
		ctx: ctx, cancel: cancel,
		pending: make(map[uint64]chan *agentv1.CommandReply),
		out:     make(chan *agentv1.ServerMessage, 64),
		reports: make(chan *agentv1.Report, 64),
		logs:    make(chan *agentv1.LogBatch, 16),

		finished: make(chan struct{}),
	}
}

// Disconnect ends the session, telling the agent reason; false when it is
// not node nodeID's or is over already.
func (s *agentSession) Disconnect(nodeID, reason string) bool {
	if nodeID != s.nodeID || s.ctx.Err() != nil {
		return false
	}
	s.srv.log.Info("ending the session of a node", "node", s.name, "session", s.id, "reason", reason)
	s.end(fmt.Errorf("%w: %s", errEnded, reason))
	return true
}

// end ends the session for cause; the first cause sticks.
func (s *agentSession) end(cause error) { s.cancel(cause) }

// attach binds the session to stream; false when it is bound already or
// over.
func (s *agentSession) attach(stream grpc.BidiStreamingServer[agentv1.AgentMessage, agentv1.ServerMessage]) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attached || s.ctx.Err() != nil {
		return false
	}
	s.attached, s.stream = true, stream
	return true
}

// expireUnattached drops a session whose agent never opened its stream.
func (s *agentSession) expireUnattached() {
	s.mu.Lock()
	attached := s.attached
	s.mu.Unlock()
	if attached || s.ctx.Err() != nil {
		return
	}
	s.end(errNeverAttached)
	defer s.markFinished()
	if s.release() {
		s.srv.log.Warn("session dropped: the agent never opened its stream", "node", s.name, "session", s.id)
		s.disconnected()
	}
}

// release forgets the session as its node's current one; true when it
// was.
func (s *agentSession) release() bool {
	s.node.mu.Lock()
	defer s.node.mu.Unlock()
	if s.node.cur != s {
		return false
	}
	s.node.cur = nil
	return true
}

func (s *agentSession) disconnected() {
	ctx, cancel := context.WithTimeout(context.Background(), reportTimeout)
	defer cancel()
	s.srv.handler.Disconnected(ctx, s.nodeID)
}

// serve runs the attached session until it ends, then unregisters it and,
// unless a newer session took over, tells the handler the node's agent is
// gone.
func (s *agentSession) serve() error {
	ctx, cancel := context.WithCancelCause(s.stream.Context())
	defer cancel(nil)
	go func() {
		// The session ending (superseded, server closing) ends the stream.
		select {
		case <-s.ctx.Done():
			cancel(context.Cause(s.ctx))
		case <-ctx.Done():
		}
	}()
	s.seen()
	// On a server of a cluster the session is recorded as its node's before
	// it takes commands; a server that cannot record it turns the agent to
	// another server.
	c := s.srv.dispatcher.clusterOf()
	if c != nil {
		if err := s.srv.claim(c, s); err != nil {
			s.srv.log.Warn("session refused: it could not be recorded in the cluster's records", "node", s.name, "session", s.id, "error", err)
			s.end(err)
			s.release()
			s.markFinished()
			return status.Errorf(codes.Unavailable, "this server cannot record the session in the database (%v): connect to another server", err)
		}
	}
	if err := s.stream.Send(&agentv1.ServerMessage{Msg: &agentv1.ServerMessage_Welcome{Welcome: &agentv1.Welcome{NodeId: s.nodeID, SessionId: s.id, AcceptsLogs: s.srv.logs != nil}}}); err != nil {
		s.end(err)
		s.release()
		if c != nil {
			s.srv.unclaim(c, s)
		}
		s.markFinished()
		return err
	}
	unregister := s.srv.dispatcher.Register(s.nodeID, s)
	s.srv.log.Info("session attached", "node", s.name, "node_id", s.nodeID, "session", s.id)
	s.srv.metrics.sessionOpened()

	// streamWG are the goroutines using the stream, which must end before
	// this handler returns; workWG those applying what the agent sent.
	var streamWG, workWG sync.WaitGroup
	streamWG.Go(func() { cancel(s.write(ctx)) })
	workWG.Go(func() { s.applyReports(ctx) })
	workWG.Go(func() { s.storeLogs(ctx) })
	streamWG.Go(func() { cancel(s.watchdog(ctx)) })
	// The reader is not waited for: Recv returns once this handler returns.
	go func() { cancel(s.read(ctx)) }()

	<-ctx.Done()
	cause := context.Cause(ctx)
	s.end(cause)
	s.srv.metrics.sessionClosed(cause)
	unregister()
	streamWG.Wait()
	if errors.Is(cause, errLostDatabase) {
		// The agent is told at once, so that it moves to a server that
		// reaches the database; what waits for the database ends later.
		s.srv.cleanup.Go(func() {
			workWG.Wait()
			s.finish(c, cause)
		})
		return endStatus(cause)
	}
	workWG.Wait()
	s.finish(c, cause)
	return endStatus(cause)
}

// finish releases the ended session: its claim in the cluster's records
// (c nil on a single server), its place as its node's session and, unless
// a newer session took over, tells the handler the node's agent is gone.
func (s *agentSession) finish(c *cluster, cause error) {
	if c != nil {
		s.srv.unclaim(c, s)
	}
	current := s.release()
	// A session another server took over ends with its node connected
	// there.
	if current && !errors.Is(cause, errTakenOver) {
		s.disconnected()
	}
	s.srv.log.Info("session ended", "node", s.name, "node_id", s.nodeID, "session", s.id, "cause", describeEnd(cause), "node_released", current)
	s.markFinished()
}

// markFinished closes finished, once.
func (s *agentSession) markFinished() { s.finishOnce.Do(func() { close(s.finished) }) }

func (s *agentSession) seen() { s.lastSeen.Store(time.Now().UnixNano()) }

// read takes the agent's messages: reports queue for applyReports, log
// batches for storeLogs, command replies go to their caller.
func (s *agentSession) read(ctx context.Context) error {
	for {
		m, err := s.stream.Recv()
		if err != nil {
			return err
		}
		s.seen()
		switch msg := m.GetMsg().(type) {
		case *agentv1.AgentMessage_Report:
			select {
			case s.reports <- msg.Report:
			case <-ctx.Done():
				return nil
			}
		case *agentv1.AgentMessage_Reply:
			s.deliver(msg.Reply)
		case *agentv1.AgentMessage_Stats:
			if rec := s.srv.stats; rec != nil {
				samples := make([]*backend.HostStats, 0, len(msg.Stats.GetSamples()))
				for _, h := range msg.Stats.GetSamples() {
					samples = append(samples, backend.HostStatsFromProto(h))
				}
				rec.Record(s.nodeID, samples)
			}
		case *agentv1.AgentMessage_Logs:
			select {
			case s.logs <- msg.Logs:
			case <-ctx.Done():
				return nil
			}
		default:
			return status.Errorf(codes.InvalidArgument, "unexpected %T on an attached session", msg)
		}
	}
}

// write sends what queues in out, in order.
func (s *agentSession) write(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-s.out:
			if err := s.stream.Send(m); err != nil {
				return err
			}
		}
	}
}

// watchdog ends a session whose agent stays silent for missedHeartbeats
// heartbeat intervals though the connection looks open.
func (s *agentSession) watchdog(ctx context.Context) error {
	limit := missedHeartbeats*s.heartbeat + time.Second
	t := time.NewTicker(s.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if time.Since(time.Unix(0, s.lastSeen.Load())) > limit {
				return errMissedBeats
			}
		}
	}
}

// applyReports applies the queued reports one at a time.
func (s *agentSession) applyReports(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-s.reports:
			s.apply(r)
		}
	}
}

// apply applies one report unless it is stale: its session is not the
// node's current one, or its sequence number is not above the last one
// applied for the node.
func (s *agentSession) apply(r *agentv1.Report) {
	n := s.node
	n.mu.Lock()
	defer n.mu.Unlock()
	log := s.srv.log
	switch {
	case n.cur != s:
		log.Debug("report of a superseded session dropped", "node", s.name, "session", s.id, "seq", r.GetSeq())
		s.srv.metrics.dropped.WithLabelValues("superseded").Inc()
		return
	case r.GetSessionId() != s.id:
		log.Debug("report naming another session dropped", "node", s.name, "session", s.id, "report_session", r.GetSessionId(), "seq", r.GetSeq())
		s.srv.metrics.dropped.WithLabelValues("superseded").Inc()
		return
	case r.GetSeq() <= n.lastSeq:
		log.Debug("stale report dropped", "node", s.name, "session", s.id, "seq", r.GetSeq(), "last_applied", n.lastSeq)
		s.srv.metrics.dropped.WithLabelValues("stale").Inc()
		return
	}
	n.lastSeq = r.GetSeq()
	ctx, cancel := context.WithTimeout(context.Background(), reportTimeout)
	defer cancel()
	h := s.srv.handler
	start := time.Now()
	switch body := r.GetBody().(type) {
	case *agentv1.Report_FullSync:
		vms := vmsFromProto(body.FullSync.GetVms())
		err := h.FullSync(ctx, s.nodeID, vms)
		s.srv.metrics.reportApplied(ReportFullSync, start, err)
		s.noteApplied("full sync", err, true)
		if err == nil {
			log.Debug("full sync applied", "node", s.name, "session", s.id, "vms", len(vms))
		}
	case *agentv1.Report_Change:
		err := h.Change(ctx, s.nodeID, changeFromProto(body.Change))
		s.srv.metrics.reportApplied(ReportChange, start, err)
		s.noteApplied("change", err, false)
	case *agentv1.Report_Heartbeat:
		full, err := h.Heartbeat(ctx, s.nodeID, heartbeatFromProto(body.Heartbeat))
		s.srv.metrics.reportApplied(ReportHeartbeat, start, err)
		s.noteApplied("heartbeat", err, false)
		s.mu.Lock()
		full = full || s.resync
		s.mu.Unlock()
		if full {
			log.Debug("asking the agent for a full sync", "node", s.name, "session", s.id)
		}
		s.offer(&agentv1.ServerMessage{Msg: &agentv1.ServerMessage_HeartbeatReply{HeartbeatReply: &agentv1.HeartbeatReply{Seq: r.GetSeq(), RequestFullSync: full}}})
	default:
		log.Warn("report without a body dropped: the agent speaks a newer protocol", "node", s.name, "seq", r.GetSeq())
	}
}

// noteApplied logs a failed report and has the next heartbeat reply ask
// for a full sync; a full sync applied clears that.
func (s *agentSession) noteApplied(what string, err error, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.resync = true
		s.srv.log.Warn("applying a report failed; the next heartbeat reply asks for a full sync", "node", s.name, "report", what, "error", err)
		return
	}
	if full {
		s.resync = false
	}
}

// offer queues m unless the queue is full: an agent that does not read
// what it is sent loses heartbeat replies rather than holding up its node's
// reports (the next heartbeat gets another).
func (s *agentSession) offer(m *agentv1.ServerMessage) {
	select {
	case s.out <- m:
	default:
		s.srv.log.Debug("heartbeat reply dropped: the agent does not read its stream", "node", s.name, "session", s.id)
	}
}

// describeEnd says why a session ended, for the log.
func describeEnd(cause error) string {
	if cause == nil || errors.Is(cause, context.Canceled) {
		return "the agent closed the stream"
	}
	return cause.Error()
}

// endStatus is what the agent is told when its session ends.
func endStatus(cause error) error {
	switch {
	case errors.Is(cause, errSuperseded):
		return status.Error(codes.Aborted, errSuperseded.Error()+": register again")
	case errors.Is(cause, errServerClosing):
		return status.Error(codes.Unavailable, errServerClosing.Error())
	case errors.Is(cause, errLostDatabase):
		return status.Error(codes.Unavailable, errLostDatabase.Error()+": connect to another server")
	case errors.Is(cause, errEnded):
		return status.Error(codes.Aborted, cause.Error())
	case errors.Is(cause, errRevoked):
		return status.Error(codes.Unauthenticated, cause.Error())
	case errors.Is(cause, errMissedBeats):
		return status.Error(codes.DeadlineExceeded, errMissedBeats.Error()+": register again")
	}
	if _, ok := status.FromError(cause); ok && cause != nil {
		return cause
	}
	return nil
}
