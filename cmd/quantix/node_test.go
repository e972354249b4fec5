package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
)

// TestCLINodeRemove: quantix node remove against `quantixd dev`: the
// node's certificates are revoked, its agent's session ends at once and
// the node is removed. -force is given because the host's libvirt may
// hold VMs other tests made, whose records go with the node.
func TestCLINodeRemove(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	nodeName := strings.TrimSpace(d.ok(t, "node", "list", "-q").stdout)
	oldID, _ := d.apiGet(t, "/api/nodes/"+nodeName)["id"].(string)
	d.steps(t, "", []step{
		{args: []string{"node", "remove"}, code: 2, stderr: []string{"missing NAME", "usage: quantix node remove"}},
		{args: []string{"node", "remove", "-h"}, code: 0, stdout: []string{"DELETE /api/nodes/{id}", "revokes the node's", "-force"}},
		{args: []string{"node", "remove", "no-such-node"}, code: 1, stderr: []string{`node "no-such-node" not found`}},
		{args: []string{"node", "remove", "-force", nodeName}, code: 0, stdout: []string{"node " + nodeName + " removed"}},
	})
	wait.Until(t, 20*time.Second, "the daemon ends the session of the removed node", func() bool {
		b, err := os.ReadFile(d.log)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "session ended") && strings.Contains(line, oldID) && strings.Contains(line, "certificates revoked") {
				return true
			}
		}
		return false
	})
	if r := d.quantix(t, "node", "show", oldID); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("node show of the removed id: %s", r)
	}
}
