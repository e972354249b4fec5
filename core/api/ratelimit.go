package api

import (
	"math"
	"sync"
	"time"
)

// Defaults of RateLimit: a front end flushes at most 100 entries every few
// seconds, so a session sending more than DefaultUIRate entries a second
// for long is a flood.
const (
	DefaultUIRate  = 100
	DefaultUIBurst = 2000
)

// RateLimit bounds how many entries one session may send to
// POST /api/logs/ui: Burst at once, refilled at PerSecond.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

func (r RateLimit) withDefaults() RateLimit {
	if r.PerSecond <= 0 {
		r.PerSecond = DefaultUIRate
	}
	if r.Burst <= 0 {
		r.Burst = DefaultUIBurst
	}
	return r
}

// maxRateKeys bounds how many sessions the limiter tracks; past it, new
// sessions share one bucket until idle ones are swept.
const maxRateKeys = 100_000

// limiter is a token bucket per key.
type limiter struct {
	rate, burst float64

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(r RateLimit) *limiter {
	r = r.withDefaults()
	return &limiter{rate: r.PerSecond, burst: float64(r.Burst), buckets: map[string]*bucket{}}
}

// take takes n tokens from key's bucket. When there are not enough, it
// takes none and says how long until there are.
func (l *limiter) take(key string, n int, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxRateKeys {
			// A sweep walks every bucket: at most one a second, however
			// many new sessions come meanwhile.
			if now.Sub(l.lastSweep) > time.Second {
				l.sweep(now)
			}
			if len(l.buckets) >= maxRateKeys {
				key = ""
			}
		}
		if b, ok = l.buckets[key]; !ok {
			b = &bucket{tokens: l.burst, last: now}
			l.buckets[key] = b
		}
	}
	if now.After(b.last) {
		b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
		b.last = now
	}
	if now.Sub(l.lastSweep) > time.Minute {
		l.sweep(now)
	}
	need := float64(n)
	if need > l.burst {
		need = l.burst
	}
	if b.tokens >= need {
		b.tokens -= need
		return true, 0
	}
	wait := time.Duration((need - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// sweep forgets the buckets that have filled up again: those sessions are
// as if new.
func (l *limiter) sweep(now time.Time) {
	l.lastSweep = now
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.last) > full {
			delete(l.buckets, k)
		}
	}
}
