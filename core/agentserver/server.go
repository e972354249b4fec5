package agentserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/pki"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	clusterv1 "github.com/quantixvm/quantix/proto/quantix/cluster/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// Agent server timing.
const (
	// attachTimeout is how long a registered session may wait for its
	// Session stream before it is dropped.
	attachTimeout = 30 * time.Second
	// missedHeartbeats is how many heartbeat intervals of silence end a
	// session whose connection still looks open.
	missedHeartbeats = 3
	// reportTimeout bounds applying one report.
	reportTimeout = time.Minute
	// defaultAgentHeartbeat is assumed for agents that do not say theirs.
	defaultAgentHeartbeat = 5 * time.Second
	// logAppendTimeout bounds appending one batch of VM log lines.
	logAppendTimeout = 30 * time.Second
)

// Why sessions end, as the agent is told.
var (
	errSuperseded    = errors.New("superseded by a newer session of the node")
	errServerClosing = errors.New("the server is shutting down")
	errMissedBeats   = errors.New("no heartbeat for three heartbeat intervals")
	errNeverAttached = errors.New("the agent registered but never opened its session stream")
	errRevoked       = errors.New("the node's certificate was revoked")
	errEnded         = errors.New("the server ended the session")
)

// Options configure a Server.
type Options struct {
	// Handler applies what agents report.
	Handler nodeapi.ReportHandler
	// Dispatcher routes commands to the nodes: each attached session
	// registers itself for its node.
	Dispatcher *Dispatcher
	// CA is the cluster's agent CA (<data_dir>/pki/agents): it issues the
	// nodes' client certificates and verifies them (required).
	CA *pki.CA
	// Certificate is the server's certificate on the agent port, issued by
	// CA (required).
	Certificate tls.Certificate
	// Enrollment redeems join tokens and keeps the nodes' certificates
	// (required).
	Enrollment Enrollment
	// ClientCertTTL is how long an issued node certificate is valid; zero
	// means DefaultClientCertTTL.
	ClientCertTTL time.Duration
	// Logs takes the VM log lines agents send (source qemu); nil refuses
	// them, and agents then keep them.
	Logs LogAppender
	// Logger receives the server's log; nil discards.
	Logger hclog.Logger
	// Stats takes the VM statistics agents send; nil drops them.
	Stats StatsRecorder
	// KnownNode tells whether a node of that name is in the inventory:
	// registering it again is not limited by NewNodes. Nil counts only the
	// nodes this server registered since it started.
	KnownNode func(ctx context.Context, name string) (bool, error)
	// NewNodes bounds how fast registrations create new nodes.
	NewNodes NewNodeLimit
}

// StatsRecorder takes the samples of a node's VMs, oldest first, as
// stats.Collector.Record does. It must not block.
type StatsRecorder interface {
	Record(nodeID string, samples []*backend.HostStats)
}

// LogAppender takes log entries and returns once they are durable, as
// logs.Pipeline.Append does.
type LogAppender interface {
	Append(ctx context.Context, entries []logsink.Entry) error
}

// Server is the control plane's end of the agent protocol
// (proto/quantix/agent/v1), over TLS only: it enrolls agents presenting a
// join token, issuing them a client certificate for their node, knows each
// agent by its certificate afterwards, registers their nodes, keeps one session per node, applies each
// session's reports in order through the ReportHandler (dropping those of
// superseded sessions and those not newer than the last applied), answers
// heartbeats, carries the Dispatcher's commands down to the agents, and
// appends the VM log lines agents send to the log pipeline, acknowledging
// each batch once it is durable.
type Server struct {
	agentv1.UnimplementedAgentServiceServer

	handler    nodeapi.ReportHandler
	dispatcher *Dispatcher
	ca         *pki.CA
	enroll     Enrollment
	certTTL    time.Duration
	// enrolling serialises the enrollments of each node name; those of
	// different names run at once.
	enrolling nameLocks
	// identify says which agent a call is from.
	identify func(context.Context) (identity, bool)
	logs     LogAppender
	stats    StatsRecorder
	log      hclog.Logger
	grpc     *grpc.Server

	knownNode func(ctx context.Context, name string) (bool, error)
	limiter   *newNodeLimiter

	mu     sync.Mutex
	nodes  map[string]*agentNode
	known  map[string]bool // names registered since start
	warned map[string]time.Time
	closed bool
	// cleanup runs what ends sessions that could not wait for it (the
	// database unreachable); Close waits for it.
	cleanup sync.WaitGroup
	// claimed holds, by node, the sessions recorded as their node's in the
	// cluster's records, until they end (a server of a cluster only).
	claimed map[string]*agentSession
	// stopCluster ends the check of the cluster's records Serve starts on
	// a server of a cluster; clusterDone closes when it has.
	stopCluster context.CancelFunc
	clusterDone chan struct{}

	// consoleWaits are the consoles asked of agents, by token, until the
	// agent attaches them (console.go).
	consoleMu    sync.Mutex
	consoleWaits map[string]*consoleWait
	// metrics count sessions and reports (metrics.go).
	metrics *metrics
}

// agentNode is the server's state of one node: its current session and the
// sequence number of the last report applied. mu serialises report
// application and session switches, so that no report of a superseded
// session lands after the new session's first.
type agentNode struct {
	mu      sync.Mutex
	cur     *agentSession
	lastSeq uint64
}

// New returns the server; serve it with Serve.
func New(opts Options) (*Server, error) {
	tlsConf := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{opts.Certificate},
		// Enroll is taken without a client certificate; every other call
		// checks for one (authenticate). One given must verify.
		ClientAuth: tls.VerifyClientCertIfGiven,
	}
	if opts.CA != nil {
		tlsConf.ClientCAs = opts.CA.Pool()
	}
	return newServer(opts, credentials.NewTLS(tlsConf), tlsIdentity)
}

// newServer is New with the transport credentials of the agent port and
// how a call's agent is identified through them; the TLS of New and
// tlsIdentity outside of benchmarks comparing transports.
func newServer(opts Options, creds credentials.TransportCredentials, identify func(context.Context) (identity, bool)) (*Server, error) {
	if opts.Handler == nil || opts.Dispatcher == nil {
		return nil, errors.New("agent server: a report handler and a dispatcher are required")
	}
	if opts.CA == nil || opts.Enrollment == nil || len(opts.Certificate.Certificate) == 0 {
		return nil, errors.New("agent server: the agent CA, a server certificate and the enrollment records are required (the agent port speaks TLS only)")
	}
	if opts.ClientCertTTL < 0 {
		return nil, fmt.Errorf("agent server: client certificate ttl %s is negative", opts.ClientCertTTL)
	}
	ttl := opts.ClientCertTTL
	if ttl == 0 {
		ttl = DefaultClientCertTTL
	}
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	s := &Server{
		handler:    opts.Handler,
		dispatcher: opts.Dispatcher,
		ca:         opts.CA,
		enroll:     opts.Enrollment,
		certTTL:    ttl,
		logs:       opts.Logs,
		stats:      opts.Stats,
		log:        logger.Named("agentserver"),
		nodes:      make(map[string]*agentNode),
		known:      make(map[string]bool),
		warned:     make(map[string]time.Time),
		claimed:    make(map[string]*agentSession),
		knownNode:  opts.KnownNode,
		limiter:    newNewNodeLimiter(opts.NewNodes),
		metrics:    newMetrics(),
	}
	s.identify = identify
	s.grpc = grpc.NewServer(
		grpc.Creds(creds),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			ctx, err := s.authenticate(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			return handler(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			ctx, err := s.authenticate(ss.Context(), info.FullMethod)
			if err != nil {
				return err
			}
			return handler(srv, &identifiedStream{ServerStream: ss, ctx: ctx})
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
	)
	agentv1.RegisterAgentServiceServer(s.grpc, s)
	agentv1.RegisterAgentConsoleServer(s.grpc, &consoleService{srv: s})
	clusterv1.RegisterClusterServiceServer(s.grpc, &clusterService{srv: s})
	return s, nil
}

// Serve takes agent connections on ln until Close; it returns nil after
// Close.
func (s *Server) Serve(ln net.Listener) error {
	if c := s.dispatcher.clusterOf(); c != nil {
		s.mu.Lock()
		if s.stopCluster == nil && !s.closed {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			s.stopCluster, s.clusterDone = cancel, done
			go func() {
				defer close(done)
				s.runCluster(ctx, c)
			}()
		}
		s.mu.Unlock()
	}
	if err := s.grpc.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serving agents on %s: %w", ln.Addr(), err)
	}
	return nil
}

// HandOver bounds: handOverWait is how long it waits for the commands in
// flight on sessions whose agent does not remember requests, and
// handOverRelease how long for the ended sessions to release their claims.
const (
	handOverWait    = 2 * time.Second
	handOverRelease = 2 * time.Second
)

// HandOver, on a server of a cluster, makes a stopping server give its
// agents to the others at once: no new registration is accepted, the
// sessions take no new command (refused unsent, such a command waits for
// the node's next session, here or forwarded), then every session ends
// (its agent told the server is shutting down, so it connects to another
// server) and releases its claim in the cluster's records; HandOver
// returns once they have, or after handOverRelease. A command in flight
// on a session whose agent remembers requests is not waited for: its
// sender gets it answered through the node's next session, by the
// agent's memory of its run (Dispatcher.Execute); on a session whose agent
// does not, the commands in flight get up to handOverWait to finish
// first. The agent port keeps serving: forwarded commands for a node no
// longer held here are answered as such, so their senders look the holder
// up again. On a single server, or while no other live server is known, it
// does nothing, since no other server could take the agents. Close still
// has to be called.
func (s *Server) HandOver() {
	c := s.dispatcher.clusterOf()
	if c == nil || !c.othersLive() {
		return
	}
	s.mu.Lock()
	s.closed = true
	nodes := make([]*agentNode, 0, len(s.nodes))
	for _, n := range s.nodes {
		nodes = append(nodes, n)
	}
	s.mu.Unlock()
	var sessions []*agentSession
	for _, n := range nodes {
		n.mu.Lock()
		if n.cur != nil {
			sessions = append(sessions, n.cur)
		}
		n.mu.Unlock()
	}
	if len(sessions) == 0 {
		return
	}
	began := time.Now()
	s.log.Info("handing the agents over to the other servers of the cluster", "sessions", len(sessions))
	idle := make([]<-chan struct{}, len(sessions))
	for i, sess := range sessions {
		idle[i] = sess.drain()
	}
	// Sessions whose agents remember requests end at once, the others once
	// their commands in flight are done or handOverWait has passed.
	var waiting []int
	for i, sess := range sessions {
		if sess.remembers {
			sess.end(errServerClosing)
		} else {
			waiting = append(waiting, i)
		}
	}
	deadline := time.NewTimer(handOverWait)
	defer deadline.Stop()
	for _, i := range waiting {
		select {
		case <-idle[i]:
		case <-deadline.C:
			s.log.Warn("commands still in flight on a session handed over, whose agent does not remember requests: they fail", "node", sessions[i].name, "waited", handOverWait)
			deadline.Reset(0)
		}
		sessions[i].end(errServerClosing)
	}
	released := time.NewTimer(handOverRelease)
	defer released.Stop()
	left := 0
	for _, sess := range sessions {
		sess.mu.Lock()
		attached := sess.attached
		sess.mu.Unlock()
		if !attached {
			continue // it ends unattached: it holds no claim
		}
		select {
		case <-sess.finished:
		case <-released.C:
			released.Reset(0)
			left++
		}
	}
	s.log.Info("agents handed over", "sessions", len(sessions), "not_released_yet", left, "took", time.Since(began).Round(time.Millisecond))
}

// Close ends every session (their agents reconnect to another server or
// wait for this one) and stops serving; when ctx ends first, connections
// are cut.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	stopCluster, clusterDone := s.stopCluster, s.clusterDone
	nodes := make([]*agentNode, 0, len(s.nodes))
	for _, n := range s.nodes {
		nodes = append(nodes, n)
	}
	s.mu.Unlock()
	for _, n := range nodes {
		n.mu.Lock()
		cur := n.cur
		n.mu.Unlock()
		if cur != nil {
			cur.end(errServerClosing)
		}
	}
	if stopCluster != nil {
		stopCluster()
		<-clusterDone
		s.dispatcher.clusterOf().close()
	}
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		s.cleanup.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
		return fmt.Errorf("closing the agent server: %w", ctx.Err())
	}
}

// identifiedStream carries the identity authenticate found to the
// stream's handler.
type identifiedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identifiedStream) Context() context.Context { return s.ctx }

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// node returns the state of node id, making it on first use.
func (s *Server) node(id string) *agentNode {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[id]
	if n == nil {
		n = &agentNode{}
		s.nodes[id] = n
	}
	return n
}

// Register records the agent's node through the handler and opens a
// session, superseding the node's previous one.
func (s *Server) Register(ctx context.Context, req *agentv1.RegisterRequest) (*agentv1.RegisterResponse, error) {
	if v := req.GetProtocolVersion(); v != agentv1.ProtocolVersion_PROTOCOL_VERSION_1 {
		return nil, status.Errorf(codes.FailedPrecondition, "agent protocol version %d is not supported: this server speaks version 1; run agents of the server's release", v)
	}
	id, ok := identityFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no client certificate")
	}
	// The node is the one the certificate names; a name in the request
	// must be the same.
	name := id.node
	if claimed := req.GetNodeName(); claimed != "" && claimed != name {
		s.log.Warn("registration refused: the node name differs from the certificate's", "peer", peerAddr(ctx), "certificate_node", name, "node_name", claimed)
		return nil, status.Errorf(codes.PermissionDenied, "this agent's certificate is for node %q, not %q: set agent.node_name to %q, or remove the agent's node.crt and node.key under <data_dir>/agent and enroll as %q with a new join token", name, claimed, name, claimed)
	}
	// Node names follow the rules of VM names: they name directories and
	// appear in logs and URLs.
	if err := backend.ValidateName("node_name", name); err != nil {
		s.log.Warn("registration refused: invalid node name", "peer", peerAddr(ctx), "error", err)
		return nil, status.Errorf(codes.InvalidArgument, "%v: set agent.node_name to a valid name", err)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, status.Error(codes.Unavailable, errServerClosing.Error())
	}
	if err := validateClaimedAddress(req.GetAddress()); err != nil {
		s.log.Warn("registration refused: invalid address", "peer", peerAddr(ctx), "node", name, "error", err)
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	reg := registrationFromProto(req)
	reg.NodeName = name
	// The node's address is the one its agent connects from; what the
	// agent claims is kept beside it.
	if host, _, err := net.SplitHostPort(peerAddr(ctx)); err == nil {
		reg.Address = host
	}
	if err := s.admitNew(ctx, name); err != nil {
		return nil, err
	}
	nodeID, err := s.handler.Register(ctx, reg)
	if err != nil {
		s.log.Error("registering a node failed", "node", name, "error", err)
		return nil, status.Errorf(codes.Internal, "registering node %q: %v", name, err)
	}
	s.mu.Lock()
	s.known[name] = true
	s.mu.Unlock()
	hb := time.Duration(req.GetHeartbeatIntervalMs()) * time.Millisecond
	if hb <= 0 {
		hb = defaultAgentHeartbeat
	}
	n := s.node(nodeID)
	sess := newAgentSession(s, n, nodeID, name, uuid.NewString(), hb)
	sess.serial = id.serial
	sess.remembers = req.GetRemembersRequests()
	n.mu.Lock()
	old := n.cur
	n.cur = sess
	n.lastSeq = 0
	n.mu.Unlock()
	if old != nil {
		s.log.Info("a new session supersedes the node's previous one", "node", name, "old_session", old.id, "session", sess.id)
		old.end(errSuperseded)
	}
	time.AfterFunc(attachTimeout, func() { sess.expireUnattached() })
	s.log.Info("agent registered", "node", name, "node_id", nodeID, "session", sess.id, "address", reg.Address,
		"backend", reg.Backend.Name, "backend_healthy", reg.Backend.Healthy, "agent_version", req.GetAgentVersion())
	return &agentv1.RegisterResponse{NodeId: nodeID, SessionId: sess.id}, nil
}

// admitNew lets a registration of node name through: one of a node that
// exists always, one that would create a node only within the NewNodes
// limit, else ResourceExhausted.
func (s *Server) admitNew(ctx context.Context, name string) error {
	s.mu.Lock()
	known := s.known[name]
	s.mu.Unlock()
	if !known && s.knownNode != nil {
		var err error
		if known, err = s.knownNode(ctx, name); err != nil {
			s.log.Error("looking up a registering node failed", "node", name, "error", err)
			return status.Errorf(codes.Internal, "registering node %q: %v", name, err)
		}
	}
	if known {
		return nil
	}
	peerHost := peerAddr(ctx)
	if host, _, err := net.SplitHostPort(peerHost); err == nil {
		peerHost = host
	}
	ok, bound := s.limiter.take(peerHost, time.Now())
	if ok {
		return nil
	}
	l := s.limiter.lim
	logf := s.log.Warn
	s.mu.Lock()
	// A flood is logged once a minute per address, not per registration.
	if now := time.Now(); now.Sub(s.warned[peerHost]) < time.Minute {
		logf = s.log.Debug
	} else {
		if len(s.warned) >= maxPeerBuckets {
			clear(s.warned)
		}
		s.warned[peerHost] = now
	}
	s.mu.Unlock()
	if bound == "peer" {
		logf("registration of a new node refused: too many new nodes from one address", "peer", peerHost, "node", name)
		return status.Errorf(codes.ResourceExhausted, "too many new nodes registering from %s (at most %d at once, then one every %s): try again later; nodes already registered are not limited",
			peerHost, l.PeerBurst, time.Duration(float64(time.Second)/l.PeerPerSecond))
	}
	logf("registration of a new node refused: too many new nodes registering", "peer", peerHost, "node", name)
	return status.Errorf(codes.ResourceExhausted, "too many new nodes registering (at most %d at once, then %g a second): try again later; nodes already registered are not limited",
		l.TotalBurst, l.TotalPerSecond)
}

// maxClaimedAddress bounds the address an agent says it has.
const maxClaimedAddress = 255

var claimedAddressRE = regexp.MustCompile(`^[A-Za-z0-9.:%\[\]-]*$`)

// validateClaimedAddress checks the address an agent says it has: an IP
// address or a host name, at most maxClaimedAddress characters; empty is
// allowed.
func validateClaimedAddress(a string) error {
	switch {
	case len(a) > maxClaimedAddress:
		return fmt.Errorf("address: %d characters, at most %d allowed", len(a), maxClaimedAddress)
	case !claimedAddressRE.MatchString(a):
		return fmt.Errorf("address: %q may only contain letters, digits, '.', ':', '%%', '[', ']' and '-'", a)
	}
	return nil
}

// Session attaches a stream to the session its Hello names and serves it.
func (s *Server) Session(stream grpc.BidiStreamingServer[agentv1.AgentMessage, agentv1.ServerMessage]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if hello == nil {
		return status.Errorf(codes.InvalidArgument, "the first message of a session must be a hello, not %T", first.GetMsg())
	}
	s.mu.Lock()
	n := s.nodes[hello.GetNodeId()]
	s.mu.Unlock()
	var sess *agentSession
	if n != nil {
		n.mu.Lock()
		sess = n.cur
		n.mu.Unlock()
	}
	if id, ok := identityFrom(stream.Context()); !ok || sess != nil && sess.name != id.node {
		return status.Errorf(codes.PermissionDenied, "session %s is not a session of the node this agent's certificate names", hello.GetSessionId())
	}
	if sess == nil || sess.id != hello.GetSessionId() {
		return status.Errorf(codes.FailedPrecondition, "session %s is not the current session of node %s (superseded, expired or unknown): register again", hello.GetSessionId(), hello.GetNodeId())
	}
	if !sess.attach(stream) {
		return status.Errorf(codes.FailedPrecondition, "session %s of node %s is already attached or over: register again", sess.id, sess.nodeID)
	}
	return sess.serve()
}
