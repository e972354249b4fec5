package backend

import (
	"time"
)

// PowerState is what the hypervisor says a VM is doing.
type PowerState string

// Power states a backend reports. The control plane maps them onto its own
// richer state model.
const (
	StateUnknown   PowerState = "UNKNOWN"
	StateRunning   PowerState = "RUNNING"
	StateStopped   PowerState = "STOPPED"
	StatePaused    PowerState = "PAUSED"
	StateSuspended PowerState = "SUSPENDED"
	StateCrashed   PowerState = "CRASHED"
	StateStarting  PowerState = "STARTING"
	StateStopping  PowerState = "STOPPING"
)

// VMSpec is what a VM should look like.
type VMSpec struct {
	// Name is unique per host: 1..64 characters of [A-Za-z0-9._-].
	Name string `json:"name"`
	// VCPUs is the number of virtual CPUs, at least 1.
	VCPUs uint32 `json:"vcpus"`
	// MemoryMiB is the guest memory, at least MinMemoryMiB.
	MemoryMiB uint64 `json:"memory_mib"`
	// Disks are attached in order.
	Disks []DiskSpec `json:"disks,omitempty"`
	// NICs are attached in order.
	NICs []NICSpec `json:"nics,omitempty"`
	// Boot lists boot devices in order: "hd", "cdrom", "network".
	Boot []string `json:"boot,omitempty"`
	// Description is free text kept with the VM.
	Description string `json:"description,omitempty"`
	// Kernel is the absolute path, on the VM's host, of a kernel the VM
	// boots directly instead of through its firmware and Boot devices
	// (direct kernel boot; API version 2, offered by backends announcing
	// CapKernelBoot). The file must be readable by the hypervisor.
	Kernel string `json:"kernel,omitempty"`
	// Initrd is the absolute path of an initial ramdisk for Kernel; only
	// with Kernel.
	Initrd string `json:"initrd,omitempty"`
	// Cmdline is the kernel command line, at most MaxCmdlineLength bytes;
	// only with Kernel.
	Cmdline string `json:"cmdline,omitempty"`
}

// DiskSpec describes one disk.
type DiskSpec struct {
	// Name is optional; the backend derives one from the VM name.
	Name string `json:"name,omitempty"`
	// SizeGiB is the size of a new empty disk, or the minimum size of an
	// overlay over BaseImage.
	SizeGiB uint64 `json:"size_gib,omitempty"`
	// BaseImage is a path to an image the disk is a copy-on-write overlay of;
	// the base is never written or deleted.
	BaseImage string `json:"base_image,omitempty"`
	// Bus is "virtio" (default), "sata", "scsi" or "ide".
	Bus string `json:"bus,omitempty"`
}

// NIC types.
const (
	NICNetwork = "network"
	NICBridge  = "bridge"
	NICUser    = "user"
)

// NICSpec describes one network interface.
type NICSpec struct {
	// Type is "network" (a libvirt network), "bridge" or "user".
	Type string `json:"type"`
	// Source is the network or bridge name; empty for "user".
	Source string `json:"source,omitempty"`
	// MAC is optional; the hypervisor generates one when empty.
	MAC string `json:"mac,omitempty"`
	// Model is the device model, "virtio" by default.
	Model string `json:"model,omitempty"`
}

// Disk is a disk as attached to a VM.
type Disk struct {
	Name      string `json:"name"`
	Path      string `json:"path"`
	SizeBytes uint64 `json:"size_bytes"`
	Format    string `json:"format"`
	BaseImage string `json:"base_image,omitempty"`
	// Owned disks were created for this VM and are removed with it when
	// asked; others (foreign disks, base images) never are.
	Owned bool `json:"owned"`
}

// VM is a VM as the host sees it.
type VM struct {
	// ID is the hypervisor's UUID of the VM.
	ID    string     `json:"id"`
	Name  string     `json:"name"`
	State PowerState `json:"state"`
	// StateReason is the hypervisor's reason for the state, e.g. "crashed".
	StateReason string `json:"state_reason,omitempty"`
	// Managed is true for VMs created through Quantix (tagged in the
	// hypervisor's own metadata), false for foreign ones.
	Managed    bool   `json:"managed"`
	Spec       VMSpec `json:"spec"`
	Disks      []Disk `json:"disks,omitempty"`
	ConsolePTY string `json:"console_pty,omitempty"`
}

// State reasons of a VM that StopVM stopped (VM.StateReason of its reply),
// which say how it went: ReasonShutdown, the guest shut down (as asked, or
// on its own); ReasonDestroyed, the VM was stopped hard (Force, a guest
// that did not shut down within the timeout, or one that could not). A
// backend that cannot tell leaves the reason empty or gives its own.
const (
	ReasonShutdown  = "shutdown"
	ReasonDestroyed = "destroyed"
)

// StopOptions tune StopVM.
type StopOptions struct {
	// Force destroys the VM at once instead of asking the guest to shut down.
	Force bool
	// Timeout bounds a graceful shutdown; when it passes the VM is destroyed.
	// Zero means DefaultStopTimeout.
	Timeout time.Duration
}

// DefaultStopTimeout is how long a graceful stop waits by default.
const DefaultStopTimeout = 30 * time.Second

// DeleteOptions tune DeleteVM.
type DeleteOptions struct {
	// DeleteDisks removes the disks the VM owns.
	DeleteDisks bool
	// Force stops a running VM first instead of refusing.
	Force bool
}

// HostInfo describes the host.
type HostInfo struct {
	Hostname          string `json:"hostname"`
	CPUs              int    `json:"cpus"`
	MemoryMiB         uint64 `json:"memory_mib"`
	Arch              string `json:"arch"`
	Hypervisor        string `json:"hypervisor"`
	HypervisorVersion string `json:"hypervisor_version"`
	LibraryVersion    string `json:"library_version"`
	KVMUsable         bool   `json:"kvm_usable"`
	DomainType        string `json:"domain_type"`
}

// LogTail is the end of a VM's log.
type LogTail struct {
	Path         string    `json:"path"`
	Exists       bool      `json:"exists"`
	SizeBytes    int64     `json:"size_bytes"`
	LastModified time.Time `json:"last_modified"`
	// Lines are oldest first, without line terminators.
	Lines []string `json:"lines"`
	// Truncated is true when the file holds more lines than were returned.
	Truncated bool `json:"truncated"`
}

// LogLine is one line of a followed log.
type LogLine struct {
	Text string
	// Offset is the byte offset just past this line; pass it back to resume.
	Offset int64
	Time   time.Time
	// Reopened marks the first line after the file was truncated or rotated.
	Reopened bool
	// File identifies the file the line came from, opaquely (for a log
	// file, its device and inode); pass it back with Offset to resume (see
	// LogResumer). Empty when the backend does not say.
	File string
}

// LogPosition is where to resume following a log: Offset (negative: the
// end) in File, a LogLine's File; an empty File is the file the log is now.
type LogPosition struct {
	File   string
	Offset int64
}

// EventType classifies an Event.
type EventType string

const (
	EventStateChanged EventType = "state_changed"
	EventCreated      EventType = "created"
	EventDeleted      EventType = "deleted"
	// EventResync means events may have been lost: list all VMs again.
	EventResync EventType = "resync"
)

// Event is a lifecycle event.
type Event struct {
	Type   EventType
	VMID   string
	VMName string
	State  PowerState
	Reason string
	Time   time.Time
}
