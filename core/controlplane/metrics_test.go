package controlplane

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
)

// TestHeartbeatHashMismatchMetric: a heartbeat whose hash differs from the
// database's is counted; one that matches is not.
func TestHeartbeatHashMismatchMetric(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	ctx := context.Background()
	a := e.register(t, "node-a", 0)
	e.seedAll(t, rec(u1, "running", vm.StateRunning, a, true))
	healthy := node.Backend{Name: "libvirt", Version: "test", Healthy: true}
	beat := func(view map[string]vm.State) {
		t.Helper()
		if _, err := e.rec.Heartbeat(ctx, a, nodeapi.HeartbeatReport{StateHash: vm.StateHash(view), VMCount: len(view), Backend: healthy}); err != nil {
			t.Fatal(err)
		}
	}
	mismatches := func() float64 { return testutil.ToFloat64(e.rec.Collector()) }
	beat(map[string]vm.State{u1: vm.StateRunning})
	if got := mismatches(); got != 0 {
		t.Errorf("after a matching heartbeat: %v mismatches, want 0", got)
	}
	beat(map[string]vm.State{u1: vm.StateStopped})
	beat(map[string]vm.State{})
	if got := mismatches(); got != 2 {
		t.Errorf("after two heartbeats that differ: %v mismatches, want 2", got)
	}
	beat(map[string]vm.State{u1: vm.StateRunning})
	if got := mismatches(); got != 2 {
		t.Errorf("after a matching heartbeat again: %v mismatches, want 2", got)
	}
}

// TestInventoryCollector: VMs by node name and state, nodes by state, read
// once per maxAge however often scraped, and not before 20 times as long as
// the last reading took; a failed reading serves the last counts and is
// counted.
func TestInventoryCollector(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver, false)
		clk := newClock()
		a, b := e.register(t, "node-a", 0), e.register(t, "node-b", 0)
		e.seedAll(t,
			rec(u1, "one", vm.StateRunning, a, true),
			rec(u2, "two", vm.StateRunning, a, true),
			rec(u3, "three", vm.StateStopped, b, true),
			rec(u4, "gone", vm.StateTerminated, b, true),
		)
		if err := e.store.Nodes().UpdateStatus(context.Background(), b, store.NodeStatus{State: node.StateUnreachable}); err != nil {
			t.Fatal(err)
		}
		c := e.svc.InventoryCollector(time.Minute).(*inventoryCollector)
		c.now = clk.Now
		want := func(exp string) {
			t.Helper()
			if err := testutil.CollectAndCompare(c, strings.NewReader(exp), "quantix_vms", "quantix_nodes", "quantix_inventory_read_errors_total"); err != nil {
				t.Error(err)
			}
		}
		const head = `
# HELP quantix_inventory_read_errors_total Readings of the inventory counts for quantix_vms and quantix_nodes that failed; the last counts read are served meanwhile.
# TYPE quantix_inventory_read_errors_total counter
quantix_inventory_read_errors_total %s
# HELP quantix_nodes Nodes in the inventory, by liveness state (READY, UNREACHABLE, MAINTENANCE).
# TYPE quantix_nodes gauge
quantix_nodes{state="MAINTENANCE"} 0
quantix_nodes{state="READY"} 1
quantix_nodes{state="UNREACHABLE"} 1
# HELP quantix_vms VM records in the inventory, by node name (empty for a VM on no node) and state; every server of a cluster reports the same counts.
# TYPE quantix_vms gauge
quantix_vms{node="node-a",state="RUNNING"} 2
quantix_vms{node="node-b",state="STOPPED"} 1
quantix_vms{node="node-b",state="TERMINATED"} 1
`
		first := strings.Replace(head, "%s", "0", 1)
		want(first)
		// Within maxAge the counts are not read again.
		e.seedAll(t, rec(u5, "five", vm.StateRunning, a, true))
		want(first)
		clk.Advance(time.Minute)
		want(strings.Replace(strings.Replace(head, "%s", "0", 1), `state="RUNNING"} 2`, `state="RUNNING"} 3`, 1))

		// A reading that took long is not repeated before 20 times as long
		// has passed.
		c.took = time.Minute
		e.seedAll(t, rec(u6, "six", vm.StateRunning, a, true))
		clk.Advance(10 * time.Minute)
		want(strings.Replace(strings.Replace(head, "%s", "0", 1), `state="RUNNING"} 2`, `state="RUNNING"} 3`, 1))
		clk.Advance(10 * time.Minute)
		want(strings.Replace(strings.Replace(head, "%s", "0", 1), `state="RUNNING"} 2`, `state="RUNNING"} 4`, 1))

		// A reading that fails serves the last counts.
		c.store = failingNodes{e.store}
		clk.Advance(time.Minute)
		want(strings.Replace(strings.Replace(head, "%s", "1", 1), `state="RUNNING"} 2`, `state="RUNNING"} 4`, 1))
		problems, err := testutil.CollectAndLint(c)
		if err != nil || len(problems) > 0 {
			t.Errorf("lint: %v %v", err, problems)
		}
	})
}

// failingNodes is a store whose node list fails.
type failingNodes struct{ store.Store }

func (f failingNodes) Nodes() store.NodeRepo { return failingNodeRepo{f.Store.Nodes()} }

type failingNodeRepo struct{ store.NodeRepo }

func (failingNodeRepo) List(context.Context) ([]*node.Node, error) {
	return nil, errors.New("connection refused")
}
