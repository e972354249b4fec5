package agentserver

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/quantixvm/quantix/core/agent/nodecert"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/testenroll"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
	clusterv1 "github.com/quantixvm/quantix/proto/quantix/cluster/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// The tests of this file run two agent servers in one process on one
// PostgreSQL database, each with its own server id, as two `quantixd
// server` processes of a cluster do: one CA, one set of enrollment
// records, one report handler (standing for the shared inventory).

// clusterEnv is what the servers of a test share.
type clusterEnv struct {
	t       *testing.T
	records store.ClusterRepo
	ca      *pki.CA
	cert    tls.Certificate
	enroll  *testenroll.Records
	rec     *recorder
	ids     map[string]*nodecert.Identity
}

func newClusterEnv(t *testing.T) *clusterEnv {
	ca, cert := testenroll.TLS(t)
	return &clusterEnv{
		t: t, records: teststore.Open(t, "postgres").Cluster(), ca: ca, cert: cert,
		enroll: testenroll.New(agentToken, 1<<30), rec: newRecorder(), ids: map[string]*nodecert.Identity{},
	}
}

// start serves an agent server of the cluster as server id, registered
// in cluster_servers with its address.
func (c *clusterEnv) start(id string) *agentServerEnv {
	return c.startWith(id, nil)
}

// startRefreshing is start with the cluster's records read every refresh.
func (c *clusterEnv) startRefreshing(id string, refresh time.Duration) *agentServerEnv {
	return c.startWith(id, func(o *ClusterOptions) { o.Refresh = refresh })
}

// startWith is start with the cluster options set changes.
func (c *clusterEnv) startWith(id string, set func(*ClusterOptions)) *agentServerEnv {
	t := c.t
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	disp := NewDispatcher()
	logger := testlog.New(t, hclog.Debug).Named(id)
	opts := ClusterOptions{ServerID: id, Records: c.records, CA: c.ca, Refresh: 100 * time.Millisecond, Logger: logger}
	if set != nil {
		set(&opts)
	}
	if err := disp.EnableCluster(opts); err != nil {
		t.Fatal(err)
	}
	if err := c.records.RegisterServer(context.Background(), &store.ServerRecord{ID: id, Name: id, RPCAddr: ln.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Handler: c.rec, Dispatcher: disp, CA: c.ca, Certificate: c.cert, Enrollment: c.enroll, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("closing agent server %s: %v", id, err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve of %s: %v", id, err)
		}
	})
	return &agentServerEnv{srv: srv, addr: ln.Addr().String(), disp: disp, rec: c.rec, ca: c.ca, enroll: c.enroll, ids: c.ids}
}

// answer has scripted agent a answer commands as TestAgentServerCommands'
// does, passing each command to got.
func answer(a *scripted, got chan<- *agentv1.Command) {
	stream := a.stream
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				close(got)
				return
			}
			c := m.GetCommand()
			if c == nil {
				continue
			}
			got <- c
			reply := &agentv1.CommandReply{CommandId: c.GetId()}
			switch c.GetOp() {
			case agentv1.Op_OP_START:
				reply.Vm = runningVM(c.GetVmId())
			case agentv1.Op_OP_PAUSE:
				reply.Error = &agentv1.Error{Kind: agentv1.ErrorKind_ERROR_KIND_CONFLICT, Message: "vm is stopped"}
			case agentv1.Op_OP_CREATE:
				reply.Error = &agentv1.Error{Kind: agentv1.ErrorKind_ERROR_KIND_INVALID_ARGUMENT, Message: "bad memory", Field: "spec.memory_mib"}
			case agentv1.Op_OP_TAIL_LOG:
				reply.Log = &backendv1.LogTail{Path: "/l", Exists: true, Lines: []string{"a", "b"}}
			case agentv1.Op_OP_GET:
				continue // never answered
			}
			_ = stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Reply{Reply: reply}})
		}
	}()
}

func holder(t *testing.T, records ClusterRecords, nodeID string) store.NodeSession {
	t.Helper()
	h, err := records.NodeHolder(context.Background(), nodeID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return h
}

func connectedTo(d *Dispatcher, node string) bool {
	for _, n := range d.Connected() {
		if n == node {
			return true
		}
	}
	return false
}

// TestClusterForwardsCommands: a command executed through server A for a
// node whose agent is attached to server B runs on B's session; results,
// the backend's error kinds (with the field of an invalid argument) and
// deadlines come back as they would from a local session; A counts the
// node connected.
func TestClusterForwardsCommands(t *testing.T) {
	c := newClusterEnv(t)
	a, b := c.start("srv-a"), c.start("srv-b")
	agent := dialScripted(t, b)
	agent.mustConnect("n1")
	got := make(chan *agentv1.Command, 10)
	answer(agent, got)
	if h := holder(t, c.records, agent.node); h.ServerID != "srv-b" || h.SessionID != agent.session {
		t.Fatalf("node_sessions holds %+v; want server srv-b, session %s", h, agent.session)
	}
	wait.Until(t, 5*time.Second, "server A to count the node connected", func() bool { return connectedTo(a.disp, agent.node) })
	if !connectedTo(b.disp, agent.node) {
		t.Fatal("server B does not count its own node connected")
	}

	ctx := context.Background()
	id := "aaaaaaaa-0000-4000-8000-000000000001"
	res, err := a.disp.Execute(ctx, agent.node, nodeapi.Command{Op: agentv1.Op_OP_START, VMID: id})
	if err != nil || res.VM == nil || res.VM.ID != id || res.VM.State != backend.StateRunning {
		t.Fatalf("start through A: %+v, %v", res, err)
	}
	if cmd := <-got; cmd.GetOp() != agentv1.Op_OP_START || cmd.GetVmId() != id || cmd.GetTimeoutMs() <= 0 || cmd.GetTimeoutMs() > (5*time.Minute).Milliseconds() {
		t.Errorf("start arrived as %v", cmd)
	}

	_, err = a.disp.Execute(ctx, agent.node, nodeapi.Command{Op: agentv1.Op_OP_PAUSE, VMID: id})
	if !errors.Is(err, plugin.ErrConflict) || !strings.Contains(err.Error(), "vm is stopped") {
		t.Errorf("pause through A: %v; want the agent's conflict", err)
	}
	<-got

	_, err = a.disp.Execute(ctx, agent.node, nodeapi.Command{Op: agentv1.Op_OP_CREATE, Spec: &backend.VMSpec{Name: "x", VCPUs: 1, MemoryMiB: 1}})
	if plugin.FieldOf(err) != "spec.memory_mib" || !errors.Is(err, plugin.ErrInvalidArgument) {
		t.Errorf("create through A: %v; want an invalid argument naming spec.memory_mib", err)
	}
	if cmd := <-got; cmd.GetSpec().GetName() != "x" || cmd.GetSpec().GetMemoryMib() != 1 {
		t.Errorf("create arrived as %v", cmd)
	}

	res, err = a.disp.Execute(ctx, agent.node, nodeapi.Command{Op: agentv1.Op_OP_TAIL_LOG, VMID: id, Lines: 2})
	if err != nil || res.Log == nil || len(res.Log.Lines) != 2 || !res.Log.Exists {
		t.Errorf("tail_log through A: %+v, %v", res, err)
	}
	if cmd := <-got; cmd.GetLines() != 2 {
		t.Errorf("tail_log arrived as %v", cmd)
	}

	_, _ = a.disp.Execute(ctx, agent.node, nodeapi.Command{Op: agentv1.Op_OP_STOP, VMID: id, Stop: backend.StopOptions{Force: true, Timeout: 2 * time.Second}})
	if cmd := <-got; !cmd.GetStopForce() || cmd.GetStopTimeoutMs() != 2000 || cmd.GetTimeoutMs() < time.Minute.Milliseconds() {
		t.Errorf("stop arrived as %v", cmd)
	}

	// The caller's deadline bounds a forwarded command, and the agent is
	// told it.
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err = a.disp.Execute(dctx, agent.node, nodeapi.Command{Op: agentv1.Op_OP_GET, VMID: id})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(began) > 2*time.Second {
		t.Errorf("unanswered get through A: %v after %s; want a deadline", err, time.Since(began))
	}
	if cmd := <-got; cmd.GetTimeoutMs() > 300 {
		t.Errorf("get carried timeout %dms, want at most the caller's 300ms", cmd.GetTimeoutMs())
	}

	// The agent leaving releases the claim: A answers unavailable at once,
	// and stops counting the node.
	agent.cancel()
	_ = agent.conn.Close()
	wait.Until(t, 5*time.Second, "the claim released", func() bool { return holder(t, c.records, agent.node).ServerID == "" })
	_, err = a.disp.Execute(ctx, agent.node, nodeapi.Command{Op: agentv1.Op_OP_START, VMID: id})
	if !errors.Is(err, nodeapi.ErrNodeUnavailable) {
		t.Errorf("start through A after the agent left: %v; want nodeapi.ErrNodeUnavailable", err)
	}
	wait.Until(t, 5*time.Second, "server A to stop counting the node", func() bool { return !connectedTo(a.disp, agent.node) })
}

// TestClusterGoneServerIsUnavailable: a node claimed by a server that
// stopped (or stopped beating) is unavailable, not forwarded to.
func TestClusterGoneServerIsUnavailable(t *testing.T) {
	c := newClusterEnv(t)
	const moveWait = 300 * time.Millisecond
	a := c.startWith("srv-a", func(o *ClusterOptions) { o.MoveWait = moveWait })
	// Commands wait only while another server is live, one an agent
	// could move to.
	c.start("srv-b")
	ctx := context.Background()
	if err := c.records.RegisterServer(context.Background(), &store.ServerRecord{ID: "srv-gone", Name: "gone", RPCAddr: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if err := c.records.StopServer(ctx, "srv-gone"); err != nil {
		t.Fatal(err)
	}
	if err := c.records.ClaimNode(ctx, store.NodeSession{NodeID: "node-x", ServerID: "srv-gone", SessionID: "s1"}); err != nil {
		t.Fatal(err)
	}
	wait.Stays(t, 500*time.Millisecond, "node-x not counted connected", func() bool { return !connectedTo(a.disp, "node-x") })
	// Each waits the move wait for a new session of the node first.
	began := time.Now()
	_, err := a.disp.Execute(ctx, "node-x", nodeapi.Command{Op: agentv1.Op_OP_START, VMID: "v"})
	if !errors.Is(err, nodeapi.ErrNodeUnavailable) || !strings.Contains(err.Error(), "gone") {
		t.Errorf("start on a node of a stopped server: %v; want unavailable saying the server is gone", err)
	}
	if took := time.Since(began); took < moveWait || took > moveWait+2*time.Second {
		t.Errorf("start on a node of a stopped server failed after %s; want the move wait, %s", took, moveWait)
	}
	_, err = a.disp.Execute(ctx, "node-nobody", nodeapi.Command{Op: agentv1.Op_OP_START, VMID: "v"})
	if !errors.Is(err, nodeapi.ErrNodeUnavailable) || !strings.Contains(err.Error(), "no server") {
		t.Errorf("start on a node nobody holds: %v; want unavailable", err)
	}
	began = time.Now()
	if a.disp.WaitConnected(ctx, "node-nobody") || time.Since(began) < moveWait {
		t.Errorf("WaitConnected of a node nobody holds: true or gave up after %s; want false after %s", time.Since(began), moveWait)
	}
}

// TestClusterCommandsWaitForHandOver: a server handing its agents over
// (a SIGTERM) ends their sessions and releases their claims;
// commands for the node, through another server or through the one handed
// over, wait for the agent's next session and run there.
func TestClusterCommandsWaitForHandOver(t *testing.T) {
	c := newClusterEnv(t)
	a, b, cc := c.start("srv-a"), c.start("srv-b"), c.start("srv-c")
	old := dialScripted(t, b)
	old.mustConnect("n1")
	answer(old, make(chan *agentv1.Command, 10))
	wait.Until(t, 5*time.Second, "server A to count the node connected", func() bool { return connectedTo(a.disp, old.node) })
	// B hands over only when it knows of a live server to hand over to.
	wait.Until(t, 5*time.Second, "server B to see the other servers live", func() bool { return b.disp.clusterOf().othersLive() })

	b.srv.HandOver()
	wait.Until(t, 5*time.Second, "B to release its claim and its session", func() bool {
		return holder(t, c.records, old.node).ServerID == "" && b.disp.local(old.node) == nil
	})
	ctx := context.Background()
	id := "aaaaaaaa-0000-4000-8000-000000000001"
	type outcome struct {
		res *nodeapi.Result
		err error
	}
	viaA, viaB := make(chan outcome, 1), make(chan outcome, 1)
	go func() {
		res, err := a.disp.Execute(ctx, old.node, nodeapi.Command{Op: agentv1.Op_OP_START, VMID: id})
		viaA <- outcome{res, err}
	}()
	go func() {
		res, err := b.disp.Execute(ctx, old.node, nodeapi.Command{Op: agentv1.Op_OP_START, VMID: id})
		viaB <- outcome{res, err}
	}()
	connected := make(chan bool, 1)
	go func() { connected <- a.disp.WaitConnected(ctx, old.node) }()
	wait.Stays(t, 300*time.Millisecond, "the starts to wait for the node's next session", func() bool { return len(viaA) == 0 && len(viaB) == 0 })

	next := dialScripted(t, cc)
	next.mustConnect("n1")
	got := make(chan *agentv1.Command, 10)
	answer(next, got)
	for name, ch := range map[string]chan outcome{"A": viaA, "B": viaB} {
		o := wait.Value(t, 5*time.Second, "the start through "+name, func() (outcome, bool) {
			select {
			case o := <-ch:
				return o, true
			default:
				return outcome{}, false
			}
		})
		if o.err != nil || o.res.VM == nil || o.res.VM.ID != id {
			t.Errorf("start through %s during the hand-over: %+v, %v", name, o.res, o.err)
		}
		if cmd := <-got; cmd.GetOp() != agentv1.Op_OP_START {
			t.Errorf("the next session got %v", cmd)
		}
	}
	if !<-connected {
		t.Error("WaitConnected through A during the hand-over: false; want true once the agent is on C")
	}
}

// TestClusterTakeoverClosesOldSession: the node's agent registering on
// server A while its old session on B still looks alive closes B's session
// (the agent is told it was superseded, the handler is not told the node
// disconnected), and the claim is A's.
func TestClusterTakeoverClosesOldSession(t *testing.T) {
	c := newClusterEnv(t)
	a, b := c.start("srv-a"), c.start("srv-b")
	old := dialScripted(t, b)
	old.mustConnect("n1")
	next := dialScripted(t, a)
	next.mustConnect("n1")
	if next.node != old.node {
		t.Fatalf("node %s on A, %s on B", next.node, old.node)
	}
	began := time.Now()
	for {
		_, err := old.stream.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), "superseded") {
			t.Fatalf("old session on B ended with %v; want Aborted saying superseded", err)
		}
		break
	}
	t.Logf("B closed its session %s after A's took over", time.Since(began))
	if h := holder(t, c.records, next.node); h.ServerID != "srv-a" || h.SessionID != next.session {
		t.Errorf("node_sessions holds %+v; want server srv-a, session %s", h, next.session)
	}
	wait.Until(t, 5*time.Second, "server B to count the node connected through A", func() bool { return connectedTo(b.disp, next.node) })
	if _, disconnected := c.rec.snapshot(); len(disconnected) != 0 {
		t.Errorf("a session taken over by another server told the handler its node disconnected: %v", disconnected)
	}
	// B forwards to A now.
	got := make(chan *agentv1.Command, 1)
	answer(next, got)
	if _, err := b.disp.Execute(context.Background(), next.node, nodeapi.Command{Op: agentv1.Op_OP_START, VMID: "aaaaaaaa-0000-4000-8000-000000000001"}); err != nil {
		t.Errorf("start through B after the takeover: %v", err)
	}
}

// TestClusterClaimCheckClosesSession: a claim of another server recorded
// without telling this one (the call lost) closes this server's session
// within a few refreshes: the periodic check is the backstop.
func TestClusterClaimCheckClosesSession(t *testing.T) {
	c := newClusterEnv(t)
	b := c.start("srv-b")
	agent := dialScripted(t, b)
	agent.mustConnect("n1")
	if err := c.records.ClaimNode(context.Background(), store.NodeSession{NodeID: agent.node, ServerID: "srv-elsewhere", SessionID: "s-new"}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	for {
		_, err := agent.stream.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), "superseded") {
			t.Fatalf("session ended with %v; want Aborted saying superseded", err)
		}
		break
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("the check closed the session after %s; want within a few refreshes of 100ms", took)
	}
	// Its end leaves the other server's claim alone.
	wait.Stays(t, 300*time.Millisecond, "the other server's claim kept", func() bool {
		return holder(t, c.records, agent.node).SessionID == "s-new"
	})
}

// TestClusterServiceTakesServersOnly: the cluster service refuses a
// node's certificate and a call without one; the agent service refuses a
// server's peer certificate, so neither can pose as the other.
func TestClusterServiceTakesServersOnly(t *testing.T) {
	c := newClusterEnv(t)
	b := c.start("srv-b")
	agent := dialScripted(t, b)
	agent.mustConnect("n1")
	ctx := context.Background()
	req := &clusterv1.ExecuteRequest{NodeId: agent.node, Command: &agentv1.Command{Op: agentv1.Op_OP_START, VmId: "v"}}

	// The node's own certificate.
	_, err := clusterv1.NewClusterServiceClient(agent.conn).Execute(ctx, req)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "only the cluster's servers") {
		t.Errorf("Execute with a node certificate: %v; want PermissionDenied", err)
	}
	_, err = clusterv1.NewClusterServiceClient(agent.conn).Supersede(ctx, &clusterv1.SupersedeRequest{NodeId: agent.node})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("Supersede with a node certificate: %v; want PermissionDenied", err)
	}
	// No certificate.
	anon, err := grpc.NewClient(b.addr, grpc.WithTransportCredentials(credentials.NewTLS(nodecert.PinnedTLS(c.ca.Fingerprint(), nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := clusterv1.NewClusterServiceClient(anon).Execute(ctx, req); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Execute without a certificate: %v; want Unauthenticated", err)
	}

	// A server's peer certificate is no node's.
	peerCert, err := c.ca.IssueServerPeer("srv-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srvConn, err := grpc.NewClient(b.addr, grpc.WithTransportCredentials(credentials.NewTLS(nodecert.ServerTLS(c.ca.Certificate(), func() *tls.Certificate { return &peerCert }))))
	if err != nil {
		t.Fatal(err)
	}
	defer srvConn.Close()
	_, err = agentv1.NewAgentServiceClient(srvConn).Register(ctx, &agentv1.RegisterRequest{ProtocolVersion: agentv1.ProtocolVersion_PROTOCOL_VERSION_1})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "not a node's") {
		t.Errorf("Register with a server peer certificate: %v; want PermissionDenied", err)
	}
	if len(c.rec.regs) != 1 {
		t.Errorf("registrations: %+v; want only the agent's", c.rec.regs)
	}
	// and it does call the cluster service.
	if _, err := clusterv1.NewClusterServiceClient(srvConn).Supersede(ctx, &clusterv1.SupersedeRequest{NodeId: "node-none", SessionId: "s"}); err != nil {
		t.Errorf("Supersede with a server peer certificate: %v", err)
	}
}

// TestClusterForwardsPastStaleView: a server whose view of the cluster
// still names the node's previous holder is told by it that the session
// moved, reads the holder from the database and reaches the new one.
func TestClusterForwardsPastStaleView(t *testing.T) {
	c := newClusterEnv(t)
	// A reads the records only when the test says.
	a := c.startRefreshing("srv-a", time.Hour)
	b, cc := c.start("srv-b"), c.start("srv-c")
	old := dialScripted(t, b)
	old.mustConnect("n1")
	ctx := context.Background()
	if _, err := a.disp.clusterOf().read(ctx); err != nil {
		t.Fatal(err)
	}
	if h, ok := a.disp.clusterOf().cachedHolder(old.node); !ok || h.ServerID != "srv-b" {
		t.Fatalf("A's view: %+v %v; want srv-b", h, ok)
	}
	next := dialScripted(t, cc)
	next.mustConnect("n1")
	got := make(chan *agentv1.Command, 1)
	answer(next, got)
	wait.Until(t, 5*time.Second, "B to close its session", func() bool { return b.disp.local(old.node) == nil })
	res, err := a.disp.Execute(ctx, next.node, nodeapi.Command{Op: agentv1.Op_OP_START, VMID: "aaaaaaaa-0000-4000-8000-000000000001"})
	if err != nil || res.VM == nil {
		t.Fatalf("start through A with a stale view: %+v, %v", res, err)
	}
	if cmd := <-got; cmd.GetOp() != agentv1.Op_OP_START {
		t.Errorf("C's agent got %v", cmd)
	}
}

// cuttable is the cluster's records with a switch that makes every call
// fail, as a server cut off from the database sees them.
type cuttable struct {
	ClusterRecords
	cut atomic.Bool
}

var errCut = errors.New("connection to the database lost")

func (c *cuttable) NodeSessions(ctx context.Context) ([]store.NodeSession, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.ClusterRecords.NodeSessions(ctx)
}

func (c *cuttable) Servers(ctx context.Context) ([]store.ServerRecord, error) {
	if c.cut.Load() {
		return nil, errCut
	}
	return c.ClusterRecords.Servers(ctx)
}

func (c *cuttable) ClaimNode(ctx context.Context, s store.NodeSession) error {
	if c.cut.Load() {
		return errCut
	}
	return c.ClusterRecords.ClaimNode(ctx, s)
}

// TestClusterLostDatabaseClosesSessions: a server that cannot read the
// cluster's records for longer than the live window closes its sessions,
// telling the agents to connect to another server, and refuses new ones
// while it cannot record them.
func TestClusterLostDatabaseClosesSessions(t *testing.T) {
	c := newClusterEnv(t)
	records := &cuttable{ClusterRecords: c.records}
	b := c.startWith("srv-b", func(o *ClusterOptions) { o.Records, o.LiveWithin = records, 500*time.Millisecond })
	agent := dialScripted(t, b)
	agent.mustConnect("n1")
	records.cut.Store(true)
	began := time.Now()
	for {
		_, err := agent.stream.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "cannot reach the cluster's database: connect to another server") {
			t.Fatalf("session ended with %v; want Unavailable saying to connect to another server", err)
		}
		break
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("the session was closed %s after the database went away; want about the live window of 500ms", took)
	}
	again := dialScripted(t, b)
	if err := again.register("n1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := again.attach(); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "connect to another server") {
		t.Errorf("attaching while the database is away: %v; want Unavailable", err)
	}
}

// TestClusterDisconnectReachesHolder: ending a node's session through a
// server that does not hold it (removing the node, say) ends it on the
// holder, whose agent is told why.
func TestClusterDisconnectReachesHolder(t *testing.T) {
	c := newClusterEnv(t)
	a, b := c.start("srv-a"), c.start("srv-b")
	agent := dialScripted(t, b)
	agent.mustConnect("n1")
	wait.Until(t, 5*time.Second, "server A to see the node's claim", func() bool { return connectedTo(a.disp, agent.node) })
	if !a.disp.Disconnect(agent.node, "the node was removed") {
		t.Fatal("Disconnect through A ended nothing")
	}
	for {
		_, err := agent.stream.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), "the node was removed") {
			t.Fatalf("session ended with %v; want Aborted with the reason", err)
		}
		break
	}
	if a.disp.Disconnect("node-nobody", "x") {
		t.Error("Disconnect of a node nobody holds says it ended a session")
	}
}

// TestClusterHandOverLetsCommandsFinish: a command in flight on a session
// handed over gets its reply before the session ends; new commands are
// refused unsent meanwhile (and wait for the node's next session).
func TestClusterHandOverLetsCommandsFinish(t *testing.T) {
	c := newClusterEnv(t)
	a, b := c.start("srv-a"), c.start("srv-b")
	agent := dialScripted(t, b)
	agent.mustConnect("n1")
	got, release := make(chan *agentv1.Command, 1), make(chan struct{})
	stream := agent.stream
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			cmd := m.GetCommand()
			if cmd == nil {
				continue
			}
			got <- cmd
			<-release
			_ = stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Reply{Reply: &agentv1.CommandReply{CommandId: cmd.GetId(), Vm: runningVM(cmd.GetVmId())}}})
		}
	}()
	wait.Until(t, 5*time.Second, "server A to count the node connected", func() bool { return connectedTo(a.disp, agent.node) })
	id := "aaaaaaaa-0000-4000-8000-000000000001"
	done := make(chan error, 1)
	go func() {
		_, err := a.disp.Execute(context.Background(), agent.node, nodeapi.Command{Op: agentv1.Op_OP_START, VMID: id})
		done <- err
	}()
	<-got
	// B hands over only when it knows of a live server to hand over to.
	wait.Until(t, 5*time.Second, "server B to see server A live", func() bool { return b.disp.clusterOf().othersLive() })
	handedOver := make(chan struct{})
	go func() {
		b.srv.HandOver()
		close(handedOver)
	}()
	wait.Until(t, 5*time.Second, "B's session to refuse new commands", func() bool {
		s, ok := b.disp.local(agent.node).(*agentSession)
		if !ok {
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.draining
	})
	wait.Stays(t, 300*time.Millisecond, "the session to stay while its command runs", func() bool {
		select {
		case <-handedOver:
			return false
		default:
			return holder(t, c.records, agent.node).ServerID == "srv-b"
		}
	})
	close(release)
	if err := wait.Value(t, 5*time.Second, "the start in flight", func() (error, bool) {
		select {
		case err := <-done:
			return err, true
		default:
			return nil, false
		}
	}); err != nil {
		t.Errorf("start in flight during the hand-over: %v; want its reply", err)
	}
	wait.Until(t, 10*time.Second, "the hand-over to end and the claim to be released", func() bool {
		select {
		case <-handedOver:
			return holder(t, c.records, agent.node).ServerID == ""
		default:
			return false
		}
	})
}

// handOverInFlight runs a start through server A on a node whose session
// B holds, its agent remembering requests and not answering; B hands over
// while the start is in flight. It returns when HandOver did, how long it
// took, the command the agent got, and the start's outcome channel; the
// node's next session is up to the caller.
func handOverInFlight(t *testing.T, c *clusterEnv, a, b *agentServerEnv) (time.Duration, *agentv1.Command, <-chan error) {
	t.Helper()
	agent := dialScripted(t, b)
	agent.remembers = true
	agent.mustConnect("n1")
	got := make(chan *agentv1.Command, 1)
	stream := agent.stream
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			if cmd := m.GetCommand(); cmd != nil {
				got <- cmd // never answered on this session
			}
		}
	}()
	wait.Until(t, 5*time.Second, "server A to count the node connected", func() bool { return connectedTo(a.disp, agent.node) })
	wait.Until(t, 5*time.Second, "server B to see server A live", func() bool { return b.disp.clusterOf().othersLive() })
	done := make(chan error, 1)
	go func() {
		_, err := a.disp.Execute(context.Background(), agent.node, nodeapi.Command{Op: agentv1.Op_OP_START, VMID: "aaaaaaaa-0000-4000-8000-000000000002"})
		done <- err
	}()
	first := <-got
	began := time.Now()
	b.srv.HandOver()
	took := time.Since(began)
	if h := holder(t, c.records, agent.node).ServerID; h != "" {
		t.Errorf("after the hand-over the node's claim is %q's, want released", h)
	}
	return took, first, done
}

// TestClusterHandOverResendsToRememberingAgent: a server handing over a
// session whose agent remembers requests does not wait for the command in
// flight on it: HandOver ends the session at once, and the command, sent
// again with its request id, reaches the agent's next session (which
// answers it from the agent's memory of the run).
func TestClusterHandOverResendsToRememberingAgent(t *testing.T) {
	c := newClusterEnv(t)
	a, b, cc := c.start("srv-a"), c.start("srv-b"), c.start("srv-c")
	took, first, done := handOverInFlight(t, c, a, b)
	t.Logf("HandOver with a command in flight took %s", took)
	if took > time.Second {
		t.Errorf("HandOver took %s with a command in flight on a session whose agent remembers requests; want it not to wait for it", took)
	}
	if first.GetRequestId() == "" {
		t.Fatal("the command carries no request id")
	}
	next := dialScripted(t, cc)
	next.remembers = true
	next.mustConnect("n1")
	got := make(chan *agentv1.Command, 10)
	answer(next, got)
	if err := wait.Value(t, 10*time.Second, "the start sent again", func() (error, bool) {
		select {
		case err := <-done:
			return err, true
		default:
			return nil, false
		}
	}); err != nil {
		t.Fatalf("the start in flight during the hand-over: %v; want the reply of the next session", err)
	}
	again := <-got
	if again.GetRequestId() != first.GetRequestId() || again.GetOp() != first.GetOp() {
		t.Errorf("the next session got %v (request %q), want the start of request %q again", again.GetOp(), again.GetRequestId(), first.GetRequestId())
	}
}

// TestClusterHandOverNeverResendsToForgetfulAgent: when the node's next
// session is of an agent that does not remember requests, a command whose
// attempt may have reached the agent is not sent to it: it fails as
// unavailable after the move wait, and the agent never gets it twice.
func TestClusterHandOverNeverResendsToForgetfulAgent(t *testing.T) {
	c := newClusterEnv(t)
	const moveWait = time.Second
	a := c.startWith("srv-a", func(o *ClusterOptions) { o.MoveWait = moveWait })
	b, cc := c.start("srv-b"), c.start("srv-c")
	_, _, done := handOverInFlight(t, c, a, b)
	next := dialScripted(t, cc)
	next.mustConnect("n1")
	got := make(chan *agentv1.Command, 10)
	answer(next, got)
	err := wait.Value(t, 10*time.Second, "the start to fail", func() (error, bool) {
		select {
		case err := <-done:
			return err, true
		default:
			return nil, false
		}
	})
	if !errors.Is(err, nodeapi.ErrNodeUnavailable) {
		t.Errorf("the start in flight during the hand-over, next agent forgetful: %v; want unavailable", err)
	}
	select {
	case cmd := <-got:
		t.Errorf("the forgetful agent's next session got %v of request %q: sent twice", cmd.GetOp(), cmd.GetRequestId())
	default:
	}
}
