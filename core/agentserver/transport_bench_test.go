package agentserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/quantixvm/quantix/core/agent/nodecert"
	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/internal/testenroll"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/plugins/sim"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
	"github.com/quantixvm/quantix/sdk/backend"
)

// The scale of BenchmarkAgentTransport, as the scale benchmark's
// (core/controlplane/scaletest): QUANTIX_SCALE_AGENTS hosts of
// QUANTIX_SCALE_VMS VMs each.
const (
	transportAgents = 200
	transportVMs    = 250
)

// plainNodeKey carries the node name of a call on the plaintext transport
// of the benchmark, which has no certificate to take it from.
const plainNodeKey = "x-bench-node"

// BenchmarkAgentTransport measures what TLS with client certificates costs
// the agent port, against the same server over plaintext (which only this
// benchmark can build): the set-up of each agent's session (connection,
// handshake, Register, attaching the Session stream), and the full sync of
// every host at the scale of the scale benchmark, applied by the real
// Reconciler on SQLite, from the first full sync sent to the last applied.
// The agents speak the protocol directly, so that the figures are the
// transport's and the server's, not the agents'. Reported: set-up p50 and
// p99 and the full sync of each transport, and the ratios mTLS/plaintext.
func BenchmarkAgentTransport(b *testing.B) {
	agents, vms := envInt("QUANTIX_SCALE_AGENTS", transportAgents), envInt("QUANTIX_SCALE_VMS", transportVMs)
	var tlsRun, plainRun transportRun
	for range b.N {
		plainRun = runTransport(b, false, agents, vms)
		tlsRun = runTransport(b, true, agents, vms)
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(tlsRun.setupP(0.5)), "mtls-setup-p50-ms")
	b.ReportMetric(ms(tlsRun.setupP(0.99)), "mtls-setup-p99-ms")
	b.ReportMetric(ms(plainRun.setupP(0.5)), "plain-setup-p50-ms")
	b.ReportMetric(ms(tlsRun.setupP(0.5))/ms(plainRun.setupP(0.5)), "setup-ratio-p50")
	b.ReportMetric(tlsRun.fullSync.Seconds(), "mtls-fullsync-s")
	b.ReportMetric(plainRun.fullSync.Seconds(), "plain-fullsync-s")
	b.ReportMetric(tlsRun.fullSync.Seconds()/plainRun.fullSync.Seconds(), "fullsync-ratio")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d agents × %d vms: session set-up p50 %s p99 %s over mTLS, p50 %s p99 %s in plaintext (ratio p50 %.2f); full sync %s over mTLS, %s in plaintext (ratio %.3f)",
		agents, vms, tlsRun.setupP(0.5), tlsRun.setupP(0.99), plainRun.setupP(0.5), plainRun.setupP(0.99),
		ms(tlsRun.setupP(0.5))/ms(plainRun.setupP(0.5)), tlsRun.fullSync.Round(time.Millisecond), plainRun.fullSync.Round(time.Millisecond),
		tlsRun.fullSync.Seconds()/plainRun.fullSync.Seconds())
}

type transportRun struct {
	setups   []time.Duration
	fullSync time.Duration
}

func (r transportRun) setupP(q float64) time.Duration {
	s := slices.Clone(r.setups)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// syncCounter counts the full syncs the Reconciler applied.
type syncCounter struct {
	nodeapi.ReportHandler
	mu    sync.Mutex
	n     int
	last  time.Time
	done  chan struct{}
	want  int
	first error
}

func (c *syncCounter) FullSync(ctx context.Context, nodeID string, vms []*backend.VM) error {
	err := c.ReportHandler.FullSync(ctx, nodeID, vms)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil && c.first == nil {
		c.first = err
	}
	c.n++
	c.last = time.Now()
	if c.n == c.want {
		close(c.done)
	}
	return err
}

// runTransport starts a control plane on a fresh SQLite store and its
// agent server over mTLS or plaintext, sets up agents sessions one after
// the other, then has every agent send its full sync at once.
func runTransport(b *testing.B, mtls bool, agents, vms int) transportRun {
	b.StopTimer()
	logger := testlog.New(b, hclog.Error)
	st := teststore.Open(b, "sqlite")
	disp := NewDispatcher()
	svc, err := controlplane.New(controlplane.Options{Store: st, Executor: disp, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	counter := &syncCounter{ReportHandler: svc.Reconciler(), done: make(chan struct{}), want: agents}
	ca, cert := testenroll.TLS(b)
	token := testenroll.Token(ca, "bench")
	records := testenroll.New(token, 1<<30)
	opts := Options{Handler: counter, Dispatcher: disp, CA: ca, Certificate: cert, Enrollment: records, Logger: logger,
		NewNodes: NewNodeLimit{PeerBurst: 1 << 20, TotalBurst: 1 << 20}}
	var srv *Server
	if mtls {
		srv, err = New(opts)
	} else {
		srv, err = newServer(opts, insecure.NewCredentials(), func(ctx context.Context) (identity, bool) {
			md, _ := metadata.FromIncomingContext(ctx)
			if v := md.Get(plainNodeKey); len(v) == 1 {
				return identity{node: v[0], serial: "plain-" + v[0]}, true
			}
			return identity{}, false
		})
	}
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			b.Error(err)
		}
		<-served
	}()

	type agentConn struct {
		conn   *grpc.ClientConn
		stream grpc.BidiStreamingClient[agentv1.AgentMessage, agentv1.ServerMessage]
		sess   string
		ctx    context.Context
		sync   *agentv1.AgentMessage
	}
	conns := make([]*agentConn, agents)
	var run transportRun
	for i := range conns {
		name := fmt.Sprintf("sim-%03d", i)
		var creds credentials.TransportCredentials
		ctx := context.Background()
		if mtls {
			// Enrolling is once per node, not part of the session set-up.
			id := enrollForBench(b, ln.Addr().String(), ca.Fingerprint(), token, name)
			creds = credentials.NewTLS(nodecert.ServerTLS(id.CA, func() *tls.Certificate { return &id.Cert }))
		} else {
			if err := records.RecordCert(ctx, name, "plain-"+name, time.Now().Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
			creds = insecure.NewCredentials()
			ctx = metadata.AppendToOutgoingContext(ctx, plainNodeKey, name)
		}
		list := make([]*backendv1.VM, vms)
		for j := range list {
			vmName := fmt.Sprintf("vm-%03d-%04d", i, j)
			list[j] = backend.VMToProto(&backend.VM{ID: sim.PopulatedID(name, j), Name: vmName, State: backend.StateRunning,
				Spec: backend.VMSpec{Name: vmName, VCPUs: 1, MemoryMiB: 64}})
		}
		began := time.Now()
		conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(creds))
		if err != nil {
			b.Fatal(err)
		}
		client := agentv1.NewAgentServiceClient(conn)
		reg, err := client.Register(ctx, &agentv1.RegisterRequest{ProtocolVersion: agentv1.ProtocolVersion_PROTOCOL_VERSION_1, NodeName: name,
			Host: &backendv1.HostInfo{Hostname: name, Cpus: 1 << 10, MemoryMib: 1 << 30}, Backend: &agentv1.BackendInfo{Name: "sim", Healthy: true},
			HeartbeatIntervalMs: time.Hour.Milliseconds()})
		if err != nil {
			b.Fatalf("register %s: %v", name, err)
		}
		stream, err := client.Session(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := stream.Send(&agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Hello{Hello: &agentv1.Hello{NodeId: reg.GetNodeId(), SessionId: reg.GetSessionId()}}}); err != nil {
			b.Fatal(err)
		}
		if m, err := stream.Recv(); err != nil || m.GetWelcome() == nil {
			b.Fatalf("attaching %s: %v %v", name, m, err)
		}
		run.setups = append(run.setups, time.Since(began))
		conns[i] = &agentConn{conn: conn, stream: stream, sess: reg.GetSessionId(), ctx: ctx,
			sync: &agentv1.AgentMessage{Msg: &agentv1.AgentMessage_Report{Report: &agentv1.Report{SessionId: reg.GetSessionId(), Seq: 1,
				Body: &agentv1.Report_FullSync{FullSync: &agentv1.FullSync{Vms: list}}}}}}
	}
	defer func() {
		for _, c := range conns {
			_ = c.conn.Close()
		}
	}()

	b.StartTimer()
	began := time.Now()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			if err := c.stream.Send(c.sync); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	select {
	case <-counter.done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%d of %d full syncs applied within 10 minutes", counter.n, agents)
	}
	b.StopTimer()
	counter.mu.Lock()
	run.fullSync = counter.last.Sub(began)
	first := counter.first
	counter.mu.Unlock()
	if first != nil {
		b.Fatalf("applying a full sync: %v", first)
	}
	counts, err := st.VMs().CountByNode(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	sum := 0
	for _, n := range counts {
		sum += n
	}
	if sum != agents*vms {
		b.Fatalf("%d vms in the database, want %d", sum, agents*vms)
	}
	return run
}

// enrollForBench enrolls node with token over the agent port at addr.
func enrollForBench(b *testing.B, addr, fp, token, node string) *nodecert.Identity {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(nodecert.PinnedTLS(fp, nil))))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	key, csr, err := nodecert.NewRequest(node)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := agentv1.NewAgentServiceClient(conn).Enroll(context.Background(), &agentv1.EnrollRequest{JoinToken: token, NodeName: node, Csr: csr})
	if err != nil {
		b.Fatal(err)
	}
	id, err := nodecert.Save(b.TempDir(), key, resp.GetCertificate(), resp.GetCaCertificate())
	if err != nil {
		b.Fatal(err)
	}
	return id
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
