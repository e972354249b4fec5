package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
)

// TestClusterDeleteAndLogsWaitForMovingAgent: a VM delete and a log tail
// for a node between two sessions (its server stopped with SIGTERM and
// handed it over; the agent's next server is not reachable yet) wait, as
// power actions do, for the agent's next session, and succeed once it
// attaches within the move wait.
func TestClusterDeleteAndLogsWaitForMovingAgent(t *testing.T) {
	c := startFwdCluster(t, 3)
	via, first := c.Servers[0], c.Servers[1]
	// The agent's second server is via, through a relay held cut until
	// the requests wait: the agent cannot attach anywhere before.
	relay := newRelay(t, via.rpc)
	relay.Cut()
	token := via.must(t, http.StatusCreated, "POST", "/api/join-tokens", `{"uses":1}`).str("token")
	dir := t.TempDir()
	spawn(t, "agent", "-config", writeAgentConfig(t, dir, c.pluginDir), "-data-dir", dir,
		"-servers", first.rpc+",127.0.0.1:"+relay.port(), "-node-name", "qx-wait", "-join-token", token)
	nodeID := c.nodeID(t, "qx-wait", 60*time.Second)
	if h, _ := c.holder(t, nodeID); h != first {
		t.Fatalf("the node's session is on %s, want %s (the agent's first server)", serverNameOf(h), first.Name)
	}
	for _, vm := range []string{"qx-wait-logs", "qx-wait-del"} {
		via.must(t, http.StatusCreated, "POST", "/api/vms", `{"name":"`+vm+`","vcpus":1,"memory_mib":64}`)
	}
	via.must(t, http.StatusOK, "POST", "/api/vms/qx-wait-logs/start", "")

	first.stop(t)
	wait.UntilNil(t, 10*time.Second, "server "+via.Name+" to count the node disconnected", func() error {
		if r := via.call(t, "GET", "/api/nodes/qx-wait", ""); r.body["connected"] != false {
			return fmt.Errorf("%d %s", r.status, r.raw)
		}
		return nil
	})

	began := time.Now()
	logs := sendAsync(via, "GET", "/api/vms/qx-wait-logs/logs?lines=10")
	del := sendAsync(via, "DELETE", "/api/vms/qx-wait-del")
	wait.Stays(t, time.Second, "the log tail and the delete to wait for the node's next session", func() bool {
		return len(logs) == 0 && len(del) == 0
	})
	relay.Restore()
	for what, ch := range map[string]<-chan asyncAnswer{"log tail": logs, "delete": del} {
		var a asyncAnswer
		select {
		case a = <-ch:
		case <-time.After(30 * time.Second):
			t.Fatalf("the %s through %s did not answer within 30s", what, via.Name)
		}
		if what == "delete" && !strings.Contains(a.body, `"state":"TERMINATED"`) {
			t.Errorf("the delete answered %s; want the vm TERMINATED", a.body)
		}
		if a.err != nil || a.status != http.StatusOK {
			t.Errorf("the %s through %s while the agent moved: %d %v: %s; want 200", what, via.Name, a.status, a.err, a.body)
		}
		t.Logf("the %s answered %d after %s", what, a.status, time.Since(began).Round(time.Millisecond))
	}
}
