// Package store keeps the inventory: VMs, nodes and VM events, in SQLite
// (embedded, pure Go) or PostgreSQL through gorm, with versioned migrations
// and optimistic concurrency on VM rows.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/vm"
)

// Errors the repositories return; test with errors.Is.
var (
	// ErrNotFound: no such record.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique constraint (VM name, id) would be violated.
	ErrConflict = errors.New("conflict")
	// ErrStale: the record changed since it was read (optimistic
	// concurrency); read it again and retry, or give up with 409.
	ErrStale = errors.New("record changed since it was read")
)

// Store is the inventory.
type Store interface {
	VMs() VMRepo
	Nodes() NodeRepo
	Events() EventRepo
	// NodeEvents returns the node changes published on the event stream.
	NodeEvents() NodeEventRepo
	// Logs returns the built-in log store.
	Logs() LogRepo
	// Auth returns the users, API tokens and sessions.
	Auth() AuthRepo
	// JoinTokens returns the join tokens agents enroll with.
	JoinTokens() JoinTokenRepo
	// NodeCerts returns the client certificates issued to nodes.
	NodeCerts() NodeCertRepo
	// Cluster returns the servers sharing the database, the leader lease
	// and who holds each node's agent session.
	Cluster() ClusterRepo
	// ClusterSecrets returns the cluster's key parameters and its CAs.
	ClusterSecrets() ClusterSecretRepo
	// Stats returns the history of VM resource statistics.
	Stats() StatsRepo
	// Tx runs fn in one transaction: every repository of the Store passed to
	// fn writes inside it; an error from fn rolls everything back. fn must
	// use the Store it is passed: SQLite has a single writer, so a write
	// through another Store waits until the transaction ends. Tx on a
	// transaction's Store runs fn within that same transaction. When ctx
	// is fenced (WithFence), the transaction first checks the leader epoch
	// and fails with ErrFenced, running nothing, if it has moved on.
	Tx(ctx context.Context, fn func(Store) error) error
	// Close closes the database.
	Close() error
}

// VMRepo stores VM records.
type VMRepo interface {
	// Create inserts v (ID set by the caller) with Version 1. A managed VM
	// whose name is taken by another managed VM that is not TERMINATED, or an
	// ID in use, is ErrConflict. On success v holds what a read returns:
	// times in UTC with microsecond precision, nil labels and spec slices
	// empty, a zero CreatedAt set to now.
	Create(ctx context.Context, v *vm.VM) error
	// Get returns the VM with id, or ErrNotFound.
	Get(ctx context.Context, id string) (*vm.VM, error)
	// GetByName returns the non-TERMINATED VM called name (managed ones
	// first), or ErrNotFound.
	GetByName(ctx context.Context, name string) (*vm.VM, error)
	// List returns one page in (created_at, id) order and the cursor of the
	// next page ("" at the end). A limit outside 0..1000, more than 32
	// label filters or a cursor List did not return is ErrInvalid.
	List(ctx context.Context, opts ListOptions) ([]*vm.VM, string, error)
	// ListByNode returns every VM placed on node, in id order.
	ListByNode(ctx context.Context, nodeID string) ([]*vm.VM, error)
	// Update writes v if its Version is still the stored one, then increments
	// v.Version; otherwise ErrStale and nothing is written. ErrNotFound if
	// the VM is gone. CreatedAt is never rewritten; UpdatedAt becomes now.
	Update(ctx context.Context, v *vm.VM) error
	// Delete removes the record (and its labels and events); ErrNotFound if
	// absent.
	Delete(ctx context.Context, id string) error

	// CreateMany inserts vms as Create does each, in one statement per
	// few hundred rows: all or, on any error (ErrConflict when an id or a
	// managed name is taken), none.
	CreateMany(ctx context.Context, vms []*vm.VM) error
	// UpdateStatus writes only the status fields of v (node, state,
	// last_known_state, state_changed_at, last_seen, observed_at,
	// lost_reason, lost_at, message) and desired_state, which the restart policy moves as a
	// consequence of what a host reports; never the spec, name, labels,
	// origin or is_managed. Versions work as in Update.
	UpdateStatus(ctx context.Context, v *vm.VM) error
	// GetMany returns the VMs with the given ids that exist, in id order.
	GetMany(ctx context.Context, ids []string) ([]*vm.VM, error)
	// StatesByNode returns the id, state and last known state of every VM
	// placed on node, in id order: the little a heartbeat compares.
	StatesByNode(ctx context.Context, nodeID string) ([]VMState, error)
	// CountByNode returns, per node id, how many VMs that are not
	// TERMINATED are placed on it.
	CountByNode(ctx context.Context) (map[string]int, error)
	// CountByNodeState counts the VM records of every state per node, in
	// one grouped query (what the inventory metrics read).
	CountByNodeState(ctx context.Context) ([]VMCount, error)
	// ListTransitional returns up to limit VMs (1..1000) in a transitional
	// state (vm.State.Transitional) that entered it before before, the
	// longest waiting first.
	ListTransitional(ctx context.Context, before time.Time, limit int) ([]*vm.VM, error)
	// ListRestartable returns up to limit (1..1000) managed VMs that are
	// STOPPED or CRASHED while their desired_state is running and their
	// restart_policy is not never: those a restart policy may want
	// started, the longest down first. Whether the policy covers the way
	// each went down is the caller's to judge.
	ListRestartable(ctx context.Context, limit int) ([]*vm.VM, error)
}

// VMState is a VM's id and power states, without the rest of the record.
type VMState struct {
	ID             string
	State          vm.State
	LastKnownState vm.State
}

// ListOptions filter and page VM lists. Zero values do not filter.
type ListOptions struct {
	State  vm.State
	NodeID string
	Origin vm.Origin
	// Labels: every key=value must match.
	Labels map[string]string
	// Search keeps the VMs whose name holds it, in any case, or whose id
	// starts with it. Its characters are literal: % and _ are no
	// wildcards. A substring cannot be looked up in an index, so a search
	// reads the VMs in list order until the page is full (at 10,000 VMs,
	// a few milliseconds when nothing matches; BenchmarkStore).
	Search string
	// Limit is the page size, 1..1000 (0 means 100).
	Limit int
	// Cursor continues after the page that returned it.
	Cursor string
}

// NodeRepo stores nodes.
type NodeRepo interface {
	// Upsert inserts or replaces the node with n.ID.
	// The first CreatedAt is kept; a name used by another node is
	// ErrConflict.
	Upsert(ctx context.Context, n *node.Node) error
	// Get returns the node with id, or ErrNotFound.
	Get(ctx context.Context, id string) (*node.Node, error)
	// GetByName returns the node called name, or ErrNotFound.
	GetByName(ctx context.Context, name string) (*node.Node, error)
	// List returns every node, in name order.
	List(ctx context.Context) ([]*node.Node, error)
	// UpdateStatus writes the liveness fields of node id (state, backend
	// health, last heartbeat) and leaves the rest; ErrNotFound if absent.
	UpdateStatus(ctx context.Context, id string, st NodeStatus) error
	// ListPage returns one page of nodes in name order and the cursor of
	// the next ("" at the end); a bad limit or cursor is ErrInvalid.
	ListPage(ctx context.Context, opts NodeListOptions) ([]*node.Node, string, error)
	// Delete removes node id and the VM records on it that are neither
	// managed nor TERMINATED; a managed VM on it that is not TERMINATED
	// is ErrConflict, an unknown id ErrNotFound.
	Delete(ctx context.Context, id string) error
	// TouchHeartbeats sets last_heartbeat of the nodes with ids to the
	// database's time now (PostgreSQL's now(), the host clock on SQLite),
	// in one statement, and returns the stored state of each node
	// touched; ids of nodes that do not exist are left out.
	TouchHeartbeats(ctx context.Context, ids []string) (map[string]node.State, error)
	// Heartbeats returns the state and last heartbeat of every node, and
	// the database's time now, read on the clock TouchHeartbeats writes
	// with: last heartbeats are compared with that time, never with a
	// server's own clock.
	Heartbeats(ctx context.Context) ([]NodeHeartbeat, time.Time, error)
}

// NodeHeartbeat is a node's stored state and last heartbeat.
type NodeHeartbeat struct {
	ID            string
	State         node.State
	LastHeartbeat *time.Time
}

// NodeListOptions page a node list.
type NodeListOptions struct {
	// Limit is the page size, 0..1000; 0 means 100.
	Limit int
	// Cursor is the cursor of the previous page.
	Cursor string
}

// NodeStatus is what node liveness changes of a node record.
type NodeStatus struct {
	State         node.State
	Backend       node.Backend
	LastHeartbeat *time.Time
}

// EventQuery selects VM events for EventRepo.Latest. Zero values do not
// filter.
type EventQuery struct {
	// VMID: the events of this VM (an id, exact).
	VMID string
	// NodeID: the events of the VMs placed on this node now.
	NodeID string
	Action string
	Cause  vm.Cause
	// Before: only events with an ID below it (paging back from the
	// oldest event of a page); 0 does not bound.
	Before int64
	Limit  int
}

// EventRepo stores VM events.
type EventRepo interface {
	// Append stores e and sets its ID; an event of a VM that does not exist
	// is ErrNotFound.
	Append(ctx context.Context, e *vm.Event) error
	// List returns the events of a VM, oldest first, with ID > afterID, at
	// most limit (0 means 100; over 1000 is ErrInvalid).
	List(ctx context.Context, vmID string, afterID int64, limit int) ([]*vm.Event, error)
	// AppendMany stores evs as Append does each, in one statement per few
	// hundred rows, and sets their IDs in order.
	AppendMany(ctx context.Context, evs []*vm.Event) error
	// Since returns the events of every VM with ID > afterID, oldest first,
	// at most limit (0 means 100; over 1000 is ErrInvalid).
	Since(ctx context.Context, afterID int64, limit int) ([]*vm.Event, error)
	// Latest returns the newest events that match q, newest first, at most
	// q.Limit (0 means 100; over 1000 is ErrInvalid). It reads an index
	// backwards (the primary key, or (vm_id, id) for one VM) and stops at
	// the limit, so its cost follows the limit, not the table's size.
	Latest(ctx context.Context, q EventQuery) ([]*vm.Event, error)
	// LastID returns the highest event id stored, 0 when there is none.
	LastID(ctx context.Context) (int64, error)
	// Restore stores events read back from the store (a VM's history moved
	// to its record under another id) under the ids they had, so that the
	// history keeps its place in the order of every VM's events. An event
	// without an id is ErrInvalid; an id in use is ErrConflict.
	Restore(ctx context.Context, evs []*vm.Event) error
}
