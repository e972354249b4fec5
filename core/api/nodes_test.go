package api

import (
	"testing"
)

// TestNodeAddresses: a node shows the address its agent connects from and,
// beside it, the one the agent claims.
func TestNodeAddresses(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	n := e.do(t, "GET", "/api/nodes/api-test", "")
	n.want(t, 200, "")
	if n.str("address") != "127.0.0.1" || n.str("claimed_address") != "127.0.0.1" {
		t.Errorf("node addresses: %s", n.raw)
	}
}
