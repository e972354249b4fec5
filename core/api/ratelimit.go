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

// DefaultUIAddressFactor is how many sessions' worth of entries one client
// address may send in all when RateLimit leaves its address bounds zero:
// a few people behind one address are served, and a client inventing a
// session per request gets no more than that.
const DefaultUIAddressFactor = 5

// RateLimit bounds how many entries POST /api/logs/ui takes: each session
// may send Burst at once, refilled at PerSecond; each client address
// AddressBurst in all, across its sessions, refilled at AddressPerSecond.
type RateLimit struct {
	PerSecond float64
	Burst     int
	// AddressPerSecond and AddressBurst bound the sum over all sessions of
	// one client address; zero is DefaultUIAddressFactor times PerSecond
	// and Burst.
	AddressPerSecond float64
	AddressBurst     int
}

func (r RateLimit) withDefaults() RateLimit {
	if r.PerSecond <= 0 {
		r.PerSecond = DefaultUIRate
	}
	if r.Burst <= 0 {
		r.Burst = DefaultUIBurst
	}
	if r.AddressPerSecond <= 0 {
		r.AddressPerSecond = DefaultUIAddressFactor * r.PerSecond
	}
	if r.AddressBurst <= 0 {
		r.AddressBurst = DefaultUIAddressFactor * r.Burst
	}
	return r
}

// rateClass is the kind of a bucket: its rate and burst.
type rateClass int

const (
	// classSession: one session, or the entries of one address that name
	// no session.
	classSession rateClass = iota
	// classAddress: everything one client address sends.
	classAddress
)

// maxRateKeys bounds how many buckets the limiter tracks; past it, new
// keys share one bucket per class until idle ones are swept.
const maxRateKeys = 100_000

// overflowKeys are the shared buckets of maxRateKeys.
var overflowKeys = [...]string{classSession: "", classAddress: "\x00address"}

// limiter is a token bucket per key.
type limiter struct {
	// rate and burst are those of sessions; addrRate and addrBurst those
	// of client addresses.
	rate, burst         float64
	addrRate, addrBurst float64

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
	class  rateClass
}

func newLimiter(r RateLimit) *limiter {
	r = r.withDefaults()
	return &limiter{rate: r.PerSecond, burst: float64(r.Burst), addrRate: r.AddressPerSecond, addrBurst: float64(r.AddressBurst),
		buckets: map[string]*bucket{}}
}

// params are the rate and burst of a class.
func (l *limiter) params(c rateClass) (rate, burst float64) {
	if c == classAddress {
		return l.addrRate, l.addrBurst
	}
	return l.rate, l.burst
}

// charge is n tokens to take from the bucket key of a class.
type charge struct {
	key   string
	class rateClass
	n     int
}

// take takes n tokens from key's session bucket. When there are not
// enough, it takes none and says how long until there are.
func (l *limiter) take(key string, n int, now time.Time) (bool, time.Duration) {
	ok, _, wait := l.takeAll([]charge{{key: key, n: n}}, now)
	return ok, wait
}

// takeAll takes every charge, or none: when a bucket has too few tokens,
// it returns the charge that waits longest and how long until its bucket
// has enough. A charge over its bucket's burst needs a full bucket. Keys
// of charges must differ.
func (l *limiter) takeAll(charges []charge, now time.Time) (ok bool, short charge, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	bs := make([]*bucket, len(charges))
	for i, ch := range charges {
		bs[i] = l.bucket(ch.key, ch.class, now)
	}
	if now.Sub(l.lastSweep) > time.Minute {
		l.sweep(now)
	}
	needs := make([]float64, len(charges))
	ok = true
	for i, ch := range charges {
		rate, burst := l.params(bs[i].class)
		needs[i] = math.Min(float64(ch.n), burst)
		if bs[i].tokens >= needs[i] {
			continue
		}
		if w := time.Duration((needs[i] - bs[i].tokens) / rate * float64(time.Second)); ok || w > wait {
			short, wait = ch, w
		}
		ok = false
	}
	if !ok {
		return false, short, wait
	}
	for i := range charges {
		bs[i].tokens -= needs[i]
	}
	return true, charge{}, 0
}

// bucket returns key's bucket, refilled up to now; l.mu is held.
func (l *limiter) bucket(key string, class rateClass, now time.Time) *bucket {
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxRateKeys {
			// A sweep walks every bucket: at most one a second, however
			// many new keys come meanwhile.
			if now.Sub(l.lastSweep) > time.Second {
				l.sweep(now)
			}
			if len(l.buckets) >= maxRateKeys {
				key = overflowKeys[class]
			}
		}
		if b, ok = l.buckets[key]; !ok {
			_, burst := l.params(class)
			b = &bucket{tokens: burst, last: now, class: class}
			l.buckets[key] = b
		}
	}
	if now.After(b.last) {
		rate, burst := l.params(b.class)
		b.tokens = math.Min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
		b.last = now
	}
	return b
}

// sweep forgets the buckets that have filled up again: those keys are as
// if new.
func (l *limiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		rate, burst := l.params(b.class)
		if now.Sub(b.last) > time.Duration(burst/rate*float64(time.Second)) {
			delete(l.buckets, k)
		}
	}
}
