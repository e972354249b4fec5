package backendtest

import (
	"sync"
	"time"
)

// collector gathers what a streaming call delivers, in order, for waiters
// that read it through a cursor.
type collector[T any] struct {
	mu     sync.Mutex
	items  []T
	notify chan struct{}
}

func newCollector[T any]() *collector[T] {
	return &collector[T]{notify: make(chan struct{})}
}

// add appends v and wakes the waiters.
func (c *collector[T]) add(v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items = append(c.items, v)
	close(c.notify)
	c.notify = make(chan struct{})
}

// snapshot returns everything collected so far.
func (c *collector[T]) snapshot() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]T(nil), c.items...)
}

// waitFor returns the index of the first item at or after from for which
// match holds, waiting until timeout; -1 when none arrived in time.
func (c *collector[T]) waitFor(from int, timeout time.Duration, match func(T) bool) int {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for i := from; i < len(c.items); i++ {
			if match(c.items[i]) {
				c.mu.Unlock()
				return i
			}
		}
		if len(c.items) > from {
			from = len(c.items)
		}
		ch := c.notify
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return -1
		}
	}
}

// waitCount waits until at least n items are collected, up to timeout, and
// returns everything collected.
func (c *collector[T]) waitCount(n int, timeout time.Duration) []T {
	if n <= 0 {
		return c.snapshot()
	}
	c.waitFor(n-1, timeout, func(T) bool { return true })
	return c.snapshot()
}
