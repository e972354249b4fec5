package client

import (
	"encoding/json"
	"slices"
	"time"
)

// The replies below keep the JSON they were decoded from in Raw, so that a
// program can show exactly what the API sent, fields this package does not
// know included.

// VM is a virtual machine as the API shows it.
type VM struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Description    string            `json:"description"`
	Labels         map[string]string `json:"labels"`
	Origin         string            `json:"origin"`
	IsManaged      bool              `json:"is_managed"`
	NodeID         string            `json:"node_id"`
	State          string            `json:"state"`
	LastKnownState string            `json:"last_known_state"`
	DesiredState   string            `json:"desired_state"`
	RestartPolicy  string            `json:"restart_policy"`
	Spec           Spec              `json:"spec"`
	LastSeen       *time.Time        `json:"last_seen"`
	LostReason     string            `json:"lost_reason"`
	LostAt         *time.Time        `json:"lost_at"`
	Message        string            `json:"message"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`

	// Raw is the VM object as the API sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a VM and keeps the JSON in Raw.
func (v *VM) UnmarshalJSON(b []byte) error {
	type plain VM
	if err := json.Unmarshal(b, (*plain)(v)); err != nil {
		return err
	}
	v.Raw = slices.Clone(b)
	return nil
}

// Spec is what was asked of a VM.
type Spec struct {
	VCPUs     uint32   `json:"vcpus"`
	MemoryMiB uint64   `json:"memory_mib"`
	Disks     []Disk   `json:"disks"`
	NICs      []NIC    `json:"nics"`
	Boot      []string `json:"boot"`
	// Kernel, Initrd and Cmdline are a direct kernel boot: paths on the
	// VM's host and the kernel command line; empty otherwise.
	Kernel  string `json:"kernel,omitempty"`
	Initrd  string `json:"initrd,omitempty"`
	Cmdline string `json:"cmdline,omitempty"`
}

// Disk is a disk of a VM. In a create request, the host decides Path.
type Disk struct {
	Name      string `json:"name,omitempty"`
	SizeGiB   uint64 `json:"size_gib,omitempty"`
	BaseImage string `json:"base_image,omitempty"`
	// Bus is virtio (the default), sata, scsi or ide.
	Bus string `json:"bus,omitempty"`
	// Path is where the host keeps the disk; replies only.
	Path string `json:"path,omitempty"`
}

// NIC is a network interface of a VM.
type NIC struct {
	// Type is network, bridge or user.
	Type string `json:"type"`
	// Source is the network or bridge name.
	Source string `json:"source,omitempty"`
	MAC    string `json:"mac,omitempty"`
	Model  string `json:"model,omitempty"`
}

// VMPage is one page of GET /api/vms.
type VMPage struct {
	VMs []VM `json:"vms"`
	// NextCursor fetches the next page; empty on the last one.
	NextCursor string `json:"next_cursor"`
}

// CreateVMRequest is the body of POST /api/vms.
type CreateVMRequest struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	VCPUs       int64             `json:"vcpus"`
	MemoryMiB   int64             `json:"memory_mib"`
	Disks       []DiskRequest     `json:"disks,omitempty"`
	NICs        []NIC             `json:"nics,omitempty"`
	Boot        []string          `json:"boot,omitempty"`
	// Kernel boots the VM directly from a kernel on its host (an absolute
	// path) with an optional Initrd and kernel command line Cmdline.
	Kernel        string `json:"kernel,omitempty"`
	Initrd        string `json:"initrd,omitempty"`
	Cmdline       string `json:"cmdline,omitempty"`
	RestartPolicy string `json:"restart_policy,omitempty"`
	NodeID        string `json:"node_id,omitempty"`
}

// PatchVMRequest is a PATCH of a VM's direct kernel boot: a nil field
// stays as it is, an empty string clears it.
type PatchVMRequest struct {
	Kernel  *string `json:"kernel,omitempty"`
	Initrd  *string `json:"initrd,omitempty"`
	Cmdline *string `json:"cmdline,omitempty"`
}

// DiskRequest is a disk of a create request.
type DiskRequest struct {
	Name      string `json:"name,omitempty"`
	SizeGiB   uint64 `json:"size_gib,omitempty"`
	BaseImage string `json:"base_image,omitempty"`
	Bus       string `json:"bus,omitempty"`
}

// ActionResult is the reply of a power action, reset_state, adopt and
// delete.
type ActionResult struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	VM      *VM    `json:"vm"`

	// Raw is the reply as the API sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a reply and keeps the JSON in Raw.
func (r *ActionResult) UnmarshalJSON(b []byte) error {
	type plain ActionResult
	if err := json.Unmarshal(b, (*plain)(r)); err != nil {
		return err
	}
	r.Raw = slices.Clone(b)
	return nil
}

// Event is one entry of a VM's history.
type Event struct {
	ID       int64     `json:"id"`
	VMID     string    `json:"vm_id"`
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	OldState string    `json:"old_state"`
	NewState string    `json:"new_state"`
	// Cause is api, host or reconciler.
	Cause   string `json:"cause"`
	Message string `json:"message"`

	// Raw is the event as the API sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes an event and keeps the JSON in Raw.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	if err := json.Unmarshal(b, (*plain)(e)); err != nil {
		return err
	}
	e.Raw = slices.Clone(b)
	return nil
}

// EventPage is one page of GET /api/vms/{id}/events, oldest first.
type EventPage struct {
	VMID       string  `json:"vm_id"`
	Events     []Event `json:"events"`
	NextCursor string  `json:"next_cursor"`
}

// VMLog is the tail of a VM's QEMU log.
type VMLog struct {
	VMID          string     `json:"vm_id"`
	VMName        string     `json:"vm_name"`
	LogPath       string     `json:"log_path"`
	LogSizeBytes  int64      `json:"log_size_bytes"`
	LinesReturned int        `json:"lines_returned"`
	Truncated     bool       `json:"truncated"`
	LastModified  *time.Time `json:"last_modified"`
	QEMULog       string     `json:"qemu_log"`
	Lines         []LogLine  `json:"lines"`

	// Raw is the reply as the API sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a log tail and keeps the JSON in Raw.
func (l *VMLog) UnmarshalJSON(b []byte) error {
	type plain VMLog
	if err := json.Unmarshal(b, (*plain)(l)); err != nil {
		return err
	}
	l.Raw = slices.Clone(b)
	return nil
}

// LogLine is one line of a log tail; N is 1 for the oldest line returned.
type LogLine struct {
	N    int    `json:"n"`
	Text string `json:"text"`
	// Severity is error, warning or info.
	Severity string `json:"severity"`
}

// Node is a hypervisor host.
type Node struct {
	ID string `json:"id"`
	// Name is the node's name, unique.
	Name string `json:"name"`
	// State is READY, UNREACHABLE or MAINTENANCE.
	State string `json:"state"`
	// Address is the address the server sees the node's agent connect
	// from; ClaimedAddress the one the agent says it has.
	Address        string     `json:"address"`
	ClaimedAddress string     `json:"claimed_address"`
	Connected      bool       `json:"connected"`
	LastHeartbeat  *time.Time `json:"last_heartbeat"`
	VMCount        int        `json:"vm_count"`
	Host           HostInfo   `json:"host"`
	Backend        Backend    `json:"backend"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`

	// Raw is the node as the API sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a node and keeps the JSON in Raw.
func (n *Node) UnmarshalJSON(b []byte) error {
	type plain Node
	if err := json.Unmarshal(b, (*plain)(n)); err != nil {
		return err
	}
	n.Raw = slices.Clone(b)
	return nil
}

// HostInfo describes a node's machine.
type HostInfo struct {
	Hostname          string `json:"hostname"`
	CPUs              int    `json:"cpus"`
	MemoryMiB         uint64 `json:"memory_mib"`
	Arch              string `json:"arch"`
	Hypervisor        string `json:"hypervisor"`
	HypervisorVersion string `json:"hypervisor_version"`
	KVMUsable         bool   `json:"kvm_usable"`
}

// Backend describes a node's backend plugin and its health.
type Backend struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
}

// Health is the reply of GET /api/health.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

// LogEntry is one log entry, of any source.
type LogEntry struct {
	ID        string    `json:"id"`
	Timestamp time.Time `json:"timestamp"`
	// Level is debug, info, warn or error.
	Level string `json:"level"`
	// Source is ui, audit, system or qemu.
	Source        string          `json:"source"`
	Component     string          `json:"component"`
	Message       string          `json:"message"`
	Fields        json.RawMessage `json:"fields,omitempty"`
	VMID          string          `json:"vm_id,omitempty"`
	NodeID        string          `json:"node_id,omitempty"`
	UserID        string          `json:"user_id,omitempty"`
	SessionID     string          `json:"session_id,omitempty"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	Action        string          `json:"action,omitempty"`
	Target        string          `json:"target,omitempty"`
	UserAction    bool            `json:"user_action"`

	// Raw is the entry as the API sent it.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes an entry and keeps the JSON in Raw.
func (e *LogEntry) UnmarshalJSON(b []byte) error {
	type plain LogEntry
	if err := json.Unmarshal(b, (*plain)(e)); err != nil {
		return err
	}
	e.Raw = slices.Clone(b)
	return nil
}

// LogPage is one page of GET /api/logs.
type LogPage struct {
	Logs       []LogEntry `json:"logs"`
	NextCursor string     `json:"next_cursor"`
	HasMore    bool       `json:"has_more"`
}
