package ratelimit

import (
	"testing"
	"time"
)

// TestTakeAllOrNone: a request charging two buckets is taken whole or not
// at all, and the refusal names the bucket that waits longest.
func TestTakeAllOrNone(t *testing.T) {
	l := New(10, Class{PerSecond: 1, Burst: 2}, Class{PerSecond: 10, Burst: 4})
	now := time.Unix(1000, 0)
	both := func(k string) []Charge { return []Charge{{Key: k, Class: 0, N: 1}, {Key: "all", Class: 1, N: 1}} }
	for i, k := range []string{"a", "a", "b"} {
		if ok, short, _ := l.TakeAll(both(k), now); !ok {
			t.Fatalf("charge %d (%s): refused by %+v, want taken", i, k, short)
		}
	}
	ok, short, wait := l.TakeAll(both("a"), now)
	if ok || short.Key != "a" || wait != time.Second {
		t.Fatalf("a's third: ok %v, short %+v, wait %v; want refused by a, 1s", ok, short, wait)
	}
	// a was refused whole: "all" kept its last token for c.
	if ok, short, _ := l.TakeAll(both("c"), now); !ok {
		t.Fatalf("c: refused by %+v, want the token a's refusal left", short)
	}
	ok, short, wait = l.TakeAll(both("d"), now)
	if ok || short.Key != "all" || wait != 100*time.Millisecond {
		t.Fatalf("d: ok %v, short %+v, wait %v; want refused by all, 100ms", ok, short, wait)
	}
	if ok, _, _ := l.TakeAll(both("a"), now.Add(time.Second)); !ok {
		t.Fatal("a after a second: refused, want its bucket refilled by one")
	}
}

// TestBounded: past maxKeys, new keys of a class share one bucket, and
// buckets that filled up again are forgotten first.
func TestBounded(t *testing.T) {
	l := New(2, Class{PerSecond: 1, Burst: 1})
	now := time.Unix(1000, 0)
	for _, k := range []string{"a", "b"} {
		if ok, _ := l.Take(k, 0, 1, now); !ok {
			t.Fatalf("%s: refused", k)
		}
	}
	if ok, _ := l.Take("c", 0, 1, now); !ok {
		t.Fatal("c, the first on the shared bucket: refused")
	}
	if ok, _ := l.Take("d", 0, 1, now); ok {
		t.Fatal("d: taken, want the shared bucket empty")
	}
	later := now.Add(2 * time.Second)
	if ok, _ := l.Take("e", 0, 1, later); !ok {
		t.Fatal("e after every bucket refilled: refused")
	}
	if n := len(l.buckets); n > 2 {
		t.Errorf("%d buckets kept, want at most 2", n)
	}
}
