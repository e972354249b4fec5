// Package node is the node model: a host running an agent, and its
// liveness states.
package node

import "time"

// State is a node's liveness.
type State string

// The node states.
const (
	StateReady       State = "READY"
	StateUnreachable State = "UNREACHABLE"
	StateMaintenance State = "MAINTENANCE"
)

// Node is one host of the inventory.
type Node struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State State  `json:"state"`
	// Address is the address the server sees the node's agent connect
	// from.
	Address string `json:"address"`
	// ClaimedAddress is the address the agent says it has; it may differ
	// from Address behind NAT, and nothing vouches for it.
	ClaimedAddress string     `json:"claimed_address"`
	Host           HostInfo   `json:"host"`
	Backend        Backend    `json:"backend"`
	LastHeartbeat  *time.Time `json:"last_heartbeat"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// HostInfo describes the machine.
type HostInfo struct {
	Hostname          string `json:"hostname"`
	CPUs              int    `json:"cpus"`
	MemoryMiB         uint64 `json:"memory_mib"`
	Arch              string `json:"arch"`
	Hypervisor        string `json:"hypervisor"`
	HypervisorVersion string `json:"hypervisor_version"`
	KVMUsable         bool   `json:"kvm_usable"`
}

// Backend describes the node's backend plugin and its health.
type Backend struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
}
