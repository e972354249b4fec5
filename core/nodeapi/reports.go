package nodeapi

import (
	"context"
	"time"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/sdk/backend"
)

// ReportHandler applies what agents push: registration, full syncs, single
// changes and heartbeats. The agent server (core/agentserver) calls it after it has
// authenticated the agent and dropped stale reports (older session or
// sequence number); every method is idempotent and applies its report in one
// transaction, by the rules of docs/reconciliation.md.
type ReportHandler interface {
	// Register records a node (created, or found by name) and returns its id.
	Register(ctx context.Context, reg Registration) (nodeID string, err error)
	// FullSync applies the complete list of VMs on a node: unknown UUIDs are
	// discovered, known ones get their status, managed VMs missing are LOST,
	// unmanaged ones missing are removed, DELETING ones missing TERMINATED.
	FullSync(ctx context.Context, nodeID string, vms []*backend.VM) error
	// Change applies one VM's change as the host's event stream saw it.
	Change(ctx context.Context, nodeID string, ch Change) error
	// Heartbeat records that the node is alive and compares the agent's
	// state hash with the database's view of the node; true asks the agent
	// for a full sync. It writes nothing when nothing changed.
	Heartbeat(ctx context.Context, nodeID string, hb HeartbeatReport) (fullSync bool, err error)
	// Disconnected tells that the node's agent stream ended. It does not
	// make the node UNREACHABLE at once: that happens when it has missed
	// its heartbeats, as for a silent agent.
	Disconnected(ctx context.Context, nodeID string)
}

// Registration is what an agent says about its node when it connects.
type Registration struct {
	NodeName string
	// Address is the address the server sees the agent connect from.
	Address string
	// ClaimedAddress is the address the agent says it has.
	ClaimedAddress string
	Host           node.HostInfo
	Backend        node.Backend
	// HeartbeatInterval is how often the agent sends heartbeats; the node
	// is UNREACHABLE once it misses three. Zero takes the handler's
	// default.
	HeartbeatInterval time.Duration
}

// Change is one VM change pushed by an agent.
type Change struct {
	// VM is the VM as the host has it now; nil when Gone.
	VM *backend.VM
	// Gone: the VM with VMID left the host.
	Gone bool
	// VMID names the VM when Gone.
	VMID string
	// Reason is the host's reason, e.g. "crashed", "shutdown".
	Reason string
	// At is when the host saw the change.
	At time.Time
	// ObservedAt is when the agent last saw the VM as VM says (or gone),
	// by the host's clock; zero when the agent does not say. A change
	// observed before the status the VM's record holds from the same host
	// is not applied (docs/reconciliation.md).
	ObservedAt time.Time
}

// HeartbeatReport is one heartbeat.
type HeartbeatReport struct {
	// StateHash is vm.StateHash over the VMs the agent sees.
	StateHash string
	// VMCount is how many VMs the agent sees.
	VMCount int
	// Backend is the backend plugin's current health; an empty Name means
	// the agent did not say, and the stored health stays.
	Backend node.Backend
}
