package vm

import "time"

// VM is one VM record of the inventory. Spec is what the user asked for (only
// the API writes it); the status fields are what the host reports (only the
// reconciler writes them).
type VM struct {
	// ID is the hypervisor UUID of the VM.
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Labels      map[string]string `json:"labels"`
	Origin      Origin            `json:"origin"`
	IsManaged   bool              `json:"is_managed"`

	// Spec fields.
	DesiredState  DesiredState  `json:"desired_state"`
	RestartPolicy RestartPolicy `json:"restart_policy"`
	Spec          Spec          `json:"spec"`

	// Status fields.
	NodeID         string     `json:"node_id"`
	State          State      `json:"state"`
	LastKnownState State      `json:"last_known_state"`
	StateChangedAt time.Time  `json:"state_changed_at"`
	LastSeen       *time.Time `json:"last_seen"`
	// ObservedAt is when the host (NodeID) observed the status the record
	// holds, by the host's clock; nil when not known. A report of the
	// same host observed before it is older than the record and is not
	// applied (core/reconcile). Internal: the API does not show it.
	ObservedAt *time.Time `json:"-"`
	LostReason string     `json:"lost_reason"`
	LostAt     *time.Time `json:"lost_at"`
	Message    string     `json:"message"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Version increases with every write; a write that names an older
	// version fails instead of overwriting a newer one.
	Version int64 `json:"-"`
}

// Spec is the shape of a VM.
type Spec struct {
	VCPUs     uint32   `json:"vcpus"`
	MemoryMiB uint64   `json:"memory_mib"`
	Disks     []Disk   `json:"disks"`
	NICs      []NIC    `json:"nics"`
	Boot      []string `json:"boot"`
	// Kernel, Initrd and Cmdline are a direct kernel boot (backend.VMSpec):
	// paths on the VM's host and the kernel command line.
	Kernel  string `json:"kernel,omitempty"`
	Initrd  string `json:"initrd,omitempty"`
	Cmdline string `json:"cmdline,omitempty"`
}

// Disk is one disk of a spec.
type Disk struct {
	Name      string `json:"name,omitempty"`
	SizeGiB   uint64 `json:"size_gib,omitempty"`
	BaseImage string `json:"base_image,omitempty"`
	Bus       string `json:"bus,omitempty"`
	// Path is where the host keeps it, once created.
	Path string `json:"path,omitempty"`
}

// NIC is one network interface of a spec.
type NIC struct {
	Type   string `json:"type"`
	Source string `json:"source,omitempty"`
	MAC    string `json:"mac,omitempty"`
	Model  string `json:"model,omitempty"`
}

// Cause says who changed a VM.
type Cause string

// The causes of a VM event.
const (
	CauseAPI        Cause = "api"
	CauseHost       Cause = "host"
	CauseReconciler Cause = "reconciler"
)

// Event is one entry of a VM's history: a state change or an action.
type Event struct {
	ID       int64     `json:"id"`
	VMID     string    `json:"vm_id"`
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	OldState State     `json:"old_state"`
	NewState State     `json:"new_state"`
	Cause    Cause     `json:"cause"`
	Message  string    `json:"message"`
}
