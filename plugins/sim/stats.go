package sim

import (
	"context"
	"hash/fnv"
	"math"
	"strconv"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
)

var _ backend.StatsCollector = (*Backend)(nil)

// simCounters are the made-up counters of one simulated VM. They grow only
// while the VM runs, by rates fixed per VM (from its id) that wave slowly
// over time, so graphs look alive and stay the same across calls.
type simCounters struct {
	at                      time.Time
	cpu                     float64 // nanoseconds
	rdB, wrB, rdOp, wrOp    float64
	rxB, txB, rxPk, txPk    float64
	busy, diskRate, netRate float64 // per-VM base load: share of a vCPU, bytes/s
	phase                   float64
}

func newSimCounters(id string, now time.Time) *simCounters {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	x := h.Sum64()
	frac := func(shift uint) float64 { return float64((x>>shift)&0xffff) / 0xffff }
	return &simCounters{
		at:       now,
		busy:     0.02 + 0.9*frac(0)*frac(0)*frac(16), // most VMs idle, a few busy
		diskRate: 4096 + 2e6*frac(32)*frac(32),
		netRate:  1024 + 1e6*frac(48)*frac(48),
		phase:    2 * math.Pi * frac(8),
	}
}

// advance moves the counters to now: dt of a VM with vcpus vCPUs running.
func (c *simCounters) advance(now time.Time, vcpus uint32, running bool) {
	dt := now.Sub(c.at).Seconds()
	c.at = now
	if !running || dt <= 0 {
		return
	}
	wave := 0.75 + 0.25*math.Sin(float64(now.Unix())/60+c.phase) // 0.5..1
	c.cpu += dt * 1e9 * float64(max(vcpus, 1)) * c.busy * wave
	d := dt * c.diskRate * wave
	c.rdB += d * 0.6
	c.wrB += d * 0.4
	c.rdOp += d * 0.6 / 16384
	c.wrOp += d * 0.4 / 8192
	n := dt * c.netRate * wave
	c.rxB += n * 0.7
	c.txB += n * 0.3
	c.rxPk += n * 0.7 / 900
	c.txPk += n * 0.3 / 600
}

// StatsCalls says how many times CollectStats was called, so tests of a
// host that must not call it (a plugin of API version 1) can see that it
// did not.
func (b *Backend) StatsCalls() int64 { return b.statsCalls.Load() }

// CollectStats samples every simulated VM at once: CPU time grows with the
// VM's vCPUs while it runs, disks and NICs (one each at least) count bytes,
// operations and packets, all monotonic while the VM exists.
func (b *Backend) CollectStats(ctx context.Context) (*backend.HostStats, error) {
	b.statsCalls.Add(1)
	if _, err := b.enter(ctx, "collecting stats"); err != nil {
		return nil, err
	}
	now := time.Now()
	b.mu.RLock()
	defer b.mu.RUnlock()
	b.statsMu.Lock()
	defer b.statsMu.Unlock()
	if b.stats == nil {
		b.stats = make(map[string]*simCounters, len(b.vms))
	}
	out := &backend.HostStats{Time: now, VMs: make([]backend.VMStats, 0, len(b.vms))}
	for id, vm := range b.vms {
		c := b.stats[id]
		if c == nil {
			c = newSimCounters(id, now)
			b.stats[id] = c
		}
		running := vm.State == backend.StateRunning
		c.advance(now, vm.Spec.VCPUs, running)
		mem := vm.Spec.MemoryMiB << 20
		s := backend.VMStats{
			ID: id, State: vm.State, VCPUs: int(vm.Spec.VCPUs), CPUTime: time.Duration(c.cpu),
			MemoryBytes: mem, MemoryMaxBytes: mem,
		}
		if running {
			s.MemoryRSSBytes = uint64(float64(mem) * (0.3 + 0.5*c.busy))
			s.MemoryUnusedBytes = mem - s.MemoryRSSBytes
			s.Balloon = true
		}
		disks := max(len(vm.Spec.Disks), 1)
		for i := range disks {
			name := "vd" + string(rune('a'+i%26))
			div := float64(disks)
			s.Disks = append(s.Disks, backend.DiskStats{Name: name, ReadBytes: uint64(c.rdB / div), WriteBytes: uint64(c.wrB / div), ReadOps: uint64(c.rdOp / div), WriteOps: uint64(c.wrOp / div)})
		}
		nics := max(len(vm.Spec.NICs), 1)
		for i := range nics {
			div := float64(nics)
			s.NICs = append(s.NICs, backend.NICStats{Name: "vnet" + strconv.Itoa(i), RxBytes: uint64(c.rxB / div), TxBytes: uint64(c.txB / div), RxPackets: uint64(c.rxPk / div), TxPackets: uint64(c.txPk / div)})
		}
		out.VMs = append(out.VMs, s)
	}
	for id := range b.stats {
		if _, ok := b.vms[id]; !ok {
			delete(b.stats, id)
		}
	}
	return out, nil
}
