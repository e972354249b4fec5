package agentserver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/internal/wait"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

// serving is an Executor that serves no node: what a registration holds
// once its executor stopped serving the node.
type serving struct{ nodes []string }

func (s serving) Execute(context.Context, string, nodeapi.Command) (*nodeapi.Result, error) {
	return nil, errors.New("not served")
}

func (s serving) Connected() []string { return s.nodes }

// TestDispatcher routes by node and forgets a node once unregistered or
// once its executor stops serving it.
func TestDispatcher(t *testing.T) {
	e := startAgentServer(t, nil)
	a := dialScripted(t, e)
	a.mustConnect("n1")
	ctx := context.Background()
	if got := e.disp.Connected(); len(got) != 1 || got[0] != a.node {
		t.Fatalf("connected = %v, want [%s]", got, a.node)
	}
	if _, err := e.disp.Execute(ctx, "other-node", nodeapi.Command{Op: agentv1.Op_OP_GET, VMID: "x"}); !errors.Is(err, nodeapi.ErrNodeUnavailable) {
		t.Errorf("command to an unknown node: %v", err)
	}
	unregister := e.disp.Register("second", serving{})
	if got := e.disp.Connected(); len(got) != 1 {
		t.Errorf("an executor that does not serve node second counts as connected: %v", got)
	}
	// A later registration of a node replaces the earlier; the earlier's
	// unregister then leaves it.
	again := e.disp.Register("second", serving{nodes: []string{"second"}})
	unregister()
	if got := e.disp.Connected(); len(got) != 2 || got[1] != "second" {
		t.Errorf("connected after the earlier registration's unregister = %v, want [%s second]", got, a.node)
	}
	again()
	_ = a.conn.Close()
	wait.Until(t, 5*time.Second, "the node to be forgotten once its agent left", func() bool { return len(e.disp.Connected()) == 0 })
}
