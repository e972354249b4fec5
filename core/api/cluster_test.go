package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/cluster"
	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/teststore"
	"github.com/quantixvm/quantix/internal/wait"
)

// lossyCluster is a running cluster membership whose database can be
// declared lost, as Healthy reports it when the server cannot reach it.
type lossyCluster struct {
	*cluster.Cluster
	lost atomic.Bool
}

func (c *lossyCluster) Healthy() bool { return !c.lost.Load() && c.Cluster.Healthy() }

// TestClusterStatusAndLostDatabase: GET /api/cluster shows this server,
// leading, with the node whose session it holds; while the server has lost
// its database, writes answer 503 naming it and reads still work.
func TestClusterStatusAndLostDatabase(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			var lc *lossyCluster
			e := newEnvWith(t, driver, false, controlplane.ReconcilerOptions{}, 0, func(e *env, o *Options) {
				c, err := cluster.New(cluster.Options{Store: e.store, Name: "api-server", APIAddr: "https://api-server:8080",
					RPCAddr: "api-server:8081", Version: "test", Exclusive: driver == "sqlite"})
				if err != nil {
					t.Fatal(err)
				}
				lc = &lossyCluster{Cluster: c}
				o.Cluster = lc
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { defer close(done); _ = c.Run(ctx) }()
				t.Cleanup(func() { cancel(); <-done })
			})
			wait.Until(t, 10*time.Second, "the only server leads", func() bool { _, ok := lc.Leading(); return ok })
			if err := e.store.Cluster().ClaimNode(context.Background(), store.NodeSession{NodeID: "n-1", ServerID: lc.ID(), SessionID: "s-1"}); err != nil {
				t.Fatal(err)
			}
			r := e.do(t, "GET", "/api/cluster", "")
			r.want(t, http.StatusOK, "")
			var got clusterReply
			if err := json.Unmarshal([]byte(r.raw), &got); err != nil {
				t.Fatal(err)
			}
			if got.Server != lc.ID() || got.Leader == nil || got.Leader.ServerID != lc.ID() || got.Leader.Name != "api-server" ||
				got.Leader.Epoch != got.Epoch || got.Epoch < 1 || !got.Leader.ExpiresAt.After(got.Now) {
				t.Fatalf("GET /api/cluster = %s", r.raw)
			}
			if len(got.Servers) != 1 {
				t.Fatalf("servers: %s", r.raw)
			}
			sv := got.Servers[0]
			if sv.ID != lc.ID() || !sv.Alive || !sv.Leader || sv.RPCAddr != "api-server:8081" || sv.APIAddr != "https://api-server:8080" ||
				len(sv.Nodes) != 1 || sv.Nodes[0].ID != "n-1" {
				t.Fatalf("server: %+v", sv)
			}

			lc.lost.Store(true)
			e.do(t, "POST", "/api/vms", `{"name":"x","node_id":"n","spec":{"vcpus":1,"memory_mib":64}}`).
				want(t, http.StatusServiceUnavailable, "unavailable", "lost its database")
			rr := e.do(t, "DELETE", "/api/vms/whatever", "")
			rr.want(t, http.StatusServiceUnavailable, "unavailable", "lost its database")
			if rr.header.Get("Retry-After") == "" {
				t.Error("the 503 of a lost database has no Retry-After")
			}
			e.do(t, "GET", "/api/vms", "").want(t, http.StatusOK, "")
			lc.lost.Store(false)
			e.do(t, "DELETE", "/api/vms/whatever", "").want(t, http.StatusNotFound, "")
		})
	}
}
