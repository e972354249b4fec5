package agentserver

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestAgentServerRefusesBadNodeNames: node names follow the rules of VM
// names; a bad one is refused with InvalidArgument naming the field and
// the rule, and never reaches the handler.
func TestAgentServerRefusesBadNodeNames(t *testing.T) {
	e := startAgentServer(t, "", nil)
	a := dialScripted(t, e.addr, "")
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
