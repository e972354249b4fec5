package config

import (
	"strings"
	"testing"
)

// TestAgentMetricsAddr: agent.metrics_addr is off by default, loads from
// the file and the environment, and a bad value or a misspelt key is
// refused naming it.
func TestAgentMetricsAddr(t *testing.T) {
	if Default().Agent.MetricsAddr != "" {
		t.Fatal("agent.metrics_addr is set by default; it must be off")
	}
	c, err := Parse("q.hcl", []byte("agent {\n  metrics_addr = \"127.0.0.1:9464\"\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Agent.MetricsAddr != "127.0.0.1:9464" {
		t.Errorf("agent.metrics_addr = %q", c.Agent.MetricsAddr)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	c, err = Load("", []string{"QUANTIX_AGENT_METRICS_ADDR=[::1]:9464"})
	if err != nil || c.Agent.MetricsAddr != "[::1]:9464" {
		t.Errorf("QUANTIX_AGENT_METRICS_ADDR: %q, %v", c.Agent.MetricsAddr, err)
	}
	for _, bad := range []string{`"localhost"`, `9464`} {
		c, err = Parse("q.hcl", []byte("agent {\n  metrics_addr = "+bad+"\n}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "agent.metrics_addr") || !strings.Contains(err.Error(), "host:port") {
			t.Errorf("Validate of metrics_addr %s: %v, want an error naming agent.metrics_addr and host:port", bad, err)
		}
	}
	src := "agent {\n  metric_addr = \"127.0.0.1:1\"\n}\n"
	if _, err := Parse("q.hcl", []byte(src)); err == nil || !strings.Contains(err.Error(), `An argument named "metric_addr"`) {
		t.Errorf("%q: %v, want the misspelt key refused", src, err)
	}
}
