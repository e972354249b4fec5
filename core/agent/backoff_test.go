package agent

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := newBackoff(100*time.Millisecond, time.Second)
	bases := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, base := range bases {
		base *= time.Millisecond
		d := b.next()
		if d < base/2 || d > base {
			t.Errorf("attempt %d: %s, want within [%s, %s]", i, d, base/2, base)
		}
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Errorf("after reset: %s", d)
	}
}

// TestJitter: the delay before a full sync is in [0, max) and spread over
// it.
func TestJitter(t *testing.T) {
	const limit = 5 * time.Second
	lo, hi := limit, time.Duration(0)
	for range 10000 {
		d := jitter(limit)
		if d < 0 || d >= limit {
			t.Fatalf("jitter(%s) = %s", limit, d)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo > limit/10 || hi < limit*9/10 {
		t.Errorf("10000 draws span only [%s, %s] of [0, %s)", lo, hi, limit)
	}
	if d := jitter(0); d != 0 {
		t.Errorf("jitter(0) = %s", d)
	}
}

// TestHeartbeatPhase: the second heartbeat of a session comes after a
// delay in (0, interval], spread over it, so that agents connecting
// together do not heartbeat in step.
func TestHeartbeatPhase(t *testing.T) {
	const interval = 5 * time.Second
	lo, hi := interval, time.Duration(0)
	for range 10000 {
		d := heartbeatPhase(interval)
		if d <= 0 || d > interval {
			t.Fatalf("heartbeatPhase(%s) = %s", interval, d)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo > interval/10 || hi < interval*9/10 {
		t.Errorf("10000 draws span only [%s, %s] of (0, %s]", lo, hi, interval)
	}
}
