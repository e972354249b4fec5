package agent_test

import (
	"context"
	"testing"

	"github.com/quantixvm/quantix/core/agent"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/internal/testid"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// TestAgentRunsRequestOnce: a command repeating a request the agent ran
// gets the first run's reply and runs nothing (a second create of the same
// request makes no second VM and meets no name conflict); a request id
// reused for another command is refused naming request_id; commands
// without a request id, or with a new one, run every time.
func TestAgentRunsRequestOnce(t *testing.T) {
	srv, b, a := connected(t, agent.Config{})
	ctx := context.Background()
	node := a.Status().NodeID
	s := spec("req-" + testid.Hex(3))
	create := nodeapi.Command{Op: agentv1.Op_OP_CREATE, Spec: &s, RequestID: "req-create-" + testid.Hex(4)}
	first, err := srv.disp.Execute(ctx, node, create)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	again, err := srv.disp.Execute(ctx, node, create)
	if err != nil {
		t.Fatalf("the create repeated with its request id: %v; want the first run's reply", err)
	}
	if again.VM == nil || again.VM.ID != first.VM.ID || !again.ObservedAt.Equal(first.ObservedAt) {
		t.Fatalf("the repeated create answered %+v at %s, want the first run's %+v at %s", again.VM, again.ObservedAt, first.VM, first.ObservedAt)
	}
	list, err := b.ListVMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, x := range list {
		if x.Name == s.Name {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d vms named %s on the host after a create sent twice with one request id, want 1", n, s.Name)
	}

	_, err = srv.disp.Execute(ctx, node, nodeapi.Command{Op: agentv1.Op_OP_START, VMID: first.VM.ID, RequestID: create.RequestID})
	if plugin.FieldOf(err) != "request_id" {
		t.Fatalf("a start reusing the create's request id: %v; want an invalid argument naming request_id", err)
	}

	// The same create without a request id (the dispatcher names a new
	// request) runs again: the host refuses the name.
	create.RequestID = ""
	if _, err := srv.disp.Execute(ctx, node, create); err == nil {
		t.Fatal("a second create of the same name as a new request succeeded; want the host's refusal")
	}
}
