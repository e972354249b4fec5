package agentserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quantixvm/quantix/core/agent/wire"
	"github.com/quantixvm/quantix/core/nodeapi"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	clusterv1 "github.com/quantixvm/quantix/proto/quantix/cluster/v1"
)

// consoleOpenTimeout bounds how long opening a console waits for the
// agent to attach it, when the caller's context has no deadline.
const consoleOpenTimeout = 30 * time.Second

// openConsoles counts the consoles attached on the agent servers of this
// process, for tests that check none is left behind.
var openConsoles atomic.Int64

// OpenConsoles says how many consoles agents have attached to the agent
// servers of this process and are not over yet.
func OpenConsoles() int64 { return openConsoles.Load() }

var (
	_ nodeapi.ConsoleOpener = (*agentSession)(nil)
	_ nodeapi.ConsoleOpener = (*Dispatcher)(nil)
)

// consoleWait is a console asked of an agent, waiting for the agent to
// attach it.
type consoleWait struct {
	sess *agentSession
	vmID string
	mu   sync.Mutex
	// got receives the attached console or why it could not open; nil
	// once the opener gave up.
	got chan consoleAttach
}

type consoleAttach struct {
	c   *wire.FrameConsole
	err error
}

// deliver hands a onto the opener; false when it gave up.
func (w *consoleWait) deliver(a consoleAttach) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.got == nil {
		return false
	}
	w.got <- a
	w.got = nil
	return true
}

// abandon tells a late attach that nobody waits for it.
func (w *consoleWait) abandon() {
	w.mu.Lock()
	w.got = nil
	w.mu.Unlock()
}

// OpenConsole asks the agent of this session to open VM vmID's serial
// console and waits for the agent to attach it on an AgentConsole call of
// its own (bounded by ctx, or consoleOpenTimeout). The console ends with
// the session.
func (s *agentSession) OpenConsole(ctx context.Context, nodeID, vmID string) (nodeapi.Console, error) {
	if nodeID != s.nodeID {
		return nil, fmt.Errorf("node %s: not served by the session of node %s: %w", nodeID, s.nodeID, nodeapi.ErrNodeUnavailable)
	}
	if vmID == "" {
		return nil, errors.New("opening a console: no vm id given")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, consoleOpenTimeout)
		defer cancel()
	}
	s.mu.Lock()
	if s.ctx.Err() != nil || !s.attached || s.draining {
		s.mu.Unlock()
		return nil, fmt.Errorf("node %s: the agent is not connected here: %w", s.nodeID, nodeapi.ErrNodeUnavailable)
	}
	s.mu.Unlock()
	token := newConsoleToken()
	got := make(chan consoleAttach, 1)
	w := &consoleWait{sess: s, vmID: vmID, got: got}
	s.srv.consoleMu.Lock()
	if s.srv.consoleWaits == nil {
		s.srv.consoleWaits = map[string]*consoleWait{}
	}
	s.srv.consoleWaits[token] = w
	s.srv.consoleMu.Unlock()
	defer func() {
		w.abandon()
		s.srv.consoleMu.Lock()
		delete(s.srv.consoleWaits, token)
		s.srv.consoleMu.Unlock()
	}()
	msg := &agentv1.ServerMessage{Msg: &agentv1.ServerMessage_ConsoleOpen{ConsoleOpen: &agentv1.ConsoleOpen{Token: token, VmId: vmID, SessionId: s.id}}}
	select {
	case s.out <- msg:
	case <-s.ctx.Done():
		return nil, fmt.Errorf("node %s: the agent disconnected: %w", s.nodeID, nodeapi.ErrNodeUnavailable)
	case <-ctx.Done():
		return nil, fmt.Errorf("node %s: asking the agent for the console of vm %s: %w", s.nodeID, vmID, ctx.Err())
	}
	select {
	case a := <-got:
		return a.c, a.err
	case <-s.ctx.Done():
		return nil, fmt.Errorf("node %s: the agent disconnected before attaching the console: %w", s.nodeID, nodeapi.ErrNodeUnavailable)
	case <-ctx.Done():
		return nil, fmt.Errorf("node %s: the agent did not attach the console of vm %s: %w", s.nodeID, vmID, ctx.Err())
	}
}

func newConsoleToken() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("agentserver: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// consoleService is the agent port's AgentConsole service.
type consoleService struct {
	agentv1.UnimplementedAgentConsoleServer
	srv *Server
}

// Attach takes the console the agent opened for a console_open it was
// sent: the first frame names it by token, from the agent of the node the
// token was given to, on its live session. The call then carries the
// console until it ends: closed here, ended by the agent (the VM
// stopped), the agent's call broken, or the session over.
func (cs *consoleService) Attach(stream agentv1.AgentConsole_AttachServer) error {
	s := cs.srv
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	s.consoleMu.Lock()
	w := s.consoleWaits[first.GetToken()]
	delete(s.consoleWaits, first.GetToken())
	s.consoleMu.Unlock()
	id, ok := identityFrom(stream.Context())
	switch {
	case w == nil:
		return status.Error(codes.NotFound, "no console is waiting for this token (the server gave up waiting, or the token is wrong)")
	case !ok || id.node != w.sess.name:
		w.deliver(consoleAttach{err: fmt.Errorf("node %s: a console was attached with another node's certificate: %w", w.sess.nodeID, nodeapi.ErrNodeUnavailable)})
		return status.Errorf(codes.PermissionDenied, "the console was asked of node %q, not of the node this certificate names", w.sess.name)
	}
	sess := w.sess
	if e := first.GetError(); e != nil {
		w.deliver(consoleAttach{err: wire.ConsoleErrorFromProto(e)})
		return nil
	}
	if !first.GetOpened() {
		w.deliver(consoleAttach{err: fmt.Errorf("node %s: the agent attached a console neither opened nor failed; agent and server speak different protocols", sess.nodeID)})
		return status.Error(codes.InvalidArgument, "the first frame must carry opened or error")
	}
	c := wire.NewFrameConsole(nil)
	if !w.deliver(consoleAttach{c: c}) {
		return status.Error(codes.DeadlineExceeded, "the console was attached after the server gave up waiting for it")
	}
	openConsoles.Add(1)
	defer openConsoles.Add(-1)
	s.log.Debug("console attached", "node", sess.name, "vm_id", w.vmID, "session", sess.id)
	streamEnd := func(err error) nodeapi.ConsoleEnd {
		if err == io.EOF {
			return nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleFailed, Reason: "the agent ended the console without saying why"}
		}
		if sess.ctx.Err() != nil {
			return sessionEnd(sess)
		}
		return nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleNodeGone, Reason: fmt.Sprintf("the console's connection to node %s broke: %v", sess.name, err)}
	}
	go c.SendLoop(stream, streamEnd)
	// The receiver is not waited for: Recv returns once Attach returns.
	go c.RecvLoop(stream, streamEnd)
	select {
	case <-c.Done():
	case <-sess.ctx.Done():
		c.Finish(sessionEnd(sess))
	case <-stream.Context().Done():
		c.Finish(streamEnd(stream.Context().Err()))
	}
	s.log.Debug("console ended", "node", sess.name, "vm_id", w.vmID, "cause", c.End().Cause, "reason", c.End().Reason)
	sess.closeConsole(first.GetToken())
	return nil
}

// closeConsole tells the agent that the console attached with token is
// over here. Returning from Attach ends the call, but HTTP/2 sends the
// call's end only after the data queued before it, which an agent whose
// backend stopped taking input never reads: the session, a call of its
// own, carries the word instead. Nothing is sent once the session ended
// (the agent's consoles end with it).
func (s *agentSession) closeConsole(token string) {
	msg := &agentv1.ServerMessage{Msg: &agentv1.ServerMessage_ConsoleClose{ConsoleClose: &agentv1.ConsoleClose{Token: token}}}
	select {
	case s.out <- msg:
	case <-s.ctx.Done():
	}
}

// sessionEnd is the end of a console whose session ended.
func sessionEnd(sess *agentSession) nodeapi.ConsoleEnd {
	cause := context.Cause(sess.ctx)
	if errors.Is(cause, errServerClosing) {
		return nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleServerShutdown, Reason: fmt.Sprintf("the server is shutting down (node %s)", sess.name)}
	}
	return nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleNodeGone, Reason: fmt.Sprintf("the session of node %s ended: %s", sess.name, describeEnd(cause))}
}

// OpenConsole opens VM vmID's console through node nodeID's session here,
// else, on a server of a cluster, through the server holding it.
func (d *Dispatcher) OpenConsole(ctx context.Context, nodeID, vmID string) (nodeapi.Console, error) {
	d.mu.RLock()
	r, c := d.nodes[nodeID], d.cluster
	d.mu.RUnlock()
	if r != nil {
		if co, ok := r.exec.(nodeapi.ConsoleOpener); ok {
			return co.OpenConsole(ctx, nodeID, vmID)
		}
		return nil, fmt.Errorf("node %s: its executor carries no console", nodeID)
	}
	if c != nil {
		return c.openConsole(ctx, nodeID, vmID)
	}
	return nil, fmt.Errorf("node %s: no agent is connected: %w", nodeID, nodeapi.ErrNodeUnavailable)
}

// openConsole opens VM vmID's console through the server holding node
// nodeID's session (ClusterService.Console).
func (c *cluster) openConsole(ctx context.Context, nodeID, vmID string) (nodeapi.Console, error) {
	h, err := c.holder(ctx, nodeID)
	if err != nil {
		return nil, err
	}
	s, live, err := c.server(ctx, h.ServerID)
	if err != nil {
		return nil, fmt.Errorf("node %s: %v: %w", nodeID, err, nodeapi.ErrNodeUnavailable)
	}
	if !live {
		return nil, fmt.Errorf("node %s: its agent's session is on server %s, which is gone (no recent heartbeat): %w", nodeID, serverName(s, h.ServerID), nodeapi.ErrNodeUnavailable)
	}
	p, err := c.peer(s)
	if err != nil {
		return nil, fmt.Errorf("node %s: %v: %w", nodeID, err, nodeapi.ErrNodeUnavailable)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, consoleOpenTimeout)
		defer cancel()
	}
	// The call outlives ctx, which bounds the opening only.
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	stream, err := p.client.Console(sctx)
	if err == nil {
		err = stream.Send(&agentv1.ConsoleFrame{NodeId: nodeID, VmId: vmID})
	}
	var first *agentv1.ConsoleFrame
	if err == nil {
		first, err = stream.Recv()
	}
	stopped := !stop()
	switch {
	case stopped && ctx.Err() != nil:
		cancel()
		return nil, fmt.Errorf("node %s: opening the console of vm %s through server %s: %w", nodeID, vmID, serverName(s, h.ServerID), ctx.Err())
	case err != nil:
		cancel()
		return nil, forwardError(nodeID, "console", serverName(s, h.ServerID), err)
	case first.GetError() != nil:
		cancel()
		return nil, wire.ConsoleErrorFromProto(first.GetError())
	case !first.GetOpened():
		cancel()
		return nil, fmt.Errorf("node %s: server %s answered the console without opening it; the servers run different versions", nodeID, serverName(s, h.ServerID))
	}
	fc := wire.NewFrameConsole(cancel)
	openConsoles.Add(1)
	streamEnd := func(err error) nodeapi.ConsoleEnd {
		if err == io.EOF {
			return nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleFailed, Reason: fmt.Sprintf("server %s ended the console without saying why", serverName(s, h.ServerID))}
		}
		return nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleNodeGone, Reason: fmt.Sprintf("the console's connection through server %s broke: %v", serverName(s, h.ServerID), err)}
	}
	go func() {
		<-fc.Done()
		openConsoles.Add(-1)
	}()
	go fc.SendLoop(stream, streamEnd)
	go fc.RecvLoop(stream, streamEnd)
	return fc, nil
}

// Console serves a console for another server of the cluster: it opens
// the console through this server's session of the node the first frame
// names and carries it until either side ends it.
func (c *clusterService) Console(stream clusterv1.ClusterService_ConsoleServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	nodeID, vmID := first.GetNodeId(), first.GetVmId()
	if nodeID == "" || vmID == "" {
		return status.Error(codes.InvalidArgument, "the first frame must name node_id and vm_id")
	}
	e := c.srv.dispatcher.local(nodeID)
	co, ok := e.(nodeapi.ConsoleOpener)
	if e == nil || !ok {
		return status.Errorf(codes.Unavailable, "%s (node %s)", notHeldPrefix, nodeID)
	}
	con, err := co.OpenConsole(stream.Context(), nodeID, vmID)
	if errors.Is(err, nodeapi.ErrNodeUnavailable) {
		return status.Error(codes.Unavailable, remotePrefix+err.Error())
	}
	if err != nil {
		return stream.Send(&agentv1.ConsoleFrame{Error: wire.ConsoleErrorToProto(err)})
	}
	defer con.Close()
	if err := stream.Send(&agentv1.ConsoleFrame{Opened: true}); err != nil {
		return err
	}
	go func() {
		for {
			f, err := stream.Recv()
			if err != nil {
				con.Close()
				return
			}
			if _, err := con.Write(f.GetData()); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, wire.ConsoleChunk)
	for {
		n, rerr := con.Read(buf)
		if n > 0 {
			if err := stream.Send(&agentv1.ConsoleFrame{Data: append([]byte(nil), buf[:n]...)}); err != nil {
				return err
			}
		}
		if rerr != nil {
			return stream.Send(&agentv1.ConsoleFrame{End: wire.ConsoleEndToProto(nodeapi.EndOf(con))})
		}
	}
}
