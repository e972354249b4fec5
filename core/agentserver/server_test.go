package agentserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/quantixvm/quantix/core/agent/nodecert"
	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/testenroll"
	"github.com/quantixvm/quantix/internal/testid"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// The tests of this file drive the agent server with a scripted agent
// speaking the protocol by hand, so that they can send what a real agent
// never would (stale sequence numbers, reports of a superseded session),
// and record what reaches the nodeapi.ReportHandler.

// recorder is a nodeapi.ReportHandler that records the reports it is given.
type recorder struct {
	mu           sync.Mutex
	nodes        map[string]string // name -> id
	regs         []nodeapi.Registration
	reports      []recorded
	disconnected []string
	// askFullSync is what Heartbeat answers.
	askFullSync bool
	changed     chan struct{}
}

type recorded struct {
	kind   string // full_sync, change, heartbeat
	node   string
	vms    []*backend.VM
	change nodeapi.Change
	hb     nodeapi.HeartbeatReport
}

var _ nodeapi.ReportHandler = (*recorder)(nil)

func newRecorder() *recorder {
	return &recorder{nodes: map[string]string{}, changed: make(chan struct{}, 1)}
}

func (r *recorder) add(f func()) {
	r.mu.Lock()
	f()
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) Register(_ context.Context, reg nodeapi.Registration) (string, error) {
	var id string
	r.add(func() {
		r.regs = append(r.regs, reg)
		if id = r.nodes[reg.NodeName]; id == "" {
			id = "node-" + testid.Hex(4)
			r.nodes[reg.NodeName] = id
		}
	})
	return id, nil
}

func (r *recorder) FullSync(_ context.Context, nodeID string, vms []*backend.VM) error {
	r.add(func() { r.reports = append(r.reports, recorded{kind: "full_sync", node: nodeID, vms: vms}) })
	return nil
}

func (r *recorder) Change(_ context.Context, nodeID string, ch nodeapi.Change) error {
	r.add(func() { r.reports = append(r.reports, recorded{kind: "change", node: nodeID, change: ch}) })
	return nil
}

func (r *recorder) Heartbeat(_ context.Context, nodeID string, hb nodeapi.HeartbeatReport) (bool, error) {
	var full bool
	r.add(func() {
		r.reports = append(r.reports, recorded{kind: "heartbeat", node: nodeID, hb: hb})
		full = r.askFullSync
	})
	return full, nil
}

func (r *recorder) Disconnected(_ context.Context, nodeID string) {
	r.add(func() { r.disconnected = append(r.disconnected, nodeID) })
}

func (r *recorder) snapshot() ([]recorded, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reports...), append([]string(nil), r.disconnected...)
}

// agentServerEnv is an agent server on a loopback port.
type agentServerEnv struct {
	srv  *Server
	addr string
	disp *Dispatcher
	rec  *recorder
	ca   *pki.CA
	// enroll holds the join token agentToken, good for any number of
	// enrollments.
	enroll *testenroll.Records

	mu  sync.Mutex
	ids map[string]*nodecert.Identity // the certificates scripted agents enrolled
}

// agentToken is the join token of the test servers.
const agentToken = "s3cret"

// startAgentServer serves agents on ln (nil: a free loopback port), with
// whatever opts set.
func startAgentServer(t *testing.T, ln net.Listener, opts ...func(*Options)) *agentServerEnv {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ca, cert := testenroll.TLS(t)
	e := &agentServerEnv{addr: ln.Addr().String(), disp: NewDispatcher(), rec: newRecorder(), ca: ca, ids: map[string]*nodecert.Identity{}, enroll: testenroll.New(agentToken, 1<<30)}
	o := Options{Handler: e.rec, Dispatcher: e.disp, CA: ca, Certificate: cert, Enrollment: e.enroll, Logger: testlog.New(t, hclog.Debug)}
	for _, set := range opts {
		set(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("closing the agent server: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return e
}

// scripted is an agent speaking the protocol by hand. It enrolls each node
// name it registers as with the server's join token, and calls as that
// node with its certificate.
type scripted struct {
	// remembers is what it registers as RemembersRequests.
	remembers bool
	t         *testing.T
	env       *agentServerEnv
	conns     map[string]*grpc.ClientConn
	conn      *grpc.ClientConn // of the last node registered
	client    agentv1.AgentServiceClient
	node      string
	session   string
	stream    grpc.BidiStreamingClient[agentv1.AgentMessage, agentv1.ServerMessage]
	cancel    context.CancelFunc
	welcome   *agentv1.Welcome
}

func dialScripted(t *testing.T, e *agentServerEnv) *scripted {
	return &scripted{t: t, env: e, conns: map[string]*grpc.ClientConn{}}
}

// enroll gets a certificate for name with the join token.
func (a *scripted) enroll(name, token string) (*nodecert.Identity, error) {
	conn, err := grpc.NewClient(a.env.addr, grpc.WithTransportCredentials(credentials.NewTLS(nodecert.PinnedTLS(a.env.ca.Fingerprint(), nil))))
	if err != nil {
		a.t.Fatal(err)
	}
	defer conn.Close()
	key, csr, err := nodecert.NewRequest(name)
	if err != nil {
		a.t.Fatal(err)
	}
	resp, err := agentv1.NewAgentServiceClient(conn).Enroll(context.Background(), &agentv1.EnrollRequest{JoinToken: token, NodeName: name, Csr: csr})
	if err != nil {
		return nil, err
	}
	return nodecert.Save(a.t.TempDir(), key, resp.GetCertificate(), resp.GetCaCertificate())
}

// dialAs connects with id's certificate.
func (a *scripted) dialAs(id *nodecert.Identity) *grpc.ClientConn {
	conn, err := grpc.NewClient(a.env.addr, grpc.WithTransportCredentials(credentials.NewTLS(nodecert.ServerTLS(id.CA, func() *tls.Certificate { return &id.Cert }))))
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// clientFor is the client calling as node name, enrolled on first use by
// any scripted agent of the server: the scripted agents of a test are one
// host's agent connecting again.
func (a *scripted) clientFor(name string) (agentv1.AgentServiceClient, error) {
	conn := a.conns[name]
	if conn == nil {
		a.env.mu.Lock()
		defer a.env.mu.Unlock()
		id := a.env.ids[name]
		if id == nil {
			var err error
			if id, err = a.enroll(name, agentToken); err != nil {
				return nil, err
			}
			a.env.ids[name] = id
		}
		conn = a.dialAs(id)
		a.conns[name] = conn
	}
	a.conn = conn
	return agentv1.NewAgentServiceClient(conn), nil
}

func (a *scripted) ctx(parent context.Context) context.Context { return parent }

func (a *scripted) register(name string, heartbeat time.Duration) error {
	client, err := a.clientFor(name)
	if err != nil {
		return err
	}
	a.client = client
	resp, err := a.client.Register(a.ctx(context.Background()), &agentv1.RegisterRequest{
		ProtocolVersion:     agentv1.ProtocolVersion_PROTOCOL_VERSION_1,
		NodeName:            name,
		Host:                &backendv1.HostInfo{Hostname: "h", Cpus: 2},
		Backend:             &agentv1.BackendInfo{Name: "libvirt", Healthy: true},
		HeartbeatIntervalMs: heartbeat.Milliseconds(),
		RemembersRequests:   a.remembers,
	})
	if err != nil {
		return err
	}
	a.node, a.session = resp.GetNodeId(), resp.GetSessionId()
	return nil
}

// attach opens the session stream and waits for the welcome.
func (a *scripted) attach() error {
	ctx, cancel := context.WithCancel(a.ctx(context.Background()))
	stream, err := a.client.Session(ctx)
	if err != nil {
		cancel()
		return err
	}
	// A Send the server already refused fails with io.EOF; the refusal
	// itself comes from Recv, as gRPC streams report it.
	if err := stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Hello{Hello: &agentv1.Hello{NodeId: a.node, SessionId: a.session}}}); err != nil && !errors.Is(err, io.EOF) {
		cancel()
		return err
	}
	m, err := stream.Recv()
	if err != nil {
		cancel()
		return err
	}
	if m.GetWelcome().GetSessionId() != a.session {
		cancel()
		return fmt.Errorf("first message %v, want a welcome of session %s", m, a.session)
	}
	a.stream, a.cancel, a.welcome = stream, cancel, m.GetWelcome()
	a.t.Cleanup(cancel)
	return nil
}

func (a *scripted) mustConnect(name string) {
	a.t.Helper()
	if err := a.register(name, time.Minute); err != nil {
		a.t.Fatalf("register: %v", err)
	}
	if err := a.attach(); err != nil {
		a.t.Fatalf("attach: %v", err)
	}
}

func (a *scripted) report(session string, seq uint64, body any) {
	a.t.Helper()
	r := &agentv1.Report{SessionId: session, Seq: seq}
	switch b := body.(type) {
	case *agentv1.Change:
		r.Body = &agentv1.Report_Change{Change: b}
	case *agentv1.FullSync:
		r.Body = &agentv1.Report_FullSync{FullSync: b}
	case *agentv1.Heartbeat:
		r.Body = &agentv1.Report_Heartbeat{Heartbeat: b}
	}
	if err := a.stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Report{Report: r}}); err != nil {
		a.t.Fatalf("sending report %d: %v", seq, err)
	}
}

// recvHeartbeatReply reads until a heartbeat reply comes.
func (a *scripted) recvHeartbeatReply() *agentv1.HeartbeatReply {
	a.t.Helper()
	for {
		m, err := a.stream.Recv()
		if err != nil {
			a.t.Fatalf("waiting for a heartbeat reply: %v", err)
		}
		if r := m.GetHeartbeatReply(); r != nil {
			return r
		}
	}
}

func runningVM(id string) *backendv1.VM {
	return &backendv1.VM{Id: id, Name: "vm-" + id[:4], State: backendv1.PowerState_POWER_STATE_RUNNING}
}

func TestAgentServerDropsStaleReports(t *testing.T) {
	e := startAgentServer(t, nil)
	a := dialScripted(t, e)
	a.mustConnect("n1")
	idA, idB, idC := "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002", "cccccccc-0000-4000-8000-000000000003"
	a.report(a.session, 1, &agentv1.Change{Vm: runningVM(idA), VmId: idA})
	a.report(a.session, 3, &agentv1.Change{Vm: runningVM(idB), VmId: idB})
	a.report(a.session, 2, &agentv1.Change{Vm: runningVM(idC), VmId: idC}) // older than 3
	a.report(a.session, 3, &agentv1.Heartbeat{StateHash: "x"})             // not newer than 3
	a.report("another-session", 9, &agentv1.Change{Gone: true, VmId: idA}) // names another session
	a.report(a.session, 4, &agentv1.Heartbeat{StateHash: "h", VmCount: 2}) // applied
	if r := a.recvHeartbeatReply(); r.GetSeq() != 4 || r.GetRequestFullSync() {
		t.Fatalf("heartbeat reply = %v, want seq 4 without a full sync request", r)
	}
	reports, _ := e.rec.snapshot()
	var got []string
	for _, r := range reports {
		switch r.kind {
		case "change":
			got = append(got, "change "+r.change.VM.ID[:1])
		default:
			got = append(got, r.kind)
		}
	}
	if strings.Join(got, ",") != "change a,change b,heartbeat" {
		t.Errorf("applied %v; want the changes of a and b and the last heartbeat", got)
	}
	if hb := reports[len(reports)-1].hb; hb.StateHash != "h" || hb.VMCount != 2 {
		t.Errorf("heartbeat = %+v", hb)
	}

	// The handler's answer travels back.
	e.rec.mu.Lock()
	e.rec.askFullSync = true
	e.rec.mu.Unlock()
	a.report(a.session, 5, &agentv1.Heartbeat{StateHash: "h"})
	if r := a.recvHeartbeatReply(); r.GetSeq() != 5 || !r.GetRequestFullSync() {
		t.Fatalf("heartbeat reply = %v, want seq 5 asking for a full sync", r)
	}
}

func TestAgentServerNewSessionSupersedes(t *testing.T) {
	e := startAgentServer(t, nil)
	old := dialScripted(t, e)
	old.mustConnect("n1")
	oldSession := old.session
	next := dialScripted(t, e)
	next.mustConnect("n1")
	if next.node != old.node || next.session == oldSession {
		t.Fatalf("second registration: node %s session %s; first: node %s session %s", next.node, next.session, old.node, oldSession)
	}
	// The old stream is ended by the server.
	for {
		_, err := old.stream.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), "superseded") {
			t.Fatalf("old stream ended with %v; want Aborted saying superseded", err)
		}
		break
	}
	// Attaching the old session again is refused; its reports go nowhere.
	old.session = oldSession
	if err := old.attach(); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "register again") {
		t.Errorf("re-attaching a superseded session: %v", err)
	}
	id := "aaaaaaaa-0000-4000-8000-000000000001"
	next.report(next.session, 1, &agentv1.FullSync{Vms: []*backendv1.VM{runningVM(id)}})
	next.report(next.session, 2, &agentv1.Heartbeat{})
	next.recvHeartbeatReply()
	reports, disconnected := e.rec.snapshot()
	if len(reports) != 2 || reports[0].kind != "full_sync" || len(reports[0].vms) != 1 || reports[0].vms[0].ID != id {
		t.Errorf("reports of the new session: %+v", reports)
	}
	if len(disconnected) != 0 {
		t.Errorf("a superseded session told the handler its node disconnected: %v", disconnected)
	}
	if got := e.disp.Connected(); len(got) != 1 || got[0] != next.node {
		t.Errorf("connected = %v, want [%s]", got, next.node)
	}
}

func TestAgentServerCommands(t *testing.T) {
	e := startAgentServer(t, nil)
	a := dialScripted(t, e)
	a.mustConnect("n1")
	id := "aaaaaaaa-0000-4000-8000-000000000001"

	// The scripted agent answers each command by its op.
	got := make(chan *agentv1.Command, 10)
	go func() {
		for {
			m, err := a.stream.Recv()
			if err != nil {
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
			_ = a.stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Reply{Reply: reply}})
		}
	}()
	ctx := context.Background()

	res, err := e.disp.Execute(ctx, a.node, nodeapi.Command{Op: agentv1.Op_OP_START, VMID: id})
	if err != nil || res.VM == nil || res.VM.ID != id || res.VM.State != backend.StateRunning {
		t.Fatalf("start: %+v, %v", res, err)
	}
	if c := <-got; c.GetOp() != agentv1.Op_OP_START || c.GetVmId() != id || c.GetTimeoutMs() <= 0 || c.GetTimeoutMs() > (5*time.Minute).Milliseconds() {
		t.Errorf("start arrived as %v", c)
	}

	_, err = e.disp.Execute(ctx, a.node, nodeapi.Command{Op: agentv1.Op_OP_PAUSE, VMID: id})
	if !errors.Is(err, plugin.ErrConflict) || !strings.Contains(err.Error(), "vm is stopped") {
		t.Errorf("pause: %v; want the agent's conflict", err)
	}
	<-got

	_, err = e.disp.Execute(ctx, a.node, nodeapi.Command{Op: agentv1.Op_OP_CREATE, Spec: &backend.VMSpec{Name: "x", VCPUs: 1, MemoryMiB: 1}})
	if plugin.FieldOf(err) != "spec.memory_mib" || !errors.Is(err, plugin.ErrInvalidArgument) {
		t.Errorf("create: %v; want an invalid argument naming spec.memory_mib", err)
	}
	if c := <-got; c.GetSpec().GetName() != "x" || c.GetSpec().GetMemoryMib() != 1 {
		t.Errorf("create arrived as %v", c)
	}

	res, err = e.disp.Execute(ctx, a.node, nodeapi.Command{Op: agentv1.Op_OP_TAIL_LOG, VMID: id, Lines: 2})
	if err != nil || res.Log == nil || len(res.Log.Lines) != 2 || !res.Log.Exists {
		t.Errorf("tail_log: %+v, %v", res, err)
	}
	if c := <-got; c.GetLines() != 2 {
		t.Errorf("tail_log arrived as %v", c)
	}

	res, err = e.disp.Execute(ctx, a.node, nodeapi.Command{Op: agentv1.Op_OP_STOP, VMID: id, Stop: backend.StopOptions{Force: true, Timeout: 2 * time.Second}})
	_ = res
	if c := <-got; !c.GetStopForce() || c.GetStopTimeoutMs() != 2000 || c.GetTimeoutMs() < (time.Minute).Milliseconds() {
		t.Errorf("stop arrived as %v (err %v)", c, err)
	}

	// A command the agent does not answer ends with the caller's deadline,
	// which the agent is told.
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err = e.disp.Execute(dctx, a.node, nodeapi.Command{Op: agentv1.Op_OP_GET, VMID: id})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(began) > time.Second {
		t.Errorf("unanswered get: %v after %s", err, time.Since(began))
	}
	if c := <-got; c.GetTimeoutMs() > 300 {
		t.Errorf("get carried timeout %dms, want at most the caller's 300ms", c.GetTimeoutMs())
	}
}

// TestAgentServerDisconnectFailsFast: a command waiting for an agent that
// goes away, and every later one, fail at once as unavailable; the API
// answers 503 for the node's VMs.
func TestAgentServerDisconnectFailsFast(t *testing.T) {
	e := startAgentServer(t, nil)
	a := dialScripted(t, e)
	a.mustConnect("n1")
	id := "aaaaaaaa-0000-4000-8000-000000000001"
	errc := make(chan error, 1)
	go func() {
		_, err := e.disp.Execute(context.Background(), a.node, nodeapi.Command{Op: agentv1.Op_OP_START, VMID: id})
		errc <- err
	}()
	m, err := a.stream.Recv() // the command arrives; the agent goes away instead of replying
	if err != nil || m.GetCommand() == nil {
		t.Fatalf("waiting for the command: %v %v", m, err)
	}
	began := time.Now()
	_ = a.conn.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, nodeapi.ErrNodeUnavailable) {
			t.Errorf("pending command: %v; want nodeapi.ErrNodeUnavailable", err)
		}
	case <-time.After(time.Second):
		t.Fatal("the pending command did not fail within 1s of the agent leaving")
	}
	t.Logf("pending command failed %s after the agent left", time.Since(began))
	wait.Until(t, time.Second, "the node unregistered", func() bool { return len(e.disp.Connected()) == 0 })
	wait.Until(t, time.Second, "the handler told", func() bool { _, d := e.rec.snapshot(); return len(d) == 1 })
	if _, disconnected := e.rec.snapshot(); disconnected[0] != a.node {
		t.Errorf("disconnected = %v, want [%s]", disconnected, a.node)
	}

	// Through the service, as the API calls it.
	st := teststore.Open(t, "sqlite")
	svc, err := controlplane.New(controlplane.Options{Store: st, Executor: e.disp, Logger: testlog.New(t, hclog.Warn)})
	if err != nil {
		t.Fatal(err)
	}
	v := &vm.VM{ID: id, Name: "far", Origin: vm.OriginControlPlane, IsManaged: true, State: vm.StateStopped, NodeID: a.node,
		DesiredState: vm.DesiredStopped, RestartPolicy: vm.RestartNever, Spec: vm.Spec{VCPUs: 1, MemoryMiB: 64}}
	if err := st.VMs().Create(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	_, err = svc.Start(context.Background(), "far")
	if controlplane.KindOf(err) != controlplane.KindUnavailable || time.Since(began) > time.Second {
		t.Errorf("start on the disconnected node: kind %v after %s: %v; want unavailable at once", controlplane.KindOf(err), time.Since(began), err)
	}
}

// TestAgentServerMissedHeartbeats: an agent silent for three heartbeat
// intervals is cut off though its connection stays open.
func TestAgentServerMissedHeartbeats(t *testing.T) {
	e := startAgentServer(t, nil)
	a := dialScripted(t, e)
	if err := a.register("n1", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := a.attach(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err := a.stream.Recv()
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "heartbeat") {
		t.Fatalf("silent session ended with %v", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("cut off after %s", took)
	}
	wait.Until(t, time.Second, "the node unregistered", func() bool { return len(e.disp.Connected()) == 0 })
}

func TestAgentServerRefusesBadRequests(t *testing.T) {
	e := startAgentServer(t, nil)
	a := dialScripted(t, e)
	client, err := a.clientFor("n1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Register(context.Background(), &agentv1.RegisterRequest{NodeName: "n1"})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("register without a protocol version: %v", err)
	}
	// The node is the certificate's: a request naming another is refused,
	// one naming none registers the certificate's node.
	_, err = client.Register(context.Background(), &agentv1.RegisterRequest{ProtocolVersion: agentv1.ProtocolVersion_PROTOCOL_VERSION_1, NodeName: "n2"})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), `certificate is for node "n1", not "n2": set agent.node_name to "n1"`) {
		t.Errorf("register as another node than the certificate's: %v", err)
	}
	if _, err = client.Register(context.Background(), &agentv1.RegisterRequest{ProtocolVersion: agentv1.ProtocolVersion_PROTOCOL_VERSION_1}); err != nil {
		t.Errorf("register without a node name: %v", err)
	} else if got := e.rec.regs[0].NodeName; got != "n1" {
		t.Errorf("registered node %q, want the certificate's n1", got)
	}
	a.client = client
	a.node, a.session = "nowhere", "nothing"
	if err := a.attach(); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("attaching an unknown session: %v", err)
	}
}

func TestAgentServerCloseEndsSessions(t *testing.T) {
	e := startAgentServer(t, nil)
	a := dialScripted(t, e)
	a.mustConnect("n1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("session at close ended with %v; want Unavailable", err)
	}
	if len(e.disp.Connected()) != 0 {
		t.Error("the node is still connected after Close")
	}
}
