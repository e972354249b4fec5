package api

import (
	"time"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/core/vmlog"
)

// vmReply is a VM as the API shows it (docs/api.md).
type vmReply struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Description    string            `json:"description"`
	Labels         map[string]string `json:"labels"`
	Origin         vm.Origin         `json:"origin"`
	IsManaged      bool              `json:"is_managed"`
	NodeID         string            `json:"node_id"`
	State          vm.State          `json:"state"`
	LastKnownState vm.State          `json:"last_known_state"`
	DesiredState   vm.DesiredState   `json:"desired_state"`
	RestartPolicy  vm.RestartPolicy  `json:"restart_policy"`
	Spec           specReply         `json:"spec"`
	LastSeen       *time.Time        `json:"last_seen"`
	LostReason     string            `json:"lost_reason"`
	LostAt         *time.Time        `json:"lost_at"`
	Message        string            `json:"message"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
}

// specReply is the spec of a VM reply.
type specReply struct {
	VCPUs     uint32    `json:"vcpus"`
	MemoryMiB uint64    `json:"memory_mib"`
	Disks     []vm.Disk `json:"disks"`
	NICs      []vm.NIC  `json:"nics"`
	Boot      []string  `json:"boot"`
	Kernel    string    `json:"kernel"`
	Initrd    string    `json:"initrd"`
	Cmdline   string    `json:"cmdline"`
}

func toVMReply(v *vm.VM) *vmReply {
	if v == nil {
		return nil
	}
	r := &vmReply{
		ID: v.ID, Name: v.Name, Description: v.Description, Labels: v.Labels,
		Origin: v.Origin, IsManaged: v.IsManaged, NodeID: v.NodeID,
		State: v.State, LastKnownState: v.LastKnownState, DesiredState: v.DesiredState, RestartPolicy: v.RestartPolicy,
		Spec: specReply{
			VCPUs: v.Spec.VCPUs, MemoryMiB: v.Spec.MemoryMiB,
			Disks: v.Spec.Disks, NICs: v.Spec.NICs, Boot: v.Spec.Boot,
			Kernel: v.Spec.Kernel, Initrd: v.Spec.Initrd, Cmdline: v.Spec.Cmdline,
		},
		LastSeen: v.LastSeen, LostReason: v.LostReason, LostAt: v.LostAt, Message: v.Message,
		CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
	}
	if r.Labels == nil {
		r.Labels = map[string]string{}
	}
	if r.Spec.Disks == nil {
		r.Spec.Disks = []vm.Disk{}
	}
	if r.Spec.NICs == nil {
		r.Spec.NICs = []vm.NIC{}
	}
	if r.Spec.Boot == nil {
		r.Spec.Boot = []string{}
	}
	return r
}

// listReply is the reply of GET /api/vms.
type listReply struct {
	VMs        []*vmReply `json:"vms"`
	NextCursor string     `json:"next_cursor"`
}

// actionReply is the reply of power actions, reset_state and delete.
type actionReply struct {
	Success bool     `json:"success"`
	Code    string   `json:"code,omitempty"`
	Message string   `json:"message"`
	VM      *vmReply `json:"vm,omitempty"`
}

// diskRequest is a disk in a request: the host decides its path.
type diskRequest struct {
	Name      string `json:"name"`
	SizeGiB   uint64 `json:"size_gib"`
	BaseImage string `json:"base_image"`
	Bus       string `json:"bus"`
}

// nicRequest is a network interface in a request.
type nicRequest struct {
	Type   string `json:"type"`
	Source string `json:"source"`
	MAC    string `json:"mac"`
	Model  string `json:"model"`
}

func toDisks(in []diskRequest) []vm.Disk {
	out := make([]vm.Disk, len(in))
	for i, d := range in {
		out[i] = vm.Disk{Name: d.Name, SizeGiB: d.SizeGiB, BaseImage: d.BaseImage, Bus: d.Bus}
	}
	return out
}

func toNICs(in []nicRequest) []vm.NIC {
	out := make([]vm.NIC, len(in))
	for i, n := range in {
		out[i] = vm.NIC{Type: n.Type, Source: n.Source, MAC: n.MAC, Model: n.Model}
	}
	return out
}

// createRequest is the body of POST /api/vms.
type createRequest struct {
	Name          string            `json:"name"`
	Description   string            `json:"description"`
	Labels        map[string]string `json:"labels"`
	VCPUs         int64             `json:"vcpus"`
	MemoryMiB     int64             `json:"memory_mib"`
	Disks         []diskRequest     `json:"disks"`
	NICs          []nicRequest      `json:"nics"`
	Boot          []string          `json:"boot"`
	Kernel        string            `json:"kernel"`
	Initrd        string            `json:"initrd"`
	Cmdline       string            `json:"cmdline"`
	RestartPolicy string            `json:"restart_policy"`
	NodeID        string            `json:"node_id"`
}

func (r createRequest) toService() controlplane.CreateRequest {
	return controlplane.CreateRequest{
		Name: r.Name, Description: r.Description, Labels: r.Labels,
		VCPUs: r.VCPUs, MemoryMiB: r.MemoryMiB,
		Disks: toDisks(r.Disks), NICs: toNICs(r.NICs), Boot: r.Boot,
		Kernel: r.Kernel, Initrd: r.Initrd, Cmdline: r.Cmdline,
		RestartPolicy: r.RestartPolicy, NodeID: r.NodeID,
	}
}

// patchRequest is the body of PATCH /api/vms/{id}: absent fields stay.
type patchRequest struct {
	Name          *string            `json:"name"`
	Description   *string            `json:"description"`
	Labels        *map[string]string `json:"labels"`
	RestartPolicy *string            `json:"restart_policy"`
	DesiredState  *string            `json:"desired_state"`
	VCPUs         *int64             `json:"vcpus"`
	MemoryMiB     *int64             `json:"memory_mib"`
	Disks         *[]diskRequest     `json:"disks"`
	NICs          *[]nicRequest      `json:"nics"`
	Boot          *[]string          `json:"boot"`
	Kernel        *string            `json:"kernel"`
	Initrd        *string            `json:"initrd"`
	Cmdline       *string            `json:"cmdline"`
}

func (r patchRequest) toService() controlplane.PatchRequest {
	p := controlplane.PatchRequest{
		Name: r.Name, Description: r.Description, Labels: r.Labels,
		RestartPolicy: r.RestartPolicy, DesiredState: r.DesiredState,
		VCPUs: r.VCPUs, MemoryMiB: r.MemoryMiB, Boot: r.Boot,
		Kernel: r.Kernel, Initrd: r.Initrd, Cmdline: r.Cmdline,
	}
	if r.Disks != nil {
		d := toDisks(*r.Disks)
		p.Disks = &d
	}
	if r.NICs != nil {
		n := toNICs(*r.NICs)
		p.NICs = &n
	}
	return p
}

// logsReply is the reply of GET /api/vms/{id}/logs (docs/api.md).
type logsReply struct {
	VMID          string         `json:"vm_id"`
	VMName        string         `json:"vm_name"`
	LogPath       string         `json:"log_path"`
	LogSizeBytes  int64          `json:"log_size_bytes"`
	LinesReturned int            `json:"lines_returned"`
	Truncated     bool           `json:"truncated"`
	LastModified  *time.Time     `json:"last_modified"`
	QEMULog       string         `json:"qemu_log"`
	Lines         []logLineReply `json:"lines"`
}

// logLineReply is one line of a log tail.
type logLineReply struct {
	N        int            `json:"n"`
	Text     string         `json:"text"`
	Severity vmlog.Severity `json:"severity"`
}

// healthReply is the reply of GET /api/health.
type healthReply struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}
