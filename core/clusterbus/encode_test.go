package clusterbus

import (
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/internal/wait"
)

// TestLongNodeMessage: a node event whose message is too long for a
// notification reaches every server with its message cut, and the rest
// intact.
func TestLongNodeMessage(t *testing.T) {
	srv := cluster(t, 2, false)
	c := collect(t, srv[1], nil)
	long := strings.Repeat("backend unhealthy: \"quoted\" é ", 600) // over 8000 bytes, escapes included
	srv[0].bus.PublishMemory(events.StreamEvent{Kind: events.StreamNode, Node: &events.NodeEvent{NodeID: "n1", NodeName: "host-1", Action: "heartbeat", Message: long}})
	got := waitKind(t, c, events.StreamNode)
	if got.Node.NodeName != "host-1" || !strings.HasSuffix(got.Node.Message, " [cut]") || !strings.HasPrefix(long, strings.TrimSuffix(got.Node.Message, " [cut]")) {
		t.Errorf("node event %q… (%d bytes)", got.Node.Message[:40], len(got.Node.Message))
	}
	if _, err := encodeMemory(memoryNote{Kind: events.StreamNode, Node: &events.NodeEvent{NodeName: strings.Repeat("x", 9000)}}); err == nil {
		t.Error("an event too long without its message was encoded")
	}
}

func waitKind(t *testing.T, c *collector, kind string) events.StreamEvent {
	t.Helper()
	return wait.Value(t, 10*time.Second, "a "+kind+" event on the stream", func() (events.StreamEvent, bool) {
		for _, ev := range c.events() {
			if ev.Kind == kind {
				return ev, true
			}
		}
		return events.StreamEvent{}, false
	})
}
