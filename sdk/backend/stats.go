package backend

import (
	"context"
	"time"
)

// StatsCollector is an optional interface of a Backend (API version 2):
// resource counters of every VM of the host in one call. Serve registers
// the Stats service and announces CapStats when the implementation has it.
type StatsCollector interface {
	// CollectStats samples every VM the host has, running or not, in one
	// call: each VM ListVMs would return appears once, by its ID. Counters
	// of a VM that keeps running never go down from one call to the next;
	// they may start again from zero when the VM is started again. It is
	// cheap enough to be called every few seconds on a host of hundreds of
	// VMs.
	CollectStats(ctx context.Context) (*HostStats, error)
}

// HostStats is one sample of every VM of a host.
type HostStats struct {
	// Time is when the counters were read.
	Time time.Time `json:"time"`
	VMs  []VMStats `json:"vms"`
}

// VMStats are one VM's counters at HostStats.Time.
type VMStats struct {
	// ID is the VM's ID, as in VM.ID.
	ID    string     `json:"id"`
	State PowerState `json:"state"`
	VCPUs int        `json:"vcpus"`
	// CPUTime is the CPU time the VM used, its vCPUs and emulator threads.
	CPUTime time.Duration `json:"cpu_time_ns"`
	// MemoryBytes is the memory the VM may use now: the balloon's size when
	// it has one, else what it was given.
	MemoryBytes uint64 `json:"memory_bytes"`
	// MemoryMaxBytes is the memory the VM was given at most.
	MemoryMaxBytes uint64 `json:"memory_max_bytes"`
	// MemoryRSSBytes is the resident memory of the VM's process on the
	// host; 0 when unknown.
	MemoryRSSBytes uint64 `json:"memory_rss_bytes"`
	// MemoryUnusedBytes is the memory the guest's balloon driver reports
	// unused; 0 when unknown.
	MemoryUnusedBytes uint64 `json:"memory_unused_bytes"`
	// Balloon is true when the VM has a balloon device whose size is known.
	Balloon bool        `json:"balloon"`
	Disks   []DiskStats `json:"disks,omitempty"`
	NICs    []NICStats  `json:"nics,omitempty"`
}

// DiskStats are the counters of one disk, named by its target (vda).
type DiskStats struct {
	Name       string `json:"name"`
	ReadBytes  uint64 `json:"read_bytes"`
	WriteBytes uint64 `json:"write_bytes"`
	ReadOps    uint64 `json:"read_ops"`
	WriteOps   uint64 `json:"write_ops"`
}

// NICStats are the counters of one network interface, named by its host
// device (vnet0) or, without one, its MAC address.
type NICStats struct {
	Name      string `json:"name"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
}
