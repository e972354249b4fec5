package wire

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
)

var stateToProto = map[backend.PowerState]agentv1.PowerState{
	backend.StateUnknown:   agentv1.PowerState_POWER_STATE_UNKNOWN,
	backend.StateRunning:   agentv1.PowerState_POWER_STATE_RUNNING,
	backend.StateStopped:   agentv1.PowerState_POWER_STATE_STOPPED,
	backend.StatePaused:    agentv1.PowerState_POWER_STATE_PAUSED,
	backend.StateSuspended: agentv1.PowerState_POWER_STATE_SUSPENDED,
	backend.StateCrashed:   agentv1.PowerState_POWER_STATE_CRASHED,
	backend.StateStarting:  agentv1.PowerState_POWER_STATE_STARTING,
	backend.StateStopping:  agentv1.PowerState_POWER_STATE_STOPPING,
}

var stateFromProto = func() map[agentv1.PowerState]backend.PowerState {
	m := make(map[agentv1.PowerState]backend.PowerState, len(stateToProto))
	for k, v := range stateToProto {
		m[v] = k
	}
	return m
}()

// StateToProto maps a backend power state; states the protocol does not know
// travel as UNKNOWN.
func StateToProto(s backend.PowerState) agentv1.PowerState {
	if p, ok := stateToProto[s]; ok {
		return p
	}
	return agentv1.PowerState_POWER_STATE_UNKNOWN
}

// StateFromProto maps a protocol power state back; unset is UNKNOWN.
func StateFromProto(p agentv1.PowerState) backend.PowerState {
	if s, ok := stateFromProto[p]; ok {
		return s
	}
	return backend.StateUnknown
}

// TimeToProto returns nil for the zero time.
func TimeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// TimeFromProto returns the zero time for nil.
func TimeFromProto(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// VMToProto converts a VM as the host reports it; nil gives nil.
func VMToProto(v *backend.VM) *agentv1.VM {
	if v == nil {
		return nil
	}
	p := &agentv1.VM{
		Id:          v.ID,
		Name:        v.Name,
		State:       StateToProto(v.State),
		StateReason: v.StateReason,
		Managed:     v.Managed,
		Spec:        SpecToProto(v.Spec),
		ConsolePty:  v.ConsolePTY,
	}
	for _, d := range v.Disks {
		p.Disks = append(p.Disks, &agentv1.Disk{
			Name: d.Name, Path: d.Path, SizeBytes: d.SizeBytes, Format: d.Format, BaseImage: d.BaseImage, Owned: d.Owned,
		})
	}
	return p
}

// VMFromProto converts back; nil gives nil.
func VMFromProto(p *agentv1.VM) *backend.VM {
	if p == nil {
		return nil
	}
	v := &backend.VM{
		ID:          p.GetId(),
		Name:        p.GetName(),
		State:       StateFromProto(p.GetState()),
		StateReason: p.GetStateReason(),
		Managed:     p.GetManaged(),
		Spec:        SpecFromProto(p.GetSpec()),
		ConsolePTY:  p.GetConsolePty(),
	}
	for _, d := range p.GetDisks() {
		v.Disks = append(v.Disks, backend.Disk{
			Name: d.GetName(), Path: d.GetPath(), SizeBytes: d.GetSizeBytes(), Format: d.GetFormat(), BaseImage: d.GetBaseImage(), Owned: d.GetOwned(),
		})
	}
	return v
}

// VMsFromProto converts a list, skipping nil entries.
func VMsFromProto(list []*agentv1.VM) []*backend.VM {
	out := make([]*backend.VM, 0, len(list))
	for _, p := range list {
		if p != nil {
			out = append(out, VMFromProto(p))
		}
	}
	return out
}

// SpecToProto converts a VM spec.
func SpecToProto(s backend.VMSpec) *agentv1.VMSpec {
	p := &agentv1.VMSpec{
		Name:        s.Name,
		Vcpus:       s.VCPUs,
		MemoryMib:   s.MemoryMiB,
		Boot:        s.Boot,
		Description: s.Description,
	}
	for _, d := range s.Disks {
		p.Disks = append(p.Disks, &agentv1.DiskSpec{Name: d.Name, SizeGib: d.SizeGiB, BaseImage: d.BaseImage, Bus: d.Bus})
	}
	for _, n := range s.NICs {
		p.Nics = append(p.Nics, &agentv1.NICSpec{Type: n.Type, Source: n.Source, Mac: n.MAC, Model: n.Model})
	}
	return p
}

// SpecFromProto converts back; nil gives the zero spec.
func SpecFromProto(p *agentv1.VMSpec) backend.VMSpec {
	if p == nil {
		return backend.VMSpec{}
	}
	s := backend.VMSpec{
		Name:        p.GetName(),
		VCPUs:       p.GetVcpus(),
		MemoryMiB:   p.GetMemoryMib(),
		Boot:        p.GetBoot(),
		Description: p.GetDescription(),
	}
	for _, d := range p.GetDisks() {
		s.Disks = append(s.Disks, backend.DiskSpec{Name: d.GetName(), SizeGiB: d.GetSizeGib(), BaseImage: d.GetBaseImage(), Bus: d.GetBus()})
	}
	for _, n := range p.GetNics() {
		s.NICs = append(s.NICs, backend.NICSpec{Type: n.GetType(), Source: n.GetSource(), MAC: n.GetMac(), Model: n.GetModel()})
	}
	return s
}

// LogTailToProto converts a log tail; nil gives nil.
func LogTailToProto(t *backend.LogTail) *agentv1.LogTail {
	if t == nil {
		return nil
	}
	return &agentv1.LogTail{
		Path:         t.Path,
		Exists:       t.Exists,
		SizeBytes:    t.SizeBytes,
		LastModified: TimeToProto(t.LastModified),
		Lines:        t.Lines,
		Truncated:    t.Truncated,
	}
}

// LogTailFromProto converts back; nil gives nil.
func LogTailFromProto(p *agentv1.LogTail) *backend.LogTail {
	if p == nil {
		return nil
	}
	return &backend.LogTail{
		Path:         p.GetPath(),
		Exists:       p.GetExists(),
		SizeBytes:    p.GetSizeBytes(),
		LastModified: TimeFromProto(p.GetLastModified()),
		Lines:        p.GetLines(),
		Truncated:    p.GetTruncated(),
	}
}
