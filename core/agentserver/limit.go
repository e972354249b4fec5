package agentserver

import (
	"time"

	"github.com/quantixvm/quantix/internal/ratelimit"
)

// Defaults of NewNodeLimit: a host registers one node, so a peer naming
// many new nodes is a flood; a fleet joining at once gets TotalBurst nodes
// at once and the rest at TotalPerSecond, its agents retrying.
const (
	DefaultPeerNewNodeBurst      = 10
	DefaultPeerNewNodePerSecond  = 0.1
	DefaultTotalNewNodeBurst     = 100
	DefaultTotalNewNodePerSecond = 5
)

// maxPeerBuckets bounds how many peers' buckets are kept: buckets that
// refilled are forgotten first, and past it new peers share one bucket.
const maxPeerBuckets = 4096

// NewNodeLimit bounds how fast registrations create new nodes: each peer
// address may create PeerBurst at once, refilled at PeerPerSecond, and all
// peers together TotalBurst, refilled at TotalPerSecond. Registering a
// node that exists is never limited. Zero fields take the defaults.
type NewNodeLimit struct {
	PeerPerSecond  float64
	PeerBurst      int
	TotalPerSecond float64
	TotalBurst     int
}

func (l NewNodeLimit) withDefaults() NewNodeLimit {
	if l.PeerPerSecond <= 0 {
		l.PeerPerSecond = DefaultPeerNewNodePerSecond
	}
	if l.PeerBurst <= 0 {
		l.PeerBurst = DefaultPeerNewNodeBurst
	}
	if l.TotalPerSecond <= 0 {
		l.TotalPerSecond = DefaultTotalNewNodePerSecond
	}
	if l.TotalBurst <= 0 {
		l.TotalBurst = DefaultTotalNewNodeBurst
	}
	return l
}

// The classes of the new-node limiter's buckets.
const (
	classPeer = iota
	classTotal
)

// totalKey is the one bucket of classTotal; no peer address looks like it.
const totalKey = "\x00total"

// newNodeLimiter enforces a NewNodeLimit.
type newNodeLimiter struct {
	lim     NewNodeLimit
	buckets *ratelimit.Limiter
}

func newNewNodeLimiter(l NewNodeLimit) *newNodeLimiter {
	l = l.withDefaults()
	return &newNodeLimiter{lim: l, buckets: ratelimit.New(maxPeerBuckets, []ratelimit.Class{
		classPeer:  {PerSecond: l.PeerPerSecond, Burst: float64(l.PeerBurst)},
		classTotal: {PerSecond: l.TotalPerSecond, Burst: float64(l.TotalBurst)},
	}...)}
}

// take charges one new node to peer and to the total; false, with which
// bound was hit ("peer" or "total"), when either has no token left, and
// then nothing is charged.
func (l *newNodeLimiter) take(peer string, now time.Time) (bool, string) {
	ok, short, _ := l.buckets.TakeAll([]ratelimit.Charge{{Key: peer, Class: classPeer, N: 1}, {Key: totalKey, Class: classTotal, N: 1}}, now)
	switch {
	case ok:
		return true, ""
	case short.Class == classPeer:
		return false, "peer"
	}
	return false, "total"
}
