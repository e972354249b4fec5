package agentserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/quantixvm/quantix/core/nodeapi"
)

// Dispatcher is the nodeapi.Executor the control plane sends commands
// through: it routes each command to the executor registered for the
// command's node, which is the node's attached session (every session
// registers itself while attached). On a server of a cluster
// (EnableCluster), a command for a node registered nowhere here goes to
// the server holding the node's session, as the database records it; a
// node no live server holds is unavailable.
type Dispatcher struct {
	mu      sync.RWMutex
	nodes   map[string]*registration
	cluster *cluster
	// registered closes, and is replaced, at every Register: commands
	// waiting for a node's session wake up.
	registered chan struct{}
}

type registration struct{ exec nodeapi.Executor }

var _ nodeapi.Executor = (*Dispatcher)(nil)

// NewDispatcher returns a dispatcher with no node connected.
func NewDispatcher() *Dispatcher {
	return &Dispatcher{nodes: make(map[string]*registration), registered: make(chan struct{})}
}

// Register routes the commands of node nodeID to e until unregister is
// called; a later Register of the same node replaces e, and the earlier
// unregister then does nothing.
func (d *Dispatcher) Register(nodeID string, e nodeapi.Executor) (unregister func()) {
	r := &registration{exec: e}
	d.mu.Lock()
	d.nodes[nodeID] = r
	if d.registered != nil {
		close(d.registered)
	}
	d.registered = make(chan struct{})
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		if d.nodes[nodeID] == r {
			delete(d.nodes, nodeID)
		}
		d.mu.Unlock()
	}
}

// Execute runs cmd on the executor registered for nodeID, else, on a
// server of a cluster, through the server holding the node's session,
// within cmd.Timeout(); the backend's error kinds survive the forwarding.
//
// A command is delivered at most once: it names its request
// (cmd.RequestID, a new id when empty), and after an attempt that may have
// reached the agent (its session or the server it went through was lost
// before the reply) it is sent again, to the node's next session, only when
// that session's agent runs each request once, which then answers with the
// earlier run's reply.
func (d *Dispatcher) Execute(ctx context.Context, nodeID string, cmd nodeapi.Command) (*nodeapi.Result, error) {
	if cmd.RequestID == "" {
		cmd.RequestID = uuid.NewString()
	}
	d.mu.RLock()
	r, c := d.nodes[nodeID], d.cluster
	d.mu.RUnlock()
	if r != nil {
		res, err := r.exec.Execute(ctx, nodeID, cmd)
		if c == nil || !(errors.Is(err, errNotSent) || errors.Is(err, errMaybeSent)) {
			return res, err
		}
		// The session here is over or moving away: the node's next
		// session, here or on another server, gets the command (again only
		// if its agent runs each request once).
		return d.forward(ctx, c, nodeID, cmd, r.exec, err)
	}
	if c != nil {
		return d.forward(ctx, c, nodeID, cmd, nil, nil)
	}
	return nil, fmt.Errorf("node %s: no agent is connected: %w", nodeID, nodeapi.ErrNodeUnavailable)
}

// local returns the executor registered here for nodeID; nil when none.
func (d *Dispatcher) local(nodeID string) nodeapi.Executor {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if r := d.nodes[nodeID]; r != nil {
		return r.exec
	}
	return nil
}

// disconnectTimeout bounds ending a session another server holds.
const disconnectTimeout = 10 * time.Second

// Disconnect ends the session of node nodeID when its executor can end
// one (a session of the agent server does), or, on a server of a cluster,
// the session another server holds; false when none is registered.
func (d *Dispatcher) Disconnect(nodeID, reason string) bool {
	d.mu.RLock()
	r, c := d.nodes[nodeID], d.cluster
	d.mu.RUnlock()
	if r == nil {
		if c == nil {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), disconnectTimeout)
		defer cancel()
		return c.disconnect(ctx, nodeID, reason)
	}
	dc, ok := r.exec.(nodeapi.Disconnecter)
	return ok && dc.Disconnect(nodeID, reason)
}

var _ nodeapi.Disconnecter = (*Dispatcher)(nil)

// Connected lists, sorted, the registered nodes whose executor says it
// serves them now and, on a server of a cluster, the nodes other live
// servers hold a session of (as last read from the database, at most a
// refresh interval ago).
func (d *Dispatcher) Connected() []string {
	out := d.connectedHere()
	if c := d.clusterOf(); c != nil {
		if remote := c.remoteNodes(); len(remote) > 0 {
			out = append(out, remote...)
			slices.Sort(out)
			out = slices.Compact(out)
		}
	}
	return out
}

// connectedHere lists, sorted, the registered nodes whose executor says
// it serves them now.
func (d *Dispatcher) connectedHere() []string {
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
