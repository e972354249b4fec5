package agentserver

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

// TestAgentServerRefusesBadNodeNames: node names follow the rules of VM
// names; a bad one is refused with InvalidArgument naming the field and
// the rule, and never reaches the handler.
func TestAgentServerRefusesBadNodeNames(t *testing.T) {
	e := startAgentServer(t, nil)
	a := dialScripted(t, e)
	for _, tc := range []struct{ name, want string }{
		{strings.Repeat("n", 5000), "node_name: 5000 characters, at most 64 allowed"},
		{"../../etc/x y", `node_name: "../../etc/x y" may only contain letters, digits, '.', '_' and '-'`},
		{"..", `node_name: ".." is not a valid name`},
		{" n1", "may only contain"},
	} {
		err := a.register(tc.name, time.Minute)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "agent.node_name") {
			t.Errorf("register %.20q: %v; want InvalidArgument containing %q and agent.node_name", tc.name, err, tc.want)
		}
	}
	e.rec.mu.Lock()
	regs := len(e.rec.regs)
	e.rec.mu.Unlock()
	if regs != 0 {
		t.Errorf("%d refused registrations reached the handler", regs)
	}
	if err := a.register("rack1-node.07_b", time.Minute); err != nil {
		t.Errorf("a valid name refused: %v", err)
	}
}

// TestAgentServerRecordsPeerAddress: the node's address is the one the
// server sees the agent connect from; the one the agent claims is kept
// beside it, and a claimed address that is no address is refused.
func TestAgentServerRecordsPeerAddress(t *testing.T) {
	e := startAgentServer(t, nil)
	a := dialScripted(t, e)
	req := func(name, addr string) *agentv1.RegisterRequest {
		return &agentv1.RegisterRequest{ProtocolVersion: agentv1.ProtocolVersion_PROTOCOL_VERSION_1, NodeName: name, Address: addr,
			Backend: &agentv1.BackendInfo{Name: "libvirt", Healthy: true}}
	}
	n1, err := a.clientFor("n1")
	if err != nil {
		t.Fatal(err)
	}
	n2, err := a.clientFor("n2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n1.Register(context.Background(), req("n1", "203.0.113.9")); err != nil {
		t.Fatal(err)
	}
	e.rec.mu.Lock()
	got := e.rec.regs[0]
	e.rec.mu.Unlock()
	if got.Address != "127.0.0.1" || got.ClaimedAddress != "203.0.113.9" {
		t.Errorf("registration address %q, claimed %q; want 127.0.0.1 (the peer) and 203.0.113.9", got.Address, got.ClaimedAddress)
	}
	for _, tc := range []struct{ addr, want string }{
		{strings.Repeat("1", 300), "address: 300 characters, at most 255 allowed"},
		{"../../etc/x y", `address: "../../etc/x y" may only contain letters, digits`},
	} {
		_, err := n2.Register(context.Background(), req("n2", tc.addr))
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("claimed address %.20q: %v; want InvalidArgument containing %q", tc.addr, err, tc.want)
		}
	}
}
