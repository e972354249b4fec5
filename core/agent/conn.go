package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/quantixvm/quantix/core/agent/nodecert"
	"github.com/quantixvm/quantix/core/agent/wire"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
)

// Connection timing: how long registering and attaching may take, and the
// keepalive pings that find a server gone without closing the connection.
const (
	registerTimeout   = 15 * time.Second
	keepaliveInterval = 10 * time.Second
	keepaliveTimeout  = 5 * time.Second
)

// stableSession is how long a session must last for the backoff to start
// over when it ends.
const stableSession = 10 * time.Second

// errRefused marks a server refusing the agent (join token, protocol
// version): retrying the same server soon will not help, but the server may
// be reconfigured, so the agent keeps trying.
var errRefused = errors.New("refused by the server")

// errInvalid marks a registration the server refused as invalid (a node
// name it does not accept): the same registration will never be taken, so
// the agent waits invalidRetry between attempts instead of its backoff,
// giving the operator time to fix the configuration.
var errInvalid = errors.New("refused as invalid by the server: fix the agent's configuration and restart it")

// errLimited marks a registration the server refused because it takes new
// nodes at a bounded rate: the agent waits its longest backoff.
var errLimited = errors.New("the server is limiting registrations of new nodes")

// errTaken marks an enrollment the server refused because the node name
// has another host's certificate: the node must be removed first, so the
// agent waits invalidRetry between attempts.
var errTaken = errors.New("the node name is taken: another host holds its certificate")

// invalidRetry is how long the agent waits after an invalid registration
// or a taken node name.
const invalidRetry = 5 * time.Minute

// connectLoop dials the servers in turn until ctx ends, running a session
// on each successful connection and backing off between attempts.
func (a *Agent) connectLoop(ctx context.Context) {
	b := newBackoff(200*time.Millisecond, a.cfg.MaxBackoff)
	var last string
	var lastLogged time.Time
	for i := 0; ctx.Err() == nil; i++ {
		server := a.cfg.Servers[i%len(a.cfg.Servers)]
		began := time.Now()
		attached, err := a.connect(ctx, server)
		if ctx.Err() != nil {
			return
		}
		a.mu.Lock()
		a.status.LastError = err
		a.mu.Unlock()
		if attached && time.Since(began) >= stableSession {
			b.reset()
		}
		wait := b.next()
		switch {
		case errors.Is(err, errInvalid), errors.Is(err, errTaken):
			wait = max(wait, invalidRetry)
		case errors.Is(err, errLimited):
			wait = max(wait, a.cfg.MaxBackoff)
		}
		// The same error every few seconds says nothing new: log it when it
		// changes, and at least every half minute.
		if msg := err.Error(); msg != last || time.Since(lastLogged) > 30*time.Second {
			switch {
			case errors.Is(err, errTaken):
				a.log.Error("the server refused to enroll this host: its node name has another host's certificate; remove that node or set another agent.node_name", "server", server, "node", a.cfg.NodeName, "error", err, "retry_in", wait)
			case errors.Is(err, errInvalid):
				a.log.Error("the server refused the registration as invalid; fix the agent's configuration and restart the agent", "server", server, "node", a.cfg.NodeName, "error", err, "retry_in", wait)
			case errors.Is(err, errLimited):
				a.log.Warn("the server is limiting new node registrations; retrying", "server", server, "error", err, "retry_in", wait)
			case errors.Is(err, errRefused):
				a.log.Error("the server refused the agent; retrying", "server", server, "error", err, "retry_in", wait)
			default:
				a.log.Warn("no session with the server; retrying", "server", server, "error", err, "retry_in", wait)
			}
			last, lastLogged = msg, time.Now()
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// localAddr records the local address of the connection the dialer made.
type localAddr struct {
	mu   sync.Mutex
	addr string
}

func (l *localAddr) dial(ctx context.Context, target string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", target)
	if err == nil {
		if tcp, ok := c.LocalAddr().(*net.TCPAddr); ok {
			l.mu.Lock()
			l.addr = tcp.IP.String()
			l.mu.Unlock()
		}
	}
	return c, err
}

func (l *localAddr) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}

// connect registers with server and runs the session until it ends.
// attached reports whether the server accepted the session; err says why it
// ended.
func (a *Agent) connect(ctx context.Context, server string) (attached bool, err error) {
	began := time.Now()
	id := a.identity()
	if id == nil {
		if id, err = a.enroll(ctx, server); err != nil {
			return false, err
		}
	}
	local := &localAddr{}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(nodecert.ServerTLS(id.CA, a.clientCert))),
		grpc.WithContextDialer(local.dial),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: keepaliveInterval, Timeout: keepaliveTimeout, PermitWithoutStream: true}),
	}
	conn, err := grpc.NewClient(server, opts...)
	if err != nil {
		return false, fmt.Errorf("server %s: %w; agent.servers takes host:port addresses", server, err)
	}
	defer conn.Close()
	client := agentv1.NewAgentServiceClient(conn)

	host, info := a.describe(ctx)
	rctx, cancel := context.WithTimeout(ctx, registerTimeout)
	// Connect before registering, so that the registration carries the
	// local address of the connection as the address this agent claims. A
	// failure to connect is left to Register to report.
	conn.Connect()
	for st := conn.GetState(); st == connectivity.Idle || st == connectivity.Connecting; st = conn.GetState() {
		if !conn.WaitForStateChange(rctx, st) {
			break
		}
	}
	reg, err := client.Register(rctx, &agentv1.RegisterRequest{
		ProtocolVersion:     agentv1.ProtocolVersion_PROTOCOL_VERSION_1,
		NodeName:            a.cfg.NodeName,
		Address:             local.get(),
		Host:                backend.HostInfoToProto(host),
		Backend:             wire.BackendToProto(info),
		HeartbeatIntervalMs: a.cfg.HeartbeatInterval.Milliseconds(),
		AgentVersion:        a.cfg.Version,
		RemembersRequests:   true,
	})
	cancel()
	if err != nil {
		return false, callError(server, "registering", err)
	}

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	stream, err := client.Session(sctx)
	if err != nil {
		return false, callError(server, "opening the session", err)
	}
	if err := stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Hello{Hello: &agentv1.Hello{NodeId: reg.GetNodeId(), SessionId: reg.GetSessionId()}}}); err != nil {
		return false, callError(server, "attaching the session", streamErr(stream, err))
	}
	first, err := stream.Recv()
	if err != nil {
		return false, callError(server, "attaching the session", err)
	}
	if first.GetWelcome() == nil {
		return false, fmt.Errorf("server %s: attaching the session: the server answered the hello with %T instead of a welcome; agent and server speak different protocols", server, first.GetMsg())
	}
	s := newSession(a, server, reg.GetNodeId(), reg.GetSessionId(), stream, stop)
	s.began = began
	s.client = client
	s.consoleClient = agentv1.NewAgentConsoleClient(conn)
	s.agentCtx = ctx
	s.shipLogs = a.logs != nil && first.GetWelcome().GetAcceptsLogs()
	if a.logs != nil && !s.shipLogs {
		a.mu.Lock()
		refused := a.logsRefused
		a.logsRefused = true
		a.mu.Unlock()
		if !refused {
			a.log.Warn("the server takes no vm log lines: they wait for a server that does", "server", server)
		}
	}
	a.attach(s)
	defer a.detach(s)
	a.log.Info("session attached", "server", server, "node", a.cfg.NodeName, "node_id", s.nodeID, "session", s.id)
	err = s.run(sctx)
	if ctx.Err() != nil {
		return true, ctx.Err()
	}
	return true, fmt.Errorf("server %s: session %s ended: %w", server, s.id, err)
}

// callError says what went wrong with a call to server, and what to do
// about it.
func callError(server, what string, err error) error {
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.AlreadyExists:
		return fmt.Errorf("server %s: %s: %s: %w", server, what, st.Message(), errTaken)
	case codes.Unauthenticated, codes.PermissionDenied, codes.FailedPrecondition:
		return fmt.Errorf("server %s: %s: %s: %w", server, what, st.Message(), errRefused)
	case codes.InvalidArgument:
		return fmt.Errorf("server %s: %s: %s: %w", server, what, st.Message(), errInvalid)
	case codes.ResourceExhausted:
		return fmt.Errorf("server %s: %s: %s: %w", server, what, st.Message(), errLimited)
	case codes.Unavailable:
		if strings.Contains(st.Message(), "handshake") || strings.Contains(st.Message(), "certificate") {
			return fmt.Errorf("server %s: %s: TLS handshake failed (%s): %w; agent.servers must name servers of the cluster whose CA the join token (or agent.ca_fingerprint, agent.ca_cert) pins", server, what, st.Message(), errRefused)
		}
		return fmt.Errorf("server %s: %s: server unreachable (%s); is `quantixd server` running there and is agent.servers right?", server, what, st.Message())
	}
	return fmt.Errorf("server %s: %s: %w", server, what, err)
}

// streamErr returns the stream's status when Send failed because the
// stream ended: Send only says io.EOF, Recv says why.
func streamErr(stream grpc.BidiStreamingClient[agentv1.AgentMessage, agentv1.ServerMessage], err error) error {
	if _, rerr := stream.Recv(); rerr != nil {
		return rerr
	}
	return err
}

// attach makes s the session reports go to.
func (a *Agent) attach(s *session) {
	a.view.dropDirty()
	a.mu.Lock()
	a.sess = s
	a.status.Connected = true
	a.status.Server = s.server
	a.status.NodeID = s.nodeID
	a.status.SessionID = s.id
	a.status.Sessions++
	a.status.LastError = nil
	a.mu.Unlock()
}

// detach forgets s; changes from now on wait for the next session's full
// sync.
func (a *Agent) detach(s *session) {
	a.mu.Lock()
	if a.sess == s {
		a.sess = nil
		a.status.Connected = false
	}
	a.mu.Unlock()
}
