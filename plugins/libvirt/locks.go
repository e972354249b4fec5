package libvirt

import (
	"context"
	"sync"
)

// keyedMutex serializes operations per key (a VM id or name) while letting
// operations on different keys run in parallel. Waiting respects ctx.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sem  chan struct{}
	refs int
}

func newKeyedMutex() *keyedMutex {
	return &keyedMutex{locks: make(map[string]*keyedLock)}
}

// lock takes the lock of key, waiting until it is free or ctx ends. The
// returned function releases it.
func (k *keyedMutex) lock(ctx context.Context, key string) (func(), error) {
	l := k.ref(key)
	select {
	case l.sem <- struct{}{}:
		return func() {
			<-l.sem
			k.unref(key)
		}, nil
	case <-ctx.Done():
		k.unref(key)
		return nil, ctx.Err()
	}
}

func (k *keyedMutex) ref(key string) *keyedLock {
	k.mu.Lock()
	defer k.mu.Unlock()
	l, ok := k.locks[key]
	if !ok {
		l = &keyedLock{sem: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	return l
}

func (k *keyedMutex) unref(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.locks[key]
	l.refs--
	if l.refs == 0 {
		delete(k.locks, key)
	}
}
