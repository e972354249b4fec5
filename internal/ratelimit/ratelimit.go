// Package ratelimit is a set of token buckets, one per key, each bucket of
// a class that sets its rate and burst. A request may charge several
// buckets at once and is taken whole or not at all. The set is bounded:
// buckets that have filled up again are forgotten (a full bucket is as good
// as none), and past the bound new keys of a class share one bucket.
package ratelimit

import (
	"math"
	"strconv"
	"sync"
	"time"
)

// Class is the rate and burst of the buckets of one kind.
type Class struct {
	PerSecond float64
	Burst     float64
}

// Charge is N tokens to take from the bucket Key of class Class (an index
// into the classes given to New).
type Charge struct {
	Key   string
	Class int
	N     int
}

// Limiter is the set of buckets. Its methods may be called concurrently.
type Limiter struct {
	classes []Class
	maxKeys int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
	class  int
}

// New returns a limiter keeping at most maxKeys buckets, with the given
// classes.
func New(maxKeys int, classes ...Class) *Limiter {
	return &Limiter{classes: classes, maxKeys: maxKeys, buckets: map[string]*bucket{}}
}

// Take takes n tokens from key's bucket of class. When there are not
// enough, it takes none and says how long until there are.
func (l *Limiter) Take(key string, class, n int, now time.Time) (bool, time.Duration) {
	ok, _, wait := l.TakeAll([]Charge{{Key: key, Class: class, N: n}}, now)
	return ok, wait
}

// TakeAll takes every charge, or none: when a bucket has too few tokens,
// it returns the charge that waits longest and how long until its bucket
// has enough. A charge over its bucket's burst needs a full bucket. Keys
// of charges must differ.
func (l *Limiter) TakeAll(charges []Charge, now time.Time) (ok bool, short Charge, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	bs := make([]*bucket, len(charges))
	for i, ch := range charges {
		bs[i] = l.bucket(ch.Key, ch.Class, now)
	}
	if now.Sub(l.lastSweep) > time.Minute {
		l.sweep(now)
	}
	needs := make([]float64, len(charges))
	ok = true
	for i, ch := range charges {
		c := l.classes[bs[i].class]
		needs[i] = math.Min(float64(ch.N), c.Burst)
		if bs[i].tokens >= needs[i] {
			continue
		}
		if w := time.Duration((needs[i] - bs[i].tokens) / c.PerSecond * float64(time.Second)); ok || w > wait {
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
	return true, Charge{}, 0
}

// overflowKey is the bucket new keys of class share once the limiter
// holds maxKeys buckets.
func overflowKey(class int) string { return "\x00overflow/" + strconv.Itoa(class) }

// bucket returns key's bucket, refilled up to now; l.mu is held.
func (l *Limiter) bucket(key string, class int, now time.Time) *bucket {
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			// A sweep walks every bucket: at most one a second, however
			// many new keys come meanwhile.
			if now.Sub(l.lastSweep) > time.Second {
				l.sweep(now)
			}
			if len(l.buckets) >= l.maxKeys {
				key = overflowKey(class)
			}
		}
		if b, ok = l.buckets[key]; !ok {
			b = &bucket{tokens: l.classes[class].Burst, last: now, class: class}
			l.buckets[key] = b
		}
	}
	if now.After(b.last) {
		c := l.classes[b.class]
		b.tokens = math.Min(c.Burst, b.tokens+now.Sub(b.last).Seconds()*c.PerSecond)
		b.last = now
	}
	return b
}

// sweep forgets the buckets that have filled up again: those keys are as
// if new.
func (l *Limiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		c := l.classes[b.class]
		if now.Sub(b.last) > time.Duration(c.Burst/c.PerSecond*float64(time.Second)) {
			delete(l.buckets, k)
		}
	}
}

// Class returns the rate and burst of class i.
func (l *Limiter) Class(i int) Class { return l.classes[i] }
