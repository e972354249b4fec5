package agentserver

import (
	"math"
	"sync"
	"time"
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

// maxPeerBuckets bounds how many peers' buckets are kept; buckets that
// refilled are dropped first.
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

// bucket is a token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time, perSecond float64, burst int) {
	b.tokens = math.Min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*perSecond)
	b.last = now
}

// newNodeLimiter enforces a NewNodeLimit.
type newNodeLimiter struct {
	lim   NewNodeLimit
	mu    sync.Mutex
	total bucket
	peers map[string]*bucket
}

func newNewNodeLimiter(l NewNodeLimit) *newNodeLimiter {
	l = l.withDefaults()
	return &newNodeLimiter{lim: l, total: bucket{tokens: float64(l.TotalBurst), last: time.Now()}, peers: make(map[string]*bucket)}
}

// take charges one new node to peer and to the total; false, with which
// bound was hit ("peer" or "total"), when either has no token left, and
// then nothing is charged.
func (l *newNodeLimiter) take(peer string, now time.Time) (bool, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.peers[peer]
	if p == nil {
		if len(l.peers) >= maxPeerBuckets {
			l.prune(now)
		}
		p = &bucket{tokens: float64(l.lim.PeerBurst), last: now}
		l.peers[peer] = p
	}
	p.refill(now, l.lim.PeerPerSecond, l.lim.PeerBurst)
	l.total.refill(now, l.lim.TotalPerSecond, l.lim.TotalBurst)
	switch {
	case p.tokens < 1:
		return false, "peer"
	case l.total.tokens < 1:
		return false, "total"
	}
	p.tokens--
	l.total.tokens--
	return true, ""
}

// prune drops the buckets that have refilled, which are as good as new.
func (l *newNodeLimiter) prune(now time.Time) {
	for k, b := range l.peers {
		b.refill(now, l.lim.PeerPerSecond, l.lim.PeerBurst)
		if b.tokens >= float64(l.lim.PeerBurst) {
			delete(l.peers, k)
		}
	}
}
