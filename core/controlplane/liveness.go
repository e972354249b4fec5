package controlplane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/reconcile"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
)

// nodeClock is what the reconciler knows of one node's liveness. It lives in
// memory so that a heartbeat that changes nothing writes nothing: the node
// row is written when its state or backend health changes, and otherwise
// every NodeWriteInterval at most.
type nodeClock struct {
	// mu serialises the status writes of the node, so that a heartbeat and
	// the liveness check never overtake each other.
	mu       sync.Mutex
	id       string
	name     string
	interval time.Duration
	// lastBeat is the last sign of life (registration, heartbeat, report),
	// or when the clock started: deadlines count from it.
	lastBeat time.Time
	// heard is the last sign of life this process saw; zero for none.
	heard time.Time
	// state, backend and written (last_heartbeat) are as stored.
	state     node.State
	backend   node.Backend
	written   time.Time
	connected bool
}

// liveness tracks the nodes' clocks.
type liveness struct {
	r     *Reconciler
	mu    sync.Mutex
	nodes map[string]*nodeClock
	// names of the nodes, for messages: kept apart from the clocks, whose
	// locks are held across writes, so that rules judged inside a
	// transaction never wait for one.
	names map[string]string
	// beaten holds the nodes that gave a sign of life on this server since
	// their heartbeats were last written to the database (Elected).
	beaten map[string]struct{}
	// since is when this server's term of leadership began (Elected;
	// zero while it does not lead): no node is judged silent before one
	// deadline after it.
	since time.Time
}

func newLiveness(r *Reconciler) *liveness {
	return &liveness{r: r, nodes: make(map[string]*nodeClock), names: make(map[string]string), beaten: make(map[string]struct{})}
}

// alive notes, for the next write of heartbeats, that node id gave a sign
// of life here.
func (l *liveness) alive(id string) {
	if !l.r.opts.Elected {
		return
	}
	l.mu.Lock()
	l.beaten[id] = struct{}{}
	l.mu.Unlock()
}

// fromNode is the clock of a stored node, started at now.
func (l *liveness) fromNode(n *node.Node, now time.Time) *nodeClock {
	c := &nodeClock{id: n.ID, name: n.Name, interval: l.r.opts.HeartbeatInterval, lastBeat: now, state: n.State, backend: n.Backend}
	if n.LastHeartbeat != nil {
		c.written = *n.LastHeartbeat
	}
	return c
}

// clock returns the clock of node id, loading the node the first time; a
// node that never registered is an error.
func (l *liveness) clock(ctx context.Context, id string) (*nodeClock, error) {
	l.mu.Lock()
	c := l.nodes[id]
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	n, err := l.r.store.Nodes().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("node %s is not registered", id)
	}
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.nodes[id]; c != nil {
		return c, nil
	}
	c = l.fromNode(n, l.r.now())
	l.nodes[id], l.names[id] = c, n.Name
	return c, nil
}

// load starts the clock of every stored node not tracked yet: a node READY
// in the database that no agent heartbeats for becomes UNREACHABLE after
// its missed heartbeats, counted from now.
func (l *liveness) load(ctx context.Context) error {
	list, err := l.r.store.Nodes().List(ctx)
	if err != nil {
		return fmt.Errorf("loading nodes: %w", err)
	}
	now := l.r.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range list {
		if l.nodes[n.ID] == nil {
			l.nodes[n.ID], l.names[n.ID] = l.fromNode(n, now), n.Name
		}
	}
	return nil
}

// name returns the name of node id when known, else the id.
func (l *liveness) name(id string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, ok := l.names[id]; ok {
		return n
	}
	return id
}

// nodeName names node id in messages.
func (r *Reconciler) nodeName(id string) string { return r.nodes.name(id) }

// lastBeat returns the last sign of life of node id and whether its agent
// is connected, as far as this process knows.
func (l *liveness) lastBeat(id string) (time.Time, bool, bool) {
	l.mu.Lock()
	c := l.nodes[id]
	l.mu.Unlock()
	if c == nil {
		return time.Time{}, false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.heard, c.connected, true
}

// beat records a sign of life of node id and, with backend, its backend's
// health (one whose Name is empty was not reported). It writes the node row
// only when the node comes back from UNREACHABLE, when the health changed,
// or when the stored last_heartbeat is older than NodeWriteInterval.
// revived tells that the node was UNREACHABLE.
func (l *liveness) beat(ctx context.Context, id string, backend *node.Backend) (revived bool, err error) {
	c, err := l.clock(ctx, id)
	if err != nil {
		return false, err
	}
	l.alive(id)
	now := l.r.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastBeat, c.heard, c.connected = now, now, true
	st := store.NodeStatus{State: c.state, Backend: c.backend, LastHeartbeat: &now}
	var msg string
	if c.state == node.StateUnreachable {
		st.State, revived = node.StateReady, true
		msg = "the node is alive again"
	}
	if backend != nil && backend.Name != "" && *backend != c.backend {
		st.Backend = *backend
		msg = joinMsg(msg, backendMessage(c.backend, *backend))
	}
	if msg == "" && now.Sub(c.written) < l.r.opts.NodeWriteInterval {
		return false, nil
	}
	if err := l.r.store.Nodes().UpdateStatus(ctx, id, st); err != nil {
		return false, fmt.Errorf("recording a heartbeat of node %s: %w", id, err)
	}
	old := c.state
	c.state, c.backend, c.written = st.State, st.Backend, now
	if msg != "" {
		l.r.publishNode(ctx, events.NodeEvent{NodeID: id, NodeName: c.name, Time: now, Action: "heartbeat",
			OldState: old, NewState: c.state, Healthy: c.backend.Healthy, Message: msg})
	}
	return revived, nil
}

func backendMessage(old, cur node.Backend) string {
	switch {
	case cur.Healthy && !old.Healthy:
		return fmt.Sprintf("backend %s is healthy", cur.Name)
	case !cur.Healthy:
		return fmt.Sprintf("backend %s is unhealthy: %s", cur.Name, cur.Error)
	}
	return fmt.Sprintf("backend %s %s", cur.Name, cur.Version)
}

func joinMsg(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// Register records the node an agent serves: the node of that name keeps
// its id (and MAINTENANCE, when set), a new name gets a new id. The node is
// READY and its liveness clock starts now, with the agent's heartbeat
// interval. Its VMs keep their states until the agent's full sync.
func (r *Reconciler) Register(ctx context.Context, reg nodeapi.Registration) (string, error) {
	if reg.NodeName == "" {
		return "", errors.New("registering a node: empty node name")
	}
	if reg.HeartbeatInterval < 0 {
		return "", fmt.Errorf("registering node %q: negative heartbeat interval %s", reg.NodeName, reg.HeartbeatInterval)
	}
	now := r.now()
	n := &node.Node{ID: uuid.NewString(), Name: reg.NodeName, State: node.StateReady, Address: reg.Address,
		ClaimedAddress: reg.ClaimedAddress, Host: reg.Host, Backend: reg.Backend, LastHeartbeat: &now}
	var old node.State
	prev, err := r.store.Nodes().GetByName(ctx, reg.NodeName)
	switch {
	case err == nil:
		n.ID, n.CreatedAt, old = prev.ID, prev.CreatedAt, prev.State
		if prev.State == node.StateMaintenance {
			n.State = node.StateMaintenance
		}
	case !errors.Is(err, store.ErrNotFound):
		return "", fmt.Errorf("registering node %q: %w", reg.NodeName, err)
	}
	interval := reg.HeartbeatInterval
	if interval == 0 {
		interval = r.opts.HeartbeatInterval
	}
	l := r.nodes
	l.mu.Lock()
	c := l.nodes[n.ID]
	if c == nil {
		c = &nodeClock{id: n.ID}
		l.nodes[n.ID] = c
	}
	l.names[n.ID] = n.Name
	l.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := r.store.Nodes().Upsert(ctx, n); err != nil {
		return "", fmt.Errorf("registering node %q: %w", reg.NodeName, err)
	}
	c.name, c.interval, c.lastBeat, c.heard, c.connected = n.Name, interval, now, now, true
	l.alive(n.ID)
	c.state, c.backend, c.written = n.State, n.Backend, now
	msg := "registered"
	if old != "" {
		msg = fmt.Sprintf("registered again (was %s)", old)
	}
	r.publishNode(ctx, events.NodeEvent{NodeID: n.ID, NodeName: n.Name, Time: now, Action: "register",
		OldState: old, NewState: n.State, Healthy: n.Backend.Healthy, Message: msg})
	r.log.Info("node registered", "node", n.Name, "id", n.ID, "address", n.Address, "heartbeat_interval", interval)
	return n.ID, nil
}

// Disconnected records that node id's agent went away. The node stays as it
// is until its heartbeats are missed, counted from its last one.
func (r *Reconciler) Disconnected(ctx context.Context, id string) {
	c, err := r.nodes.clock(ctx, id)
	if err != nil {
		r.log.Warn("disconnect of an unknown node", "node", id, "error", err)
		return
	}
	c.mu.Lock()
	was := c.connected
	c.connected = false
	name, state, healthy := c.name, c.state, c.backend.Healthy
	deadline := c.lastBeat.Add(time.Duration(r.opts.MissedHeartbeats) * c.interval)
	c.mu.Unlock()
	if !was {
		return
	}
	r.publishNode(ctx, events.NodeEvent{NodeID: id, NodeName: name, Action: "disconnect", OldState: state, NewState: state, Healthy: healthy,
		Message: fmt.Sprintf("the agent disconnected; without a heartbeat by %s the node becomes UNREACHABLE", deadline.UTC().Format(time.RFC3339))})
}

// check makes every READY node that missed its heartbeats UNREACHABLE.
func (l *liveness) check(ctx context.Context) {
	l.mu.Lock()
	clocks := make([]*nodeClock, 0, len(l.nodes))
	for _, c := range l.nodes {
		clocks = append(clocks, c)
	}
	l.mu.Unlock()
	for _, c := range clocks {
		if ctx.Err() != nil {
			return
		}
		if err := l.expire(ctx, c); err != nil {
			l.r.log.Error("marking a silent node unreachable", "node", c.name, "id", c.id, "error", err)
		}
	}
}

// expire marks node c UNREACHABLE and its VMs UNKNOWN, in one transaction,
// if it missed its heartbeats.
func (l *liveness) expire(ctx context.Context, c *nodeClock) error {
	r := l.r
	c.mu.Lock()
	defer c.mu.Unlock()
	now := r.now()
	if c.state != node.StateReady || !now.After(c.lastBeat.Add(time.Duration(r.opts.MissedHeartbeats)*c.interval)) {
		return nil
	}
	vms, err := r.store.VMs().ListByNode(ctx, c.id)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("node %s missed %d heartbeats (none since %s): state unknown",
		c.name, r.opts.MissedHeartbeats, c.lastBeat.UTC().Format(time.RFC3339))
	rl := func(cur *vm.VM) reconcile.Verdict { return reconcile.Unreachable(cur, c.id, msg, now) }
	items := make([]item, 0, len(vms))
	for _, v := range vms {
		items = append(items, newItem(v, rl))
	}
	var out outbox
	st := store.NodeStatus{State: node.StateUnreachable, Backend: c.backend}
	if !c.written.IsZero() {
		st.LastHeartbeat = &c.written
	}
	err = r.store.Tx(ctx, func(tx store.Store) error {
		out = outbox{}
		if err := tx.Nodes().UpdateStatus(ctx, c.id, st); err != nil {
			return err
		}
		return r.writeItems(ctx, tx, items, &out)
	})
	if err != nil {
		return err
	}
	old := c.state
	c.state = node.StateUnreachable
	r.flush(ctx, &out)
	r.publishNode(ctx, events.NodeEvent{NodeID: c.id, NodeName: c.name, Time: now, Action: "unreachable",
		OldState: old, NewState: c.state, Healthy: c.backend.Healthy, Message: fmt.Sprintf("%d heartbeats missed: %d vms are UNKNOWN", r.opts.MissedHeartbeats, len(out.events))})
	r.log.Warn("node unreachable", "node", c.name, "id", c.id, "last_heartbeat", c.lastBeat, "vms_unknown", len(out.events))
	return nil
}
