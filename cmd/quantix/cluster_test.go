package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestCLIClusterStatus: quantix cluster status against a running server
// shows it alive and leading, marked as the server that answered, and
// -output json prints the API's object.
func TestCLIClusterStatus(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	host, _ := os.Hostname()
	r := d.ok(t, "cluster", "status")
	for _, want := range []string{"Leader: " + host + " (epoch ", "NAME", "HEARTBEAT", host + " *", "alive", "leader"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("cluster status does not show %q:\n%s", want, r.stdout)
		}
	}
	var st struct {
		Server  string `json:"server"`
		Servers []struct {
			ID     string `json:"id"`
			Alive  bool   `json:"alive"`
			Leader bool   `json:"leader"`
		} `json:"servers"`
		Leader *struct {
			ServerID string `json:"server_id"`
			Epoch    int64  `json:"epoch"`
		} `json:"leader"`
	}
	out := d.ok(t, "-output", "json", "cluster", "status").stdout
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("cluster status -output json is not JSON: %v\n%s", err, out)
	}
	if len(st.Servers) != 1 || st.Leader == nil || st.Leader.ServerID != st.Server || st.Servers[0].ID != st.Server ||
		!st.Servers[0].Alive || !st.Servers[0].Leader || st.Leader.Epoch < 1 {
		t.Errorf("cluster status -output json:\n%s", out)
	}
	if r := d.quantix(t, "cluster", "status", "extra"); r.code != 2 {
		t.Errorf("cluster status with an argument: %s", r)
	}
}
