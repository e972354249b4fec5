package agentserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func (r *recorder) registrations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.regs)
}

// TestAgentServerBoundsNewNodes: 200 registrations of junk names in a row
// create only the default burst of nodes; the rest are refused with
// ResourceExhausted saying why, and nodes already registered still
// register again.
func TestAgentServerBoundsNewNodes(t *testing.T) {
	e := startAgentServer(t, nil)
	a := dialScripted(t, e)
	refused := 0
	began := time.Now()
	for i := range 200 {
		err := a.register(fmt.Sprintf("junk-%03d", i), time.Minute)
		switch {
		case err == nil:
		case status.Code(err) == codes.ResourceExhausted && strings.Contains(err.Error(), "too many new nodes registering from 127.0.0.1") &&
			strings.Contains(err.Error(), "nodes already registered are not limited"):
			refused++
		default:
			t.Fatalf("registration %d: %v", i, err)
		}
	}
	// The bucket refills at DefaultPeerNewNodePerSecond while the loop
	// runs: on a slow host a few more than the burst may pass.
	most := DefaultPeerNewNodeBurst + int(time.Since(began).Seconds()*DefaultPeerNewNodePerSecond) + 1
	if got := e.rec.registrations(); got < DefaultPeerNewNodeBurst || got > most || got+refused != 200 {
		t.Errorf("%d registrations reached the handler and %d were refused; want %d to %d, the rest refused", got, refused, DefaultPeerNewNodeBurst, most)
	}
	for range 5 {
		if err := a.register("junk-000", time.Minute); err != nil {
			t.Errorf("registering an existing node again: %v", err)
		}
	}
}

// TestAgentServerBoundsNewNodesInAll: the bound over all peers holds, and
// a node the inventory knows (KnownNode) is not charged.
func TestAgentServerBoundsNewNodesInAll(t *testing.T) {
	e := startAgentServer(t, nil, func(o *Options) {
		o.NewNodes = NewNodeLimit{PeerBurst: 100, TotalBurst: 2, TotalPerSecond: 0.001}
		o.KnownNode = func(_ context.Context, name string) (bool, error) { return strings.HasPrefix(name, "old-"), nil }
	})
	a := dialScripted(t, e)
	for i := range 5 {
		if err := a.register(fmt.Sprintf("old-%d", i), time.Minute); err != nil {
			t.Fatalf("a known node: %v", err)
		}
	}
	for i := range 2 {
		if err := a.register(fmt.Sprintf("new-%d", i), time.Minute); err != nil {
			t.Fatalf("new node %d within the burst: %v", i, err)
		}
	}
	err := a.register("new-2", time.Minute)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "too many new nodes registering (at most 2 at once") {
		t.Errorf("a new node over the total: %v", err)
	}
	if got := e.rec.registrations(); got != 7 {
		t.Errorf("%d registrations reached the handler, want 7", got)
	}
}
