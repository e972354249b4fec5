package backend

import (
	"time"

	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// HostStatsToProto converts a sample to its wire form.
func HostStatsToProto(h *HostStats) *backendv1.HostStats {
	if h == nil {
		return nil
	}
	out := &backendv1.HostStats{Time: timestamppb.New(h.Time), Vms: make([]*backendv1.VMStats, len(h.VMs))}
	for i := range h.VMs {
		v := &h.VMs[i]
		p := &backendv1.VMStats{
			Id: v.ID, State: string(v.State), Vcpus: int32(v.VCPUs), CpuTimeNs: uint64(max(v.CPUTime, 0)),
			MemoryBytes: v.MemoryBytes, MemoryMaxBytes: v.MemoryMaxBytes, MemoryRssBytes: v.MemoryRSSBytes,
			MemoryUnusedBytes: v.MemoryUnusedBytes, Balloon: v.Balloon,
		}
		if len(v.Disks) > 0 {
			p.Disks = make([]*backendv1.DiskStats, len(v.Disks))
			for j, d := range v.Disks {
				p.Disks[j] = &backendv1.DiskStats{Name: d.Name, ReadBytes: d.ReadBytes, WriteBytes: d.WriteBytes, ReadOps: d.ReadOps, WriteOps: d.WriteOps}
			}
		}
		if len(v.NICs) > 0 {
			p.Nics = make([]*backendv1.NICStats, len(v.NICs))
			for j, n := range v.NICs {
				p.Nics[j] = &backendv1.NICStats{Name: n.Name, RxBytes: n.RxBytes, TxBytes: n.TxBytes, RxPackets: n.RxPackets, TxPackets: n.TxPackets}
			}
		}
		out.Vms[i] = p
	}
	return out
}

// HostStatsFromProto converts a sample from its wire form.
func HostStatsFromProto(p *backendv1.HostStats) *HostStats {
	if p == nil {
		return nil
	}
	out := &HostStats{Time: p.GetTime().AsTime(), VMs: make([]VMStats, len(p.GetVms()))}
	for i, v := range p.GetVms() {
		s := VMStats{
			ID: v.GetId(), State: PowerState(v.GetState()), VCPUs: int(v.GetVcpus()), CPUTime: time.Duration(v.GetCpuTimeNs()),
			MemoryBytes: v.GetMemoryBytes(), MemoryMaxBytes: v.GetMemoryMaxBytes(), MemoryRSSBytes: v.GetMemoryRssBytes(),
			MemoryUnusedBytes: v.GetMemoryUnusedBytes(), Balloon: v.GetBalloon(),
		}
		if len(v.GetDisks()) > 0 {
			s.Disks = make([]DiskStats, len(v.GetDisks()))
			for j, d := range v.GetDisks() {
				s.Disks[j] = DiskStats{Name: d.GetName(), ReadBytes: d.GetReadBytes(), WriteBytes: d.GetWriteBytes(), ReadOps: d.GetReadOps(), WriteOps: d.GetWriteOps()}
			}
		}
		if len(v.GetNics()) > 0 {
			s.NICs = make([]NICStats, len(v.GetNics()))
			for j, n := range v.GetNics() {
				s.NICs[j] = NICStats{Name: n.GetName(), RxBytes: n.GetRxBytes(), TxBytes: n.GetTxBytes(), RxPackets: n.GetRxPackets(), TxPackets: n.GetTxPackets()}
			}
		}
		out.VMs[i] = s
	}
	return out
}
