package agent_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/quantixvm/quantix/core/agent"
	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/wait"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

// refusingServer enrolls agents (over TLS, with the test cluster's CA)
// but answers every Register with one status and counts the attempts: it
// stands for a server whose rules the agent's registration does not meet.
type refusingServer struct {
	agentv1.UnimplementedAgentServiceServer
	ca       *pki.CA
	refusal  error
	attempts atomic.Int64
	addr     string
}

func (s *refusingServer) Enroll(_ context.Context, req *agentv1.EnrollRequest) (*agentv1.EnrollResponse, error) {
	der, err := s.ca.SignClientCSR(req.GetCsr(), req.GetNodeName(), time.Hour)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &agentv1.EnrollResponse{Certificate: der, CaCertificate: s.ca.Certificate().Raw}, nil
}

func (s *refusingServer) Register(context.Context, *agentv1.RegisterRequest) (*agentv1.RegisterResponse, error) {
	s.attempts.Add(1)
	return nil, s.refusal
}

func startRefusingServer(t *testing.T, refusal error) *refusingServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := clusterOf(t)
	s := &refusingServer{ca: c.ca, refusal: refusal, addr: ln.Addr().String()}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{c.cert}, ClientCAs: c.ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven})))
	agentv1.RegisterAgentServiceServer(g, s)
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	return s
}

// TestAgentStopsRetryingAnInvalidRegistration: a registration the server
// refuses as invalid will not become valid by retrying, so the agent says
// so and waits long instead of retrying at its backoff.
func TestAgentStopsRetryingAnInvalidRegistration(t *testing.T) {
	srv := startRefusingServer(t, status.Error(codes.InvalidArgument, "node_name: \"x\" is not a valid name: set agent.node_name to a valid name"))
	b := testlibvirt.LaunchTestDriver(t)
	a := runAgent(t, agent.Config{Servers: []string{srv.addr}, Backend: b, MaxBackoff: 100 * time.Millisecond})
	wait.Until(t, 5*time.Second, "the agent sees the refusal", func() bool { return a.Status().LastError != nil })
	err := a.Status().LastError
	for _, want := range []string{"agent.node_name", "refused as invalid", "fix the agent's configuration"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("agent's error: %v; want it to contain %q", err, want)
		}
	}
	// At a 100ms backoff a second would see several attempts.
	wait.Stays(t, time.Second, "one registration attempt", func() bool { return srv.attempts.Load() == 1 })
}

// TestAgentBacksOffWhenLimited: a server limiting new nodes answers
// ResourceExhausted; the agent says so and keeps trying at its longest
// backoff.
func TestAgentBacksOffWhenLimited(t *testing.T) {
	srv := startRefusingServer(t, status.Error(codes.ResourceExhausted, "too many new nodes registering"))
	b := testlibvirt.LaunchTestDriver(t)
	a := runAgent(t, agent.Config{Servers: []string{srv.addr}, Backend: b, MaxBackoff: 200 * time.Millisecond})
	wait.Until(t, 5*time.Second, "the agent retries", func() bool { return srv.attempts.Load() >= 2 })
	if err := a.Status().LastError; err == nil || !strings.Contains(err.Error(), "limiting registrations of new nodes") {
		t.Errorf("agent's error: %v; want it to say the server limits new nodes", err)
	}
}

// TestAgentRefusesBadNodeName: the agent's own configuration refuses a
// node name the server would refuse.
func TestAgentRefusesBadNodeName(t *testing.T) {
	b := testlibvirt.LaunchTestDriver(t)
	_, err := agent.New(withIdentity(t, agent.Config{NodeName: "../../etc/x y", Servers: []string{"127.0.0.1:1"}, Backend: b}))
	if err == nil || !strings.Contains(err.Error(), `agent.node_name: "../../etc/x y" may only contain letters, digits`) {
		t.Errorf("agent.New with a bad node name: %v", err)
	}
}
