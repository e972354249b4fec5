package agentserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/quantixvm/quantix/core/agent/wire"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/core/store"
	clusterv1 "github.com/quantixvm/quantix/proto/quantix/cluster/v1"
)

// Cluster timing defaults.
const (
	// DefaultClusterRefresh is how often a server reads the cluster's
	// sessions: the view Connected answers from, and the check that no
	// other server took over one of its sessions.
	DefaultClusterRefresh = time.Second
	// DefaultServerLiveWithin is how far a server's heartbeat may be behind
	// the freshest one of the cluster before it counts as gone: the
	// cluster's default lease ttl, which the cluster status judges by too.
	DefaultServerLiveWithin = 6 * time.Second
	// touchEvery is how many refreshes pass between two writes of the
	// heartbeat times of this server's claims.
	touchEvery = 2
	// claimTimeout bounds recording or releasing one claim, and telling a
	// previous holder to close its session.
	claimTimeout = 10 * time.Second
	// DefaultMoveWait is how long a command for a node no live server
	// holds waits for a new session of the node before it fails: an agent
	// whose server stopped or died is on another server within it.
	DefaultMoveWait = 5 * time.Second
	// moveBackoffMin and moveBackoffMax bound the pause between two reads
	// of a node's claim while a command waits for it.
	moveBackoffMin = 50 * time.Millisecond
	moveBackoffMax = 500 * time.Millisecond
)

// ClusterRecords is what the agent server and the Dispatcher need of the
// database's record of the cluster (store.ClusterRepo implements it): which
// server holds each node's session (node_sessions) and the servers
// (cluster_servers).
type ClusterRecords interface {
	// ClaimNode records s as the node's session; the newest claim wins.
	ClaimNode(ctx context.Context, s store.NodeSession) error
	// ReleaseNode deletes the node's claim if it is still sessionID's.
	ReleaseNode(ctx context.Context, nodeID, sessionID string) error
	// TouchNodes sets the heartbeat time of serverID's claims of nodeIDs.
	TouchNodes(ctx context.Context, serverID string, nodeIDs []string) error
	// NodeHolder returns the node's claim; store.ErrNotFound when none.
	NodeHolder(ctx context.Context, nodeID string) (store.NodeSession, error)
	// NodeSessions returns every claim.
	NodeSessions(ctx context.Context) ([]store.NodeSession, error)
	// Servers returns every server of the cluster.
	Servers(ctx context.Context) ([]store.ServerRecord, error)
}

// ClusterOptions make a Dispatcher and the agent server using it one
// server of several on one database.
type ClusterOptions struct {
	// ServerID is this server's id in the cluster (core/cluster), as its
	// claims and cluster_servers row carry it (required).
	ServerID string
	// Records is the database's record of the cluster (required).
	Records ClusterRecords
	// CA is the cluster (agent) CA: it issues this server's peer
	// certificate and verifies the other servers' agent ports (required).
	CA *pki.CA
	// Refresh is how often the cluster's sessions are read; zero means
	// DefaultClusterRefresh.
	Refresh time.Duration
	// LiveWithin is how far behind the freshest heartbeat of the cluster a
	// server's may be while it counts as live; zero means
	// DefaultServerLiveWithin.
	LiveWithin time.Duration
	// MoveWait is how long a command, or WaitConnected, waits for a node
	// no live server holds to be held again (its agent moving to another
	// server), while another server of the cluster is live; zero means
	// DefaultMoveWait.
	MoveWait time.Duration
	// Logger receives the log; nil discards.
	Logger hclog.Logger
}

// cluster is the Dispatcher's part of a server of a cluster: the view of
// who holds which node, and connections to the other servers.
type cluster struct {
	id         string
	records    ClusterRecords
	ca         *pki.CA
	refresh    time.Duration
	liveWithin time.Duration
	moveWait   time.Duration
	log        hclog.Logger

	certMu sync.Mutex
	cert   *tls.Certificate

	mu sync.Mutex
	// servers is the last list read, by id; live the ids counted live.
	servers map[string]store.ServerRecord
	live    map[string]bool
	// remote lists, sorted, the nodes other live servers hold; holders
	// is every claim read, by node.
	remote  []string
	holders map[string]store.NodeSession
	// readAt is when the view was last read successfully.
	readAt time.Time
	peers  map[string]*peerConn
}

// peerConn is a connection to another server's agent port.
type peerConn struct {
	addr   string
	conn   *grpc.ClientConn
	client clusterv1.ClusterServiceClient
}

// EnableCluster makes d one server of a cluster: commands for nodes whose
// session another server holds are forwarded to it, and Connected answers
// for the whole cluster. Call it before the Dispatcher is used; the agent
// server serving d then claims its sessions in opts.Records.
func (d *Dispatcher) EnableCluster(opts ClusterOptions) error {
	if opts.ServerID == "" || opts.Records == nil || opts.CA == nil {
		return errors.New("dispatcher: a cluster needs this server's id, the cluster records and the cluster CA")
	}
	if opts.Refresh < 0 || opts.LiveWithin < 0 || opts.MoveWait < 0 {
		return fmt.Errorf("dispatcher: negative cluster refresh (%s), live window (%s) or move wait (%s)", opts.Refresh, opts.LiveWithin, opts.MoveWait)
	}
	c := &cluster{
		id: opts.ServerID, records: opts.Records, ca: opts.CA,
		refresh: opts.Refresh, liveWithin: opts.LiveWithin, moveWait: opts.MoveWait,
		log:     opts.Logger,
		servers: map[string]store.ServerRecord{}, live: map[string]bool{},
		peers: map[string]*peerConn{},
	}
	if c.refresh == 0 {
		c.refresh = DefaultClusterRefresh
	}
	if c.liveWithin == 0 {
		c.liveWithin = DefaultServerLiveWithin
	}
	if c.moveWait == 0 {
		c.moveWait = DefaultMoveWait
	}
	if c.log == nil {
		c.log = hclog.NewNullLogger()
	}
	c.log = c.log.Named("cluster-dispatch")
	if _, err := c.peerCert(); err != nil {
		return err
	}
	d.mu.Lock()
	d.cluster = c
	d.mu.Unlock()
	return nil
}

// peerCert is this server's peer certificate, issued again once half its
// validity has passed.
func (c *cluster) peerCert() (*tls.Certificate, error) {
	c.certMu.Lock()
	defer c.certMu.Unlock()
	if c.cert != nil && time.Until(c.cert.Leaf.NotAfter) > pki.ServerPeerValidity/2 {
		return c.cert, nil
	}
	cert, err := c.ca.IssueServerPeer(c.id, 0)
	if err != nil {
		return nil, fmt.Errorf("issuing this server's peer certificate: %w", err)
	}
	c.cert = &cert
	return c.cert, nil
}

// clusterOf returns d's cluster part; nil for a single server.
func (d *Dispatcher) clusterOf() *cluster {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.cluster
}

// read reads the cluster's servers and claims and updates the view; it
// returns the claims read.
func (c *cluster) read(ctx context.Context) ([]store.NodeSession, error) {
	servers, err := c.records.Servers(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster's servers: %w", err)
	}
	claims, err := c.records.NodeSessions(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the cluster's node sessions: %w", err)
	}
	byID, live := liveServers(servers, c.liveWithin)
	var remote []string
	holders := make(map[string]store.NodeSession, len(claims))
	for _, cl := range claims {
		holders[cl.NodeID] = cl
		if cl.ServerID != c.id && live[cl.ServerID] {
			remote = append(remote, cl.NodeID)
		}
	}
	slices.Sort(remote)
	c.mu.Lock()
	c.servers, c.live, c.remote, c.holders, c.readAt = byID, live, remote, holders, time.Now()
	// Connections to servers that are gone or moved are closed.
	for id, p := range c.peers {
		if s, ok := byID[id]; !ok || !live[id] || s.RPCAddr != p.addr {
			delete(c.peers, id)
			go p.conn.Close()
		}
	}
	c.mu.Unlock()
	return claims, nil
}

// liveServers indexes servers by id and says which are live: not stopped,
// and with a heartbeat at most within behind the freshest of them. Both
// times are the database's, so no two servers' clocks are compared.
func liveServers(servers []store.ServerRecord, within time.Duration) (map[string]store.ServerRecord, map[string]bool) {
	byID := make(map[string]store.ServerRecord, len(servers))
	var freshest time.Time
	for _, s := range servers {
		byID[s.ID] = s
		if s.StoppedAt == nil && s.HeartbeatAt.After(freshest) {
			freshest = s.HeartbeatAt
		}
	}
	live := make(map[string]bool, len(servers))
	for _, s := range servers {
		if s.StoppedAt == nil && !s.HeartbeatAt.Before(freshest.Add(-within)) {
			live[s.ID] = true
		}
	}
	return byID, live
}

// waitFor is how long a command waits for a node's next session: the
// move wait while another server is live, else nothing (an agent has no
// other server to move to, and a single server answers at once as it
// always has).
func (c *cluster) waitFor() time.Duration {
	if !c.othersLive() {
		return 0
	}
	return c.moveWait
}

// othersLive says whether another server of the cluster is live, as last
// read (within the live window).
func (c *cluster) othersLive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.readAt) > c.liveWithin {
		return false
	}
	for id, live := range c.live {
		if live && id != c.id {
			return true
		}
	}
	return false
}

// remoteNodes lists the nodes other live servers hold, as last read; none
// when the view is older than the live window (this server cannot read
// the database).
func (c *cluster) remoteNodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.readAt) > c.liveWithin {
		return nil
	}
	return c.remote
}

// server returns the record of server id and whether it is live, reading
// the servers again when it is not known yet.
func (c *cluster) server(ctx context.Context, id string) (store.ServerRecord, bool, error) {
	c.mu.Lock()
	s, ok := c.servers[id]
	live := c.live[id]
	c.mu.Unlock()
	if ok {
		return s, live, nil
	}
	servers, err := c.records.Servers(ctx)
	if err != nil {
		return store.ServerRecord{}, false, fmt.Errorf("reading the cluster's servers: %w", err)
	}
	byID, liveNow := liveServers(servers, c.liveWithin)
	c.mu.Lock()
	c.servers, c.live = byID, liveNow
	c.mu.Unlock()
	s, ok = byID[id]
	return s, ok && liveNow[id], nil
}

// peer returns the connection to server s's agent port, dialling it on
// first use: TLS verified against the cluster CA for the host of its
// rpc_addr, with this server's peer certificate.
func (c *cluster) peer(s store.ServerRecord) (*peerConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.peers[s.ID]; p != nil && p.addr == s.RPCAddr {
		return p, nil
	}
	host, _, err := net.SplitHostPort(s.RPCAddr)
	if err != nil {
		return nil, fmt.Errorf("server %s (%s) has rpc address %q: %w; set server.advertise_addr on it to host:port", s.Name, s.ID, s.RPCAddr, err)
	}
	tlsConf := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    c.ca.Pool(),
		ServerName: host,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return c.peerCert()
		},
	}
	conn, err := grpc.NewClient(s.RPCAddr,
		grpc.WithTransportCredentials(credentials.NewTLS(tlsConf)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
	)
	if err != nil {
		return nil, fmt.Errorf("connecting to server %s at %s: %w", s.Name, s.RPCAddr, err)
	}
	if old := c.peers[s.ID]; old != nil {
		go old.conn.Close()
	}
	p := &peerConn{addr: s.RPCAddr, conn: conn, client: clusterv1.NewClusterServiceClient(conn)}
	c.peers[s.ID] = p
	return p, nil
}

// close closes the connections to the other servers; a later command
// dials again.
func (c *cluster) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, p := range c.peers {
		_ = p.conn.Close()
		delete(c.peers, id)
	}
}

// cachedHolder returns node nodeID's claim as last read, when the view
// is fresh (read within two refreshes) and names another live server.
func (c *cluster) cachedHolder(nodeID string) (store.NodeSession, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.holders[nodeID]
	if !ok || time.Since(c.readAt) > 2*c.refresh || h.ServerID == c.id || !c.live[h.ServerID] {
		return store.NodeSession{}, false
	}
	return h, true
}

// holder reads node nodeID's claim from the database; errNoHolder when no
// claim names a server that may hold the session now.
func (c *cluster) holder(ctx context.Context, nodeID string) (store.NodeSession, error) {
	h, err := c.records.NodeHolder(ctx, nodeID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return h, fmt.Errorf("node %s: no server of the cluster holds a session of its agent: %w", nodeID, errors.Join(errNoHolder, nodeapi.ErrNodeUnavailable))
	case err != nil:
		return h, fmt.Errorf("node %s: looking up the server holding its agent's session: %v: %w", nodeID, err, nodeapi.ErrNodeUnavailable)
	case h.ServerID == c.id:
		// This server's session ended since the claim was read, and no
		// other took it over yet.
		return h, fmt.Errorf("node %s: its agent's session on this server has ended: %w", nodeID, errors.Join(errNoHolder, nodeapi.ErrNodeUnavailable))
	}
	return h, nil
}

// forward runs cmd on the server holding node nodeID's session, within
// cmd.Timeout(). The holder is taken from the view read every refresh,
// which spares the database a query per command, then from the database.
// A command that did not get its reply because it did not reach an agent
// — no server holds the node, the holder is gone, it answered that it
// does not hold the node — or because the way to the agent was lost — the
// holder could not be reached or its session ended before the reply —
// waits up to the move wait for a new session of the node, here or on
// another server, reading the claim again with a short backoff; a server
// that could not be reached is not sent the command again, only another
// holder is. Once an attempt may have reached the agent, every later one
// goes "again": only to a session whose agent runs each request once, which
// answers with the first run's reply, so that the command never runs
// twice. Any other failure is returned at once.
//
// triedLocal, when not nil, is this server's session that refused the
// command unsent, or lost it, with last.
func (d *Dispatcher) forward(ctx context.Context, c *cluster, nodeID string, cmd nodeapi.Command, triedLocal nodeapi.Executor, last error) (*nodeapi.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, cmd.Timeout())
	defer cancel()
	var (
		deadline time.Time
		backoff  = moveBackoffMin
		// tried are the claims (server/session) the command failed on,
		// and the servers it could not reach (which it may have reached
		// nonetheless): it waits for another claim rather than going to
		// them again.
		tried = map[string]bool{}
	)
	if last != nil {
		deadline = time.Now().Add(c.waitFor())
	}
	// again is set once an attempt may have reached the agent.
	again := errors.Is(last, errMaybeSent)
	h, cached := c.cachedHolder(nodeID)
	for {
		var err error
		if !cached {
			c.log.Debug("reading the node's holder from the database", "node", nodeID)
			h, err = c.holder(ctx, nodeID)
		}
		cached = false
		if err == nil && (tried[h.ServerID] || tried[h.ServerID+"/"+h.SessionID]) {
			err = last
		}
		if err == nil {
			res, ferr := c.forwardTo(ctx, h, cmd, again)
			if ferr == nil || !notDelivered(ferr) {
				return res, ferr
			}
			again = again || errors.Is(ferr, errMaybeSent)
			if errors.Is(ferr, errUnreachable) {
				tried[h.ServerID] = true
			} else {
				tried[h.ServerID+"/"+h.SessionID] = true
			}
			err = ferr
		}
		if !notDelivered(err) {
			return nil, err
		}
		last = err
		if deadline.IsZero() {
			deadline = time.Now().Add(c.waitFor())
		}
		if !d.waitMove(ctx, deadline, &backoff) {
			return nil, last
		}
		if e := d.local(nodeID); e != nil && e != triedLocal {
			var (
				res *nodeapi.Result
				err error
			)
			if again {
				res, err = executeAgain(ctx, e, nodeID, cmd)
			} else {
				res, err = e.Execute(ctx, nodeID, cmd)
			}
			if !notDelivered(err) {
				return res, err
			}
			again = again || errors.Is(err, errMaybeSent)
			triedLocal, last = e, err
		}
	}
}

// notDelivered says whether err is a failure of a command whose reply did
// not come through the server or session it was meant for, because it did
// not reach an agent or the way back was lost (errMaybeSent), so it may go
// to the node's next holder (again, in the latter case).
func notDelivered(err error) bool {
	return errors.Is(err, errNoHolder) || errors.Is(err, errHolderMoved) || errors.Is(err, errUnreachable) ||
		errors.Is(err, errNotSent) || errors.Is(err, errMaybeSent)
}

// waitMove pauses a command waiting for its node's session to be held
// again: until a session registers here or the backoff passes (then the
// caller looks for the session here and reads the claim again), doubling
// the backoff. False when deadline has passed or ctx ended.
func (d *Dispatcher) waitMove(ctx context.Context, deadline time.Time, backoff *time.Duration) bool {
	left := time.Until(deadline)
	if left <= 0 || ctx.Err() != nil {
		return false
	}
	d.mu.RLock()
	registered := d.registered
	d.mu.RUnlock()
	t := time.NewTimer(min(*backoff, left))
	defer t.Stop()
	*backoff = min(2**backoff, moveBackoffMax)
	select {
	case <-registered:
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	return true
}

// WaitConnected says whether node nodeID takes commands: at once when
// connected here or, on a server of a cluster, when a live server holds
// it; else, on a server of a cluster, it waits up to the move wait for
// the node's agent to attach somewhere (a stopped or lost server's agent
// moving to another), reading the claim again with a short backoff, and
// false when it did not or ctx ended.
func (d *Dispatcher) WaitConnected(ctx context.Context, nodeID string) bool {
	c := d.clusterOf()
	if c == nil {
		return slices.Contains(d.connectedHere(), nodeID)
	}
	deadline := time.Now().Add(c.waitFor())
	backoff := moveBackoffMin
	for {
		if slices.Contains(d.connectedHere(), nodeID) {
			return true
		}
		if h, err := c.holder(ctx, nodeID); err == nil {
			if _, live, err := c.server(ctx, h.ServerID); err == nil && live {
				return true
			}
		}
		if !d.waitMove(ctx, deadline, &backoff) {
			return false
		}
	}
}

var _ nodeapi.ConnectWaiter = (*Dispatcher)(nil)

// errHolderMoved marks a holder that no longer has the session,
// errUnreachable one the call could not reach, and errNoHolder a node no
// live server holds: the command did not reach an agent, and the claim is
// read again.
var (
	errHolderMoved = errors.New("the server holds no session of the node")
	errUnreachable = errors.New("the server cannot be reached")
	errNoHolder    = errors.New("no live server holds the node")
)

// forwardTo runs cmd on server holder.ServerID; again when an earlier
// attempt may have reached the agent.
func (c *cluster) forwardTo(ctx context.Context, holder store.NodeSession, cmd nodeapi.Command, again bool) (*nodeapi.Result, error) {
	nodeID, op := holder.NodeID, wire.OpName(cmd.Op)
	s, live, err := c.server(ctx, holder.ServerID)
	if err != nil {
		return nil, fmt.Errorf("node %s: %v: %w", nodeID, err, nodeapi.ErrNodeUnavailable)
	}
	if !live {
		return nil, fmt.Errorf("node %s: its agent's session is on server %s, which is gone (no recent heartbeat): %w", nodeID, serverName(s, holder.ServerID), errors.Join(errNoHolder, nodeapi.ErrNodeUnavailable))
	}
	p, err := c.peer(s)
	if err != nil {
		return nil, fmt.Errorf("node %s: %v: %w", nodeID, err, nodeapi.ErrNodeUnavailable)
	}
	timeout := cmd.Timeout()
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	resp, err := p.client.Execute(ctx, &clusterv1.ExecuteRequest{NodeId: nodeID, Command: commandToProto(0, cmd, timeout), Again: again})
	if err != nil {
		return nil, forwardError(nodeID, op, serverName(s, holder.ServerID), err)
	}
	return resultFromProto(resp.GetReply())
}

// forwardError is what a failed forwarding call means to the caller: the
// node unavailable (with errHolderMoved when the server answered it holds
// no session of the node), a deadline or a cancellation, else an internal
// fault naming the server.
func forwardError(nodeID, op, server string, err error) error {
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.Unavailable:
		if isNotHeld(st) {
			return fmt.Errorf("node %s: server %s: %s: %w", nodeID, server, st.Message(), errors.Join(errHolderMoved, nodeapi.ErrNodeUnavailable))
		}
		// The call or the holder's session was lost: the command may have
		// reached the agent.
		if !isRemote(st) {
			return fmt.Errorf("node %s: %s through server %s: %s: %w", nodeID, op, server, st.Message(), errors.Join(errUnreachable, errMaybeSent, nodeapi.ErrNodeUnavailable))
		}
		return fmt.Errorf("node %s: %s through server %s: %s: %w", nodeID, op, server, st.Message(), errors.Join(errMaybeSent, nodeapi.ErrNodeUnavailable))
	case codes.DeadlineExceeded:
		return fmt.Errorf("node %s: no reply to %s through server %s: %s: %w", nodeID, op, server, st.Message(), context.DeadlineExceeded)
	case codes.Canceled:
		return fmt.Errorf("node %s: %s through server %s: %s: %w", nodeID, op, server, st.Message(), context.Canceled)
	}
	return fmt.Errorf("node %s: forwarding %s to server %s: %s (%s)", nodeID, op, server, st.Message(), st.Code())
}

// notHeldPrefix begins the message of the UNAVAILABLE a server answers
// for a node whose session it does not hold.
const notHeldPrefix = "no attached session of the node on this server"

func isNotHeld(st *status.Status) bool { return strings.HasPrefix(st.Message(), notHeldPrefix) }

// remotePrefix begins the message of the UNAVAILABLE a holding server
// answers when its session of the node is over (the command may have
// reached the agent); any other UNAVAILABLE is the connection's.
const remotePrefix = "the node's session on this server: "

func isRemote(st *status.Status) bool { return strings.HasPrefix(st.Message(), remotePrefix) }

func serverName(s store.ServerRecord, id string) string {
	if s.Name != "" {
		return fmt.Sprintf("%s (%s)", s.Name, id)
	}
	return id
}

// supersede tells server serverID to close its session of node nodeID,
// which session sessionID of this server took over.
func (c *cluster) supersede(ctx context.Context, serverID, nodeID, sessionID string) error {
	s, live, err := c.server(ctx, serverID)
	if err != nil {
		return err
	}
	if !live {
		return nil // A server that is gone holds nothing.
	}
	p, err := c.peer(s)
	if err != nil {
		return err
	}
	_, err = p.client.Supersede(ctx, &clusterv1.SupersedeRequest{NodeId: nodeID, SessionId: sessionID, ServerId: c.id})
	if err != nil {
		return fmt.Errorf("telling server %s to close its session of node %s: %w", serverName(s, serverID), nodeID, err)
	}
	return nil
}

// disconnect ends the session of node nodeID wherever it is held, telling
// its agent reason.
func (c *cluster) disconnect(ctx context.Context, nodeID, reason string) bool {
	holder, err := c.records.NodeHolder(ctx, nodeID)
	if err != nil || holder.ServerID == c.id {
		return false
	}
	s, live, err := c.server(ctx, holder.ServerID)
	if err != nil || !live {
		return false
	}
	p, err := c.peer(s)
	if err != nil {
		return false
	}
	resp, err := p.client.Supersede(ctx, &clusterv1.SupersedeRequest{NodeId: nodeID, Reason: reason})
	if err != nil {
		c.log.Warn("ending a node's session on another server failed", "node", nodeID, "server", serverName(s, holder.ServerID), "error", err)
		return false
	}
	return resp.GetClosed()
}
