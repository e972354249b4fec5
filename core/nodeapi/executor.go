package nodeapi

import (
	"context"
	"errors"
	"time"

	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
)

// ErrNodeUnavailable: no agent serving the node is connected, so the
// command could not be delivered. The API answers it with 503.
var ErrNodeUnavailable = errors.New("node unavailable")

// Executor delivers commands to nodes. Execute runs cmd on the backend of
// node nodeID and returns what the host reports afterwards; errors keep the
// backend's kinds (sdk/plugin: not found, conflict, invalid argument,
// unavailable), and a node no agent serves is ErrNodeUnavailable. Connected
// lists the nodes that take commands right now. Implementations are safe for
// concurrent use.
type Executor interface {
	Execute(ctx context.Context, nodeID string, cmd Command) (*Result, error)
	Connected() []string
}

// ConnectWaiter is an Executor whose nodes may be between two sessions
// for a moment, as on a server of a cluster while an agent moves from a
// stopped server to another.
type ConnectWaiter interface {
	// WaitConnected says whether node nodeID takes commands, waiting a
	// bounded time for its agent to attach again when it does not now;
	// false when it did not, or ctx ended.
	WaitConnected(ctx context.Context, nodeID string) bool
}

// Disconnecter is an Executor that can end the agent session of a node,
// as removing the node from the inventory does.
type Disconnecter interface {
	// Disconnect ends the session of node nodeID's agent, which is told
	// reason; false when no agent of the node is connected.
	Disconnect(nodeID, reason string) bool
}

// Command is one operation on a node's backend. Only the fields of its Op
// are read.
type Command struct {
	// Op is the operation, as the agent protocol declares it.
	Op agentv1.Op `json:"op"`
	// VMID is the hypervisor UUID of the VM (every op but create).
	VMID string `json:"vm_id,omitempty"`
	// Spec is the VM to define (create).
	Spec *backend.VMSpec `json:"spec,omitempty"`
	// Stop tunes stop.
	Stop backend.StopOptions `json:"stop"`
	// Delete tunes delete.
	Delete backend.DeleteOptions `json:"delete"`
	// Lines is how many log lines tail_log returns.
	Lines int `json:"lines,omitempty"`
	// Name is the VM find_by_name looks for.
	Name string `json:"name,omitempty"`
	// RequestID names the request the command carries out, the same in
	// every attempt to deliver it; empty lets the executor name it. An
	// agent runs a request once: an attempt after one that may have
	// reached the agent gets the first run's reply.
	RequestID string `json:"request_id,omitempty"`
}

// Result is what the host reports after a command.
type Result struct {
	// VM is the VM as the host sees it afterwards; nil for delete and
	// tail_log.
	VM *backend.VM `json:"vm,omitempty"`
	// Log is the tail of tail_log.
	Log *backend.LogTail `json:"log,omitempty"`
	// ObservedAt is when the host's backend answered VM, by the host's
	// clock (the clock of Change.ObservedAt); zero when the agent does not
	// say.
	ObservedAt time.Time `json:"observed_at,omitzero"`
}

// Timeout bounds how long the control plane waits for a command. A
// graceful stop may take its own timeout before the hypervisor stops the VM
// hard, so it gets that much more.
func (c Command) Timeout() time.Duration {
	switch c.Op {
	case agentv1.Op_OP_GET, agentv1.Op_OP_TAIL_LOG, agentv1.Op_OP_FIND_BY_NAME:
		return 30 * time.Second
	case agentv1.Op_OP_STOP:
		t := c.Stop.Timeout
		if t <= 0 {
			t = backend.DefaultStopTimeout
		}
		return t + time.Minute
	default:
		return 5 * time.Minute
	}
}
