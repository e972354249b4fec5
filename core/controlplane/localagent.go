package controlplane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/store"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
)

// LocalAgentConfig configures a LocalAgent.
type LocalAgentConfig struct {
	// Store is where the node registers.
	Store store.Store
	// Backend drives this host (the supervised backend plugin).
	Backend backend.Backend
	// NodeName names this host in the inventory.
	NodeName string
	// HeartbeatInterval is how often the node record is refreshed with the
	// backend's health.
	HeartbeatInterval time.Duration
	// Logger receives the agent's log; nil discards.
	Logger hclog.Logger
}

// LocalAgent is the node agent of `quantixd dev`: it runs in the daemon,
// registers its host as a node (host info from the backend's HostInfo,
// backend health from its Health), refreshes that record every heartbeat
// and executes commands on the backend directly. It is an Executor for its
// own node only.
type LocalAgent struct {
	store    store.Store
	backend  backend.Backend
	log      hclog.Logger
	interval time.Duration

	mu     sync.Mutex
	node   node.Node
	closed bool

	cancel context.CancelFunc
	done   chan struct{}
}

var _ Executor = (*LocalAgent)(nil)

// StartLocalAgent registers the node and starts its heartbeat. The node
// keeps its id across restarts: a node of the same name is reused.
func StartLocalAgent(ctx context.Context, cfg LocalAgentConfig) (*LocalAgent, error) {
	if cfg.Store == nil || cfg.Backend == nil || cfg.NodeName == "" {
		return nil, errors.New("local agent: a store, a backend and a node name are required")
	}
	if cfg.HeartbeatInterval <= 0 {
		return nil, fmt.Errorf("local agent: heartbeat interval %s must be positive", cfg.HeartbeatInterval)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	a := &LocalAgent{store: cfg.Store, backend: cfg.Backend, log: logger.Named("agent"), interval: cfg.HeartbeatInterval, done: make(chan struct{})}
	id := uuid.NewString()
	if n, err := cfg.Store.Nodes().GetByName(ctx, cfg.NodeName); err == nil {
		id = n.ID
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("local agent: looking up node %q: %w", cfg.NodeName, err)
	}
	info, err := cfg.Backend.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("local agent: asking the backend who it is: %w", err)
	}
	host, err := cfg.Backend.HostInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("local agent: asking the backend about the host: %w", err)
	}
	a.node = node.Node{
		ID:      id,
		Name:    cfg.NodeName,
		State:   node.StateReady,
		Address: "local",
		Host: node.HostInfo{
			Hostname: host.Hostname, CPUs: host.CPUs, MemoryMiB: host.MemoryMiB, Arch: host.Arch,
			Hypervisor: host.Hypervisor, HypervisorVersion: host.HypervisorVersion, KVMUsable: host.KVMUsable,
		},
		Backend: node.Backend{Name: info.Name, Version: info.Version},
	}
	if err := a.heartbeat(ctx); err != nil {
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go a.loop(loopCtx)
	a.log.Info("node registered", "node", a.node.Name, "id", id, "backend", info.Name, "hypervisor", host.Hypervisor, "kvm", host.KVMUsable)
	return a, nil
}

// NodeID is the id of the agent's node.
func (a *LocalAgent) NodeID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.node.ID
}

// heartbeat stores the node READY, with the backend's health now.
func (a *LocalAgent) heartbeat(ctx context.Context) error {
	health := node.Backend{}
	a.mu.Lock()
	health.Name, health.Version = a.node.Backend.Name, a.node.Backend.Version
	a.mu.Unlock()
	health.Healthy = true
	if hc, ok := a.backend.(backend.HealthChecker); ok {
		if err := hc.Health(ctx); err != nil {
			health.Healthy, health.Error = false, err.Error()
		}
	}
	now := time.Now()
	a.mu.Lock()
	a.node.State = node.StateReady
	a.node.Backend = health
	a.node.LastHeartbeat = &now
	n := a.node
	a.mu.Unlock()
	if err := a.store.Nodes().Upsert(ctx, &n); err != nil {
		return fmt.Errorf("local agent: registering node %q: %w", n.Name, err)
	}
	return nil
}

func (a *LocalAgent) loop(ctx context.Context) {
	defer close(a.done)
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			hctx, cancel := context.WithTimeout(ctx, a.interval+10*time.Second)
			if err := a.heartbeat(hctx); err != nil && ctx.Err() == nil {
				a.log.Warn("heartbeat failed", "error", err)
			}
			cancel()
		}
	}
}

// Connected lists the agent's node until Close.
func (a *LocalAgent) Connected() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	return []string{a.node.ID}
}

// Execute runs cmd on the backend.
func (a *LocalAgent) Execute(ctx context.Context, nodeID string, cmd Command) (*Result, error) {
	a.mu.Lock()
	own, closed := a.node.ID, a.closed
	a.mu.Unlock()
	if closed || nodeID != own {
		return nil, fmt.Errorf("node %s: not served by this agent: %w", nodeID, ErrNodeUnavailable)
	}
	b := a.backend
	var (
		res Result
		err error
	)
	switch cmd.Op {
	case agentv1.Op_OP_CREATE:
		if cmd.Spec == nil {
			return nil, errors.New("create: no spec")
		}
		res.VM, err = b.CreateVM(ctx, *cmd.Spec)
	case agentv1.Op_OP_GET:
		res.VM, err = b.GetVM(ctx, cmd.VMID)
	case agentv1.Op_OP_START:
		res.VM, err = b.StartVM(ctx, cmd.VMID)
	case agentv1.Op_OP_STOP:
		res.VM, err = b.StopVM(ctx, cmd.VMID, cmd.Stop)
	case agentv1.Op_OP_REBOOT:
		res.VM, err = b.RebootVM(ctx, cmd.VMID)
	case agentv1.Op_OP_PAUSE:
		res.VM, err = b.PauseVM(ctx, cmd.VMID)
	case agentv1.Op_OP_RESUME:
		res.VM, err = b.ResumeVM(ctx, cmd.VMID)
	case agentv1.Op_OP_DELETE:
		err = b.DeleteVM(ctx, cmd.VMID, cmd.Delete)
	case agentv1.Op_OP_TAIL_LOG:
		res.Log, err = b.TailLog(ctx, cmd.VMID, cmd.Lines)
	default:
		return nil, fmt.Errorf("unknown command %q", cmd.Op)
	}
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// Close stops the heartbeat and marks the node UNREACHABLE: commands are no
// longer taken. The backend is not closed; its owner closes it.
func (a *LocalAgent) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	a.cancel()
	<-a.done
	a.mu.Lock()
	a.node.State = node.StateUnreachable
	n := a.node
	a.mu.Unlock()
	if err := a.store.Nodes().Upsert(ctx, &n); err != nil {
		return fmt.Errorf("local agent: marking node %q unreachable: %w", n.Name, err)
	}
	return nil
}
