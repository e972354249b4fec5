package agentserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quantixvm/quantix/core/agent/wire"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/store"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	clusterv1 "github.com/quantixvm/quantix/proto/quantix/cluster/v1"
	"github.com/quantixvm/quantix/sdk/backend"
)

// errTakenOver ends a session another server of the cluster took over:
// the agent is told it was superseded, and the node is not reported
// disconnected (its agent is connected, elsewhere).
var errTakenOver = fmt.Errorf("%w (on another server of the cluster)", errSuperseded)

// errLostDatabase ends the sessions of a server of a cluster that cannot
// reach the database: the agent is told to connect to another server.
var errLostDatabase = errors.New("this server cannot reach the cluster's database")

// clusterServicePrefix begins the full method names of the cluster
// service, which only servers of the cluster may call.
var clusterServicePrefix = "/" + clusterv1.ClusterService_ServiceDesc.ServiceName + "/"

func isClusterMethod(method string) bool { return strings.HasPrefix(method, clusterServicePrefix) }

// clusterService is the agent port's cluster service: the other servers
// of the cluster forward commands for the nodes whose sessions this server
// holds through it, and tell it when they take a session over.
type clusterService struct {
	clusterv1.UnimplementedClusterServiceServer
	srv *Server
}

// Execute runs the command on this server's attached session of the node.
func (c *clusterService) Execute(ctx context.Context, req *clusterv1.ExecuteRequest) (*clusterv1.ExecuteResponse, error) {
	nodeID := req.GetNodeId()
	if nodeID == "" || req.GetCommand() == nil {
		return nil, status.Error(codes.InvalidArgument, "node_id and command are required")
	}
	e := c.srv.dispatcher.local(nodeID)
	if e == nil {
		return nil, status.Errorf(codes.Unavailable, "%s (node %s)", notHeldPrefix, nodeID)
	}
	cmd := commandFromProto(req.GetCommand())
	if ms := req.GetCommand().GetTimeoutMs(); ms > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	var (
		res *nodeapi.Result
		err error
	)
	if req.GetAgain() {
		res, err = executeAgain(ctx, e, nodeID, cmd)
	} else {
		res, err = e.Execute(ctx, nodeID, cmd)
	}
	switch {
	case errors.Is(err, errNotSent):
		// The session refused it unsent (over, or moving away): the
		// sender may carry it to the node's next session.
		return nil, status.Errorf(codes.Unavailable, "%s (node %s): %v", notHeldPrefix, nodeID, err)
	case errors.Is(err, nodeapi.ErrNodeUnavailable):
		return nil, status.Error(codes.Unavailable, remotePrefix+err.Error())
	case err != nil:
		return &clusterv1.ExecuteResponse{Reply: &agentv1.CommandReply{Error: wire.ErrorToProto(err)}}, nil
	}
	return &clusterv1.ExecuteResponse{Reply: &agentv1.CommandReply{Vm: backend.VMToProto(res.VM), Log: backend.LogTailToProto(res.Log),
		ObservedAt: wire.TimeToProto(res.ObservedAt)}}, nil
}

// Supersede closes this server's session of the node unless it is the
// one named.
func (c *clusterService) Supersede(ctx context.Context, req *clusterv1.SupersedeRequest) (*clusterv1.SupersedeResponse, error) {
	if req.GetNodeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "node_id is required")
	}
	cause := errTakenOver
	if r := req.GetReason(); r != "" {
		cause = fmt.Errorf("%w: %s", errEnded, r)
	}
	closed := c.srv.endLocal(req.GetNodeId(), req.GetSessionId(), cause, "server", req.GetServerId())
	return &clusterv1.SupersedeResponse{Closed: closed}, nil
}

// commandFromProto is the command a forwarded request carries.
func commandFromProto(p *agentv1.Command) nodeapi.Command {
	cmd := nodeapi.Command{
		Op:     p.GetOp(),
		VMID:   p.GetVmId(),
		Stop:   backend.StopOptions{Force: p.GetStopForce(), Timeout: time.Duration(p.GetStopTimeoutMs()) * time.Millisecond},
		Delete: backend.DeleteOptions{DeleteDisks: p.GetDeleteDisks(), Force: p.GetDeleteForce()},
		Lines:  int(p.GetLines()),
		Name:   p.GetVmName(),

		RequestID: p.GetRequestId(),
	}
	if p.GetSpec() != nil {
		spec := backend.SpecFromProto(p.GetSpec())
		cmd.Spec = &spec
	}
	return cmd
}

// endLocal ends this server's claimed session of node nodeID for cause,
// unless it is session keep; true when one ended. It takes no node lock,
// which applying a report holds while it waits for the database.
func (s *Server) endLocal(nodeID, keep string, cause error, why ...any) bool {
	s.mu.Lock()
	cur := s.claimed[nodeID]
	s.mu.Unlock()
	if cur == nil || cur.id == keep || cur.ctx.Err() != nil {
		return false
	}
	s.log.Info("ending the session of a node", append([]any{"node", cur.name, "session", cur.id, "cause", cause.Error()}, why...)...)
	cur.end(cause)
	return true
}

// claim records sess as its node's session in the cluster's records and
// tells the server that held the node before, if another, to close its
// session.
func (s *Server) claim(c *cluster, sess *agentSession) error {
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	defer cancel()
	prev, err := c.records.NodeHolder(ctx, sess.nodeID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("reading which server holds node %s: %w", sess.name, err)
	}
	if err := c.records.ClaimNode(ctx, store.NodeSession{NodeID: sess.nodeID, ServerID: c.id, SessionID: sess.id}); err != nil {
		return fmt.Errorf("recording the session of node %s: %w", sess.name, err)
	}
	sess.mu.Lock()
	sess.claimedAt = time.Now()
	sess.mu.Unlock()
	s.mu.Lock()
	s.claimed[sess.nodeID] = sess
	s.mu.Unlock()
	if prev.ServerID != "" && prev.ServerID != c.id {
		s.log.Info("took over the session of a node from another server", "node", sess.name, "session", sess.id, "previous_server", prev.ServerID, "previous_session", prev.SessionID)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
			defer cancel()
			if err := c.supersede(ctx, prev.ServerID, sess.nodeID, sess.id); err != nil {
				// A server that is gone holds nothing; one that is not
				// closes the session at its own check of its claims.
				s.log.Info("could not tell the previous server to close its session of the node: it may be gone, else its own check of its claims closes it", "node", sess.name, "error", err)
			}
		}()
	}
	return nil
}

// unclaim deletes sess's claim, if it still is its node's.
func (s *Server) unclaim(c *cluster, sess *agentSession) {
	sess.mu.Lock()
	claimed := !sess.claimedAt.IsZero()
	sess.mu.Unlock()
	if !claimed {
		return
	}
	s.mu.Lock()
	if s.claimed[sess.nodeID] == sess {
		delete(s.claimed, sess.nodeID)
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	defer cancel()
	if err := c.records.ReleaseNode(ctx, sess.nodeID, sess.id); err != nil {
		s.log.Warn("releasing the session of a node in the cluster's records failed; the next server to take it over replaces the claim", "node", sess.name, "session", sess.id, "error", err)
	}
}

// runCluster reads the cluster's records every refresh until ctx ends:
// the Dispatcher's view of who holds which node, and the check of this
// server's claims: a session whose node another server claimed is closed
// (a backstop for the Supersede call that server makes), a claim that
// went missing is recorded again, and every touchEvery refreshes the
// claims' heartbeat times are written. A server that cannot read the
// records for longer than the live window closes its sessions, so that
// their agents move to a server that can: the others count this one gone
// by then.
func (s *Server) runCluster(ctx context.Context, c *cluster) {
	t := time.NewTicker(c.refresh)
	defer t.Stop()
	var failing, cut bool
	lastOK := time.Now()
	for i := 0; ; i++ {
		began := time.Now()
		err := s.checkClaims(ctx, c, i%touchEvery == 0)
		switch {
		case err == nil:
			lastOK = began
			if failing {
				s.log.Info("reading the cluster's sessions works again")
			}
			failing, cut = false, false
		case ctx.Err() != nil:
			return
		case !failing:
			s.log.Warn("reading the cluster's sessions failed; retrying", "error", err)
			failing = true
		}
		if failing && !cut && time.Since(lastOK) > c.liveWithin {
			n := 0
			for _, sess := range s.attachedSessions() {
				if s.endLocal(sess.nodeID, "", errLostDatabase) {
					n++
				}
			}
			s.log.Warn("this server has not reached the database for longer than the cluster's lease ttl: its agents' sessions are closed so that they move to another server",
				"sessions", n, "since", lastOK.Format(time.RFC3339Nano))
			cut = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) checkClaims(ctx context.Context, c *cluster, touch bool) error {
	ctx, cancel := context.WithTimeout(ctx, min(claimTimeout, c.liveWithin))
	defer cancel()
	readAt := time.Now()
	claims, err := c.read(ctx)
	if err != nil {
		return err
	}
	byNode := make(map[string]store.NodeSession, len(claims))
	for _, cl := range claims {
		byNode[cl.NodeID] = cl
	}
	var held []string
	for _, sess := range s.attachedSessions() {
		sess.mu.Lock()
		claimedAt := sess.claimedAt
		sess.mu.Unlock()
		// A claim made after the records were read is not in them.
		if claimedAt.IsZero() || claimedAt.After(readAt) {
			continue
		}
		cl, ok := byNode[sess.nodeID]
		switch {
		case ok && cl.ServerID != c.id:
			s.endLocal(sess.nodeID, "", errTakenOver, "server", cl.ServerID)
		case !ok || cl.SessionID != sess.id:
			if err := c.records.ClaimNode(ctx, store.NodeSession{NodeID: sess.nodeID, ServerID: c.id, SessionID: sess.id}); err != nil {
				return fmt.Errorf("recording again the session of node %s: %w", sess.name, err)
			}
			s.log.Info("the claim of an attached session was missing from the cluster's records; recorded it again", "node", sess.name, "session", sess.id)
			held = append(held, sess.nodeID)
		default:
			held = append(held, sess.nodeID)
		}
	}
	if touch && len(held) > 0 {
		if err := c.records.TouchNodes(ctx, c.id, held); err != nil {
			return fmt.Errorf("writing the heartbeat times of this server's sessions: %w", err)
		}
	}
	return nil
}

// attachedSessions lists the sessions this server claimed that are not
// over. It takes no node lock, which applying a report holds while it
// waits for the database.
func (s *Server) attachedSessions() []*agentSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*agentSession, 0, len(s.claimed))
	for _, sess := range s.claimed {
		if sess.ctx.Err() == nil {
			out = append(out, sess)
		}
	}
	return out
}
