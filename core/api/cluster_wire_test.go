package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/quantixvm/quantix/client"
)

// TestClusterReplyMatchesClient: the Go client keeps its own copy of the
// cluster status types (it depends on the standard library only, as for
// every type of the API), so a reply with every field set must decode into
// client.ClusterStatus and encode back to the same JSON: a field the API
// adds or renames without the client fails here.
func TestClusterReplyMatchesClient(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	stopped := now.Add(-time.Minute)
	reply := clusterReply{
		Server: "srv-1", Now: now, Epoch: 7,
		Servers: []clusterServerReply{{
			ID: "srv-1", Name: "a", APIAddr: "http://a:8080", RPCAddr: "a:9090", Version: "1.2.3",
			StartedAt: now.Add(-time.Hour), HeartbeatAt: now, StoppedAt: &stopped, Alive: true, Leader: true,
			Nodes: []clusterNodeReply{{ID: "node-id", Name: "node-a"}},
		}},
		Leader: &clusterLeaderReply{ServerID: "srv-1", Name: "a", Epoch: 7, AcquiredAt: now.Add(-time.Second), ExpiresAt: now.Add(5 * time.Second)},
	}
	sent, err := json.Marshal(reply)
	if err != nil {
		t.Fatal(err)
	}
	var got client.ClusterStatus
	if err := json.Unmarshal(sent, &got); err != nil {
		t.Fatalf("the client cannot decode the API's cluster status: %v", err)
	}
	back, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var want, have map[string]any
	if err := json.Unmarshal(sent, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(back, &have); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, have) {
		t.Errorf("the client's cluster status differs from the API's:\nAPI:    %s\nclient: %s", sent, back)
	}
}
