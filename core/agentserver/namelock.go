package agentserver

import "sync"

// nameLocks serialises work per name: holders of one name's lock run one at
// a time, holders of different names' locks do not wait for each other.
// The zero value is ready; a name's entry lives only while its lock is held
// or waited for.
type nameLocks struct {
	mu    sync.Mutex
	locks map[string]*nameLock
}

type nameLock struct {
	mu sync.Mutex
	// refs counts the holder and the waiters; guarded by nameLocks.mu.
	refs int
}

// lock takes name's lock and returns the function that releases it.
func (l *nameLocks) lock(name string) (unlock func()) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = make(map[string]*nameLock)
	}
	nl := l.locks[name]
	if nl == nil {
		nl = &nameLock{}
		l.locks[name] = nl
	}
	nl.refs++
	l.mu.Unlock()
	nl.mu.Lock()
	return func() {
		nl.mu.Unlock()
		l.mu.Lock()
		nl.refs--
		if nl.refs == 0 {
			delete(l.locks, name)
		}
		l.mu.Unlock()
	}
}
