package agentserver

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/quantixvm/quantix/core/nodeapi"
)

// Dispatcher is the nodeapi.Executor the control plane sends commands
// through: it routes each command to the executor registered for the
// command's node, which is the node's attached session (every session
// registers itself while attached); a node nobody registered is
// unavailable.
type Dispatcher struct {
	mu    sync.RWMutex
	nodes map[string]*registration
}

type registration struct{ exec nodeapi.Executor }

var _ nodeapi.Executor = (*Dispatcher)(nil)

// NewDispatcher returns a dispatcher with no node connected.
func NewDispatcher() *Dispatcher {
	return &Dispatcher{nodes: make(map[string]*registration)}
}

// Register routes the commands of node nodeID to e until unregister is
// called; a later Register of the same node replaces e, and the earlier
// unregister then does nothing.
func (d *Dispatcher) Register(nodeID string, e nodeapi.Executor) (unregister func()) {
	r := &registration{exec: e}
	d.mu.Lock()
	d.nodes[nodeID] = r
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		if d.nodes[nodeID] == r {
			delete(d.nodes, nodeID)
		}
		d.mu.Unlock()
	}
}

// Execute runs cmd on the executor registered for nodeID.
func (d *Dispatcher) Execute(ctx context.Context, nodeID string, cmd nodeapi.Command) (*nodeapi.Result, error) {
	d.mu.RLock()
	r := d.nodes[nodeID]
	d.mu.RUnlock()
	if r == nil {
		return nil, fmt.Errorf("node %s: no agent is connected: %w", nodeID, nodeapi.ErrNodeUnavailable)
	}
	return r.exec.Execute(ctx, nodeID, cmd)
}

// Disconnect ends the session of node nodeID when its executor can end
// one (a session of the agent server does); false when none is registered.
func (d *Dispatcher) Disconnect(nodeID, reason string) bool {
	d.mu.RLock()
	r := d.nodes[nodeID]
	d.mu.RUnlock()
	if r == nil {
		return false
	}
	dc, ok := r.exec.(nodeapi.Disconnecter)
	return ok && dc.Disconnect(nodeID, reason)
}

var _ nodeapi.Disconnecter = (*Dispatcher)(nil)

// Connected lists, sorted, the registered nodes whose executor says it
// serves them now.
func (d *Dispatcher) Connected() []string {
	d.mu.RLock()
	ids := slices.Sorted(maps.Keys(d.nodes))
	regs := make([]*registration, len(ids))
	for i, id := range ids {
		regs[i] = d.nodes[id]
	}
	d.mu.RUnlock()
	out := make([]string, 0, len(ids))
	for i, id := range ids {
		if slices.Contains(regs[i].exec.Connected(), id) {
			out = append(out, id)
		}
	}
	return out
}
