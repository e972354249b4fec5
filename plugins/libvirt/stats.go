package libvirt

import (
	"context"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/backend"
)

var _ backend.StatsCollector = (*Backend)(nil)

// statsTypes are the groups CollectStats asks libvirt for.
const statsTypes = libvirt.DOMAIN_STATS_STATE | libvirt.DOMAIN_STATS_CPU_TOTAL |
	libvirt.DOMAIN_STATS_BALLOON | libvirt.DOMAIN_STATS_VCPU |
	libvirt.DOMAIN_STATS_INTERFACE | libvirt.DOMAIN_STATS_BLOCK

// CollectStats reads the counters of every domain in one
// virConnectGetAllDomainStats call: state, total CPU time, balloon
// (current, maximum, RSS, unused), vCPU count, per-interface and per-disk
// counters. A stopped domain has its state and memory and no counters.
func (b *Backend) CollectStats(ctx context.Context) (*backend.HostStats, error) {
	var out *backend.HostStats
	err := b.withConn(func(_ *session, c *libvirt.Connect) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now()
		all, err := c.GetAllDomainStats(nil, statsTypes, 0)
		if err != nil {
			return classify(err, "collecting stats")
		}
		out = &backend.HostStats{Time: now, VMs: make([]backend.VMStats, 0, len(all))}
		for i := range all {
			ds := &all[i]
			if ds.Domain == nil {
				continue
			}
			id, err := ds.Domain.GetUUIDString()
			if err != nil {
				_ = ds.Domain.Free()
				continue // gone meanwhile
			}
			s := vmStats(id, ds)
			if s.MemoryBytes == 0 {
				// Drivers without balloon figures (test:///): the
				// definition's memory, one more call for such domains only.
				if kib, err := ds.Domain.GetMaxMemory(); err == nil {
					s.MemoryBytes, s.MemoryMaxBytes = kib<<10, kib<<10
				}
			}
			_ = ds.Domain.Free()
			out.VMs = append(out.VMs, s)
		}
		return nil
	})
	return out, err
}

// vmStats converts one domain's record.
func vmStats(id string, ds *libvirt.DomainStats) backend.VMStats {
	s := backend.VMStats{ID: id, State: backend.StateUnknown}
	if st := ds.State; st != nil && st.StateSet {
		s.State, _ = mapState(st.State, st.Reason)
	}
	if cpu := ds.Cpu; cpu != nil && cpu.TimeSet {
		s.CPUTime = time.Duration(cpu.Time)
	}
	s.VCPUs = len(ds.Vcpu)
	if bl := ds.Balloon; bl != nil {
		// libvirt reports balloon figures in KiB.
		if bl.CurrentSet {
			s.MemoryBytes = bl.Current << 10
		}
		if bl.MaximumSet {
			s.MemoryMaxBytes = bl.Maximum << 10
		}
		if bl.RssSet {
			s.MemoryRSSBytes = bl.Rss << 10
		}
		if bl.UnusedSet {
			s.MemoryUnusedBytes = bl.Unused << 10
		}
		s.Balloon = bl.UnusedSet || bl.AvailableSet
	}
	for _, d := range ds.Block {
		if !d.NameSet {
			continue
		}
		s.Disks = append(s.Disks, backend.DiskStats{Name: d.Name, ReadBytes: d.RdBytes, WriteBytes: d.WrBytes, ReadOps: d.RdReqs, WriteOps: d.WrReqs})
	}
	for _, n := range ds.Net {
		if !n.NameSet {
			continue
		}
		s.NICs = append(s.NICs, backend.NICStats{Name: n.Name, RxBytes: n.RxBytes, TxBytes: n.TxBytes, RxPackets: n.RxPkts, TxPackets: n.TxPkts})
	}
	return s
}
