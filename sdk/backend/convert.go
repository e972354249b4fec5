package backend

// The conversions between the SDK's types and the backend protocol's
// messages (proto/quantix/backend/v1). The gRPC client and server use them,
// and so does the agent protocol, which carries VMs, specs, host info and
// log tails as these messages. Every From function gives nil (or the zero
// spec) for nil, every To function nil for nil.

import (
	"time"

	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var stateToProto = map[PowerState]backendv1.PowerState{
	StateUnknown:   backendv1.PowerState_POWER_STATE_UNKNOWN,
	StateRunning:   backendv1.PowerState_POWER_STATE_RUNNING,
	StateStopped:   backendv1.PowerState_POWER_STATE_STOPPED,
	StatePaused:    backendv1.PowerState_POWER_STATE_PAUSED,
	StateSuspended: backendv1.PowerState_POWER_STATE_SUSPENDED,
	StateCrashed:   backendv1.PowerState_POWER_STATE_CRASHED,
	StateStarting:  backendv1.PowerState_POWER_STATE_STARTING,
	StateStopping:  backendv1.PowerState_POWER_STATE_STOPPING,
}

var stateFromProto = func() map[backendv1.PowerState]PowerState {
	m := make(map[backendv1.PowerState]PowerState, len(stateToProto))
	for k, v := range stateToProto {
		m[v] = k
	}
	return m
}()

func powerStateToProto(s PowerState) backendv1.PowerState {
	if p, ok := stateToProto[s]; ok {
		return p
	}
	return backendv1.PowerState_POWER_STATE_UNKNOWN
}

func powerStateFromProto(p backendv1.PowerState) PowerState {
	if s, ok := stateFromProto[p]; ok {
		return s
	}
	return StateUnknown
}

var eventToProto = map[EventType]backendv1.EventType{
	EventStateChanged: backendv1.EventType_EVENT_TYPE_STATE_CHANGED,
	EventCreated:      backendv1.EventType_EVENT_TYPE_CREATED,
	EventDeleted:      backendv1.EventType_EVENT_TYPE_DELETED,
	EventResync:       backendv1.EventType_EVENT_TYPE_RESYNC,
}

var eventFromProto = func() map[backendv1.EventType]EventType {
	m := make(map[backendv1.EventType]EventType, len(eventToProto))
	for k, v := range eventToProto {
		m[v] = k
	}
	return m
}()

func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromProto(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// SpecToProto converts a VM spec.
func SpecToProto(s VMSpec) *backendv1.VMSpec {
	p := &backendv1.VMSpec{
		Name:        s.Name,
		Vcpus:       s.VCPUs,
		MemoryMib:   s.MemoryMiB,
		Boot:        s.Boot,
		Description: s.Description,
		Kernel:      s.Kernel,
		Initrd:      s.Initrd,
		Cmdline:     s.Cmdline,
	}
	for _, d := range s.Disks {
		p.Disks = append(p.Disks, &backendv1.DiskSpec{Name: d.Name, SizeGib: d.SizeGiB, BaseImage: d.BaseImage, Bus: d.Bus})
	}
	for _, n := range s.NICs {
		p.Nics = append(p.Nics, &backendv1.NICSpec{Type: n.Type, Source: n.Source, Mac: n.MAC, Model: n.Model})
	}
	return p
}

// SpecFromProto converts a VM spec back.
func SpecFromProto(p *backendv1.VMSpec) VMSpec {
	if p == nil {
		return VMSpec{}
	}
	s := VMSpec{
		Name:        p.GetName(),
		VCPUs:       p.GetVcpus(),
		MemoryMiB:   p.GetMemoryMib(),
		Boot:        p.GetBoot(),
		Description: p.GetDescription(),
		Kernel:      p.GetKernel(),
		Initrd:      p.GetInitrd(),
		Cmdline:     p.GetCmdline(),
	}
	for _, d := range p.GetDisks() {
		s.Disks = append(s.Disks, DiskSpec{Name: d.GetName(), SizeGiB: d.GetSizeGib(), BaseImage: d.GetBaseImage(), Bus: d.GetBus()})
	}
	for _, n := range p.GetNics() {
		s.NICs = append(s.NICs, NICSpec{Type: n.GetType(), Source: n.GetSource(), MAC: n.GetMac(), Model: n.GetModel()})
	}
	return s
}

// VMToProto converts a VM; a power state the protocol does not know travels
// as UNKNOWN.
func VMToProto(v *VM) *backendv1.VM {
	if v == nil {
		return nil
	}
	p := &backendv1.VM{
		Id:          v.ID,
		Name:        v.Name,
		State:       powerStateToProto(v.State),
		StateReason: v.StateReason,
		Managed:     v.Managed,
		Spec:        SpecToProto(v.Spec),
		ConsolePty:  v.ConsolePTY,
	}
	for _, d := range v.Disks {
		p.Disks = append(p.Disks, &backendv1.Disk{Name: d.Name, Path: d.Path, SizeBytes: d.SizeBytes, Format: d.Format, BaseImage: d.BaseImage, Owned: d.Owned})
	}
	return p
}

// VMFromProto converts a VM back; an unset power state is StateUnknown.
func VMFromProto(p *backendv1.VM) *VM {
	if p == nil {
		return nil
	}
	v := &VM{
		ID:          p.GetId(),
		Name:        p.GetName(),
		State:       powerStateFromProto(p.GetState()),
		StateReason: p.GetStateReason(),
		Managed:     p.GetManaged(),
		Spec:        SpecFromProto(p.GetSpec()),
		ConsolePTY:  p.GetConsolePty(),
	}
	for _, d := range p.GetDisks() {
		v.Disks = append(v.Disks, Disk{Name: d.GetName(), Path: d.GetPath(), SizeBytes: d.GetSizeBytes(), Format: d.GetFormat(), BaseImage: d.GetBaseImage(), Owned: d.GetOwned()})
	}
	return v
}

// HostInfoToProto converts what a backend says about its host.
func HostInfoToProto(h *HostInfo) *backendv1.HostInfo {
	if h == nil {
		return nil
	}
	return &backendv1.HostInfo{
		Hostname:          h.Hostname,
		Cpus:              int32(h.CPUs),
		MemoryMib:         h.MemoryMiB,
		Arch:              h.Arch,
		Hypervisor:        h.Hypervisor,
		HypervisorVersion: h.HypervisorVersion,
		LibraryVersion:    h.LibraryVersion,
		KvmUsable:         h.KVMUsable,
		DomainType:        h.DomainType,
	}
}

// HostInfoFromProto converts host info back.
func HostInfoFromProto(p *backendv1.HostInfo) *HostInfo {
	if p == nil {
		return nil
	}
	return &HostInfo{
		Hostname:          p.GetHostname(),
		CPUs:              int(p.GetCpus()),
		MemoryMiB:         p.GetMemoryMib(),
		Arch:              p.GetArch(),
		Hypervisor:        p.GetHypervisor(),
		HypervisorVersion: p.GetHypervisorVersion(),
		LibraryVersion:    p.GetLibraryVersion(),
		KVMUsable:         p.GetKvmUsable(),
		DomainType:        p.GetDomainType(),
	}
}

// LogTailToProto converts the tail of a VM's log.
func LogTailToProto(t *LogTail) *backendv1.LogTail {
	if t == nil {
		return nil
	}
	return &backendv1.LogTail{
		Path:         t.Path,
		Exists:       t.Exists,
		SizeBytes:    t.SizeBytes,
		LastModified: timeToProto(t.LastModified),
		Lines:        t.Lines,
		Truncated:    t.Truncated,
	}
}

// LogTailFromProto converts a log tail back; its Lines are never nil.
func LogTailFromProto(p *backendv1.LogTail) *LogTail {
	if p == nil {
		return nil
	}
	lines := p.GetLines()
	if lines == nil {
		lines = []string{}
	}
	return &LogTail{
		Path:         p.GetPath(),
		Exists:       p.GetExists(),
		SizeBytes:    p.GetSizeBytes(),
		LastModified: timeFromProto(p.GetLastModified()),
		Lines:        lines,
		Truncated:    p.GetTruncated(),
	}
}

func eventToProtoMsg(e Event) *backendv1.Event {
	return &backendv1.Event{
		Type:   eventToProto[e.Type],
		VmId:   e.VMID,
		VmName: e.VMName,
		State:  powerStateToProto(e.State),
		Reason: e.Reason,
		Time:   timeToProto(e.Time),
	}
}

func eventFromProtoMsg(p *backendv1.Event) Event {
	return Event{
		Type:   eventFromProto[p.GetType()],
		VMID:   p.GetVmId(),
		VMName: p.GetVmName(),
		State:  powerStateFromProto(p.GetState()),
		Reason: p.GetReason(),
		Time:   timeFromProto(p.GetTime()),
	}
}
