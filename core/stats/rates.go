package stats

import (
	"time"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/sdk/backend"
)

// totals are the counters of one VM sample summed over its devices.
type totals struct {
	at                   time.Time
	cpu                  time.Duration
	rdB, wrB, rdOp, wrOp uint64
	rxB, txB, rxPk, txPk uint64
}

func totalsOf(at time.Time, v *backend.VMStats) totals {
	t := totals{at: at, cpu: v.CPUTime}
	for _, d := range v.Disks {
		t.rdB += d.ReadBytes
		t.wrB += d.WriteBytes
		t.rdOp += d.ReadOps
		t.wrOp += d.WriteOps
	}
	for _, n := range v.NICs {
		t.rxB += n.RxBytes
		t.txB += n.TxBytes
		t.rxPk += n.RxPackets
		t.txPk += n.TxPackets
	}
	return t
}

// wentBack reports whether any counter of cur is below prev's: the VM was
// started again (or a device removed), and no rate can be had from the
// two.
func (cur totals) wentBack(prev totals) bool {
	return cur.cpu < prev.cpu || cur.rdB < prev.rdB || cur.wrB < prev.wrB || cur.rdOp < prev.rdOp || cur.wrOp < prev.wrOp ||
		cur.rxB < prev.rxB || cur.txB < prev.txB || cur.rxPk < prev.rxPk || cur.txPk < prev.txPk
}

// rate returns the point from prev to cur: rates per second, memory of
// cur. ok is false when no rate can be had (no time passed, or a counter
// went back).
func rate(prev, cur totals, v *backend.VMStats) (store.StatPoint, bool) {
	dt := cur.at.Sub(prev.at).Seconds()
	if dt <= 0 || cur.wentBack(prev) {
		return store.StatPoint{}, false
	}
	per := func(a, b uint64) float64 { return float64(b-a) / dt }
	return store.StatPoint{
		T:              cur.at,
		VCPUs:          v.VCPUs,
		CPUCores:       (cur.cpu - prev.cpu).Seconds() / dt,
		MemoryBytes:    v.MemoryBytes,
		MemoryRSSBytes: v.MemoryRSSBytes,
		DiskReadBps:    per(prev.rdB, cur.rdB),
		DiskWriteBps:   per(prev.wrB, cur.wrB),
		DiskReadOps:    per(prev.rdOp, cur.rdOp),
		DiskWriteOps:   per(prev.wrOp, cur.wrOp),
		NetRxBps:       per(prev.rxB, cur.rxB),
		NetTxBps:       per(prev.txB, cur.txB),
		NetRxPps:       per(prev.rxPk, cur.rxPk),
		NetTxPps:       per(prev.txPk, cur.txPk),
	}, true
}

// point is a StatPoint kept in memory in 64 bytes, half a StatPoint's.
type point struct {
	t                                        int64 // Unix milliseconds
	vcpus                                    int32
	cpu                                      float32
	mem, rss                                 uint64
	rdB, wrB, rdOp, wrOp, rxB, txB, rxP, txP float32
}

func compact(p store.StatPoint) point {
	return point{
		t: p.T.UnixMilli(), vcpus: int32(p.VCPUs), cpu: float32(p.CPUCores), mem: p.MemoryBytes, rss: p.MemoryRSSBytes,
		rdB: float32(p.DiskReadBps), wrB: float32(p.DiskWriteBps), rdOp: float32(p.DiskReadOps), wrOp: float32(p.DiskWriteOps),
		rxB: float32(p.NetRxBps), txB: float32(p.NetTxBps), rxP: float32(p.NetRxPps), txP: float32(p.NetTxPps),
	}
}

func (p point) expand() store.StatPoint {
	return store.StatPoint{
		T: time.UnixMilli(p.t).UTC(), VCPUs: int(p.vcpus), CPUCores: float64(p.cpu), MemoryBytes: p.mem, MemoryRSSBytes: p.rss,
		DiskReadBps: float64(p.rdB), DiskWriteBps: float64(p.wrB), DiskReadOps: float64(p.rdOp), DiskWriteOps: float64(p.wrOp),
		NetRxBps: float64(p.rxB), NetTxBps: float64(p.txB), NetRxPps: float64(p.rxP), NetTxPps: float64(p.txP),
	}
}

// add sums q into p (a node's point of its VMs'); memory and vCPUs add up.
func (p *point) add(q point) {
	p.vcpus += q.vcpus
	p.cpu += q.cpu
	p.mem += q.mem
	p.rss += q.rss
	p.rdB += q.rdB
	p.wrB += q.wrB
	p.rdOp += q.rdOp
	p.wrOp += q.wrOp
	p.rxB += q.rxB
	p.txB += q.txB
	p.rxP += q.rxP
	p.txP += q.txP
}

// Downsample averages points into buckets of step starting at multiples
// of step: each bucket's point has the bucket's start as T, the mean of
// every rate and of memory. Points must be oldest first.
func Downsample(pts []store.StatPoint, step time.Duration) []store.StatPoint {
	if step <= 0 || len(pts) == 0 {
		return pts
	}
	var out []store.StatPoint
	var acc stepSum
	var at time.Time
	for _, p := range pts {
		b := p.T.Truncate(step)
		if acc.n > 0 && !b.Equal(at) {
			out = append(out, acc.take(at))
		}
		at = b
		acc.add(p)
	}
	if acc.n > 0 {
		out = append(out, acc.take(at))
	}
	return out
}

// stepSum sums the points of one step, to average them.
type stepSum struct {
	sum store.StatPoint
	n   int
}

func (s *stepSum) add(p store.StatPoint) {
	s.sum.VCPUs += p.VCPUs
	s.sum.CPUCores += p.CPUCores
	s.sum.MemoryBytes += p.MemoryBytes
	s.sum.MemoryRSSBytes += p.MemoryRSSBytes
	s.sum.DiskReadBps += p.DiskReadBps
	s.sum.DiskWriteBps += p.DiskWriteBps
	s.sum.DiskReadOps += p.DiskReadOps
	s.sum.DiskWriteOps += p.DiskWriteOps
	s.sum.NetRxBps += p.NetRxBps
	s.sum.NetTxBps += p.NetTxBps
	s.sum.NetRxPps += p.NetRxPps
	s.sum.NetTxPps += p.NetTxPps
	s.n++
}

// take returns the mean of the points added, at t (vCPUs rounded), and
// empties the sum. It must not be called on an empty sum.
func (s *stepSum) take(t time.Time) store.StatPoint {
	avg, f := s.sum, float64(s.n)
	avg.T = t
	avg.VCPUs = int(float64(avg.VCPUs)/f + 0.5)
	avg.CPUCores /= f
	avg.MemoryBytes /= uint64(s.n)
	avg.MemoryRSSBytes /= uint64(s.n)
	avg.DiskReadBps /= f
	avg.DiskWriteBps /= f
	avg.DiskReadOps /= f
	avg.DiskWriteOps /= f
	avg.NetRxBps /= f
	avg.NetTxBps /= f
	avg.NetRxPps /= f
	avg.NetTxPps /= f
	*s = stepSum{}
	return avg
}
