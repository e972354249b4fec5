package agentserver

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
)

// One name's holders run one at a time; another name's holder does not
// wait for them; entries go once nobody holds or waits.
func TestNameLocks(t *testing.T) {
	var l nameLocks
	unlockA := l.lock("a")
	otherDone := make(chan struct{})
	go func() {
		defer close(otherDone)
		l.lock("b")()
	}()
	wait.Until(t, 5*time.Second, "the lock of another name taken while a's is held", func() bool {
		select {
		case <-otherDone:
			return true
		default:
			return false
		}
	})
	var got atomic.Bool
	sameDone := make(chan struct{})
	go func() {
		defer close(sameDone)
		unlock := l.lock("a")
		got.Store(true)
		unlock()
	}()
	wait.Stays(t, 100*time.Millisecond, "a second holder of a's lock waits", func() bool { return !got.Load() })
	unlockA()
	<-sameDone

	var wg sync.WaitGroup
	var inside, most atomic.Int32
	for range 50 {
		wg.Go(func() {
			defer l.lock("c")()
			n := inside.Add(1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			inside.Add(-1)
		})
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d holders of one name's lock at once, want 1", most.Load())
	}
	l.mu.Lock()
	left := len(l.locks)
	l.mu.Unlock()
	if left != 0 {
		t.Errorf("%d names' entries left after every lock was released, want 0", left)
	}
}
