// Package wait gives tests one way to wait for a condition instead of
// sleeping for a time that is either too long (slow tests) or too short (flaky
// ones): the condition is polled, first often, then every MaxInterval, until
// it holds or the deadline passes, and a failure names what was awaited.
package wait

import (
	"context"
	"fmt"
	"testing"
	"time"
)

const (
	// FirstInterval is the first pause between two polls; each pause then
	// doubles up to MaxInterval, so a condition that holds soon is seen
	// soon and one that takes seconds costs few polls.
	FirstInterval = time.Millisecond
	// MaxInterval bounds the pause between two polls.
	MaxInterval = 50 * time.Millisecond
)

// Until polls cond until it returns true and fails t (with what was
// awaited) if it has not within the given time.
func Until(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	UntilNil(t, within, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

var errNotYet = fmt.Errorf("the condition did not hold")

// UntilNil polls cond until it returns nil and fails t if it has not within
// the given time, with the last error cond returned: a condition that says
// why it does not hold yet makes a failure that explains itself.
func UntilNil(t testing.TB, within time.Duration, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := Poll(ctx, cond); err != nil {
		t.Fatalf("waited %v for %s: %v", within, what, err)
	}
}

// Value polls get until its second result is true and returns its first;
// it fails t like Until.
func Value[T any](t testing.TB, within time.Duration, what string, get func() (T, bool)) T {
	t.Helper()
	var v T
	Until(t, within, what, func() bool {
		var ok bool
		v, ok = get()
		return ok
	})
	return v
}

// Stays checks that cond holds at every poll for the whole duration and
// fails t at the first poll where it does not: for what must not happen
// (no second restart, no event for another node), where there is no
// condition to wait for but a time to watch.
func Stays(t testing.TB, during time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(during)
	pause := FirstInterval
	for {
		if !cond() {
			t.Fatalf("%s stopped holding after %v of %v", what, during-time.Until(deadline), during)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		time.Sleep(min(pause, left))
		pause = min(2*pause, MaxInterval)
	}
}

// Poll calls cond until it returns nil or ctx ends; it then returns ctx's
// error wrapped around cond's last one. It is the loop of Until for code
// that has a context rather than a testing.TB (benchmarks, harnesses).
func Poll(ctx context.Context, cond func() error) error {
	pause := FirstInterval
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		err := cond()
		if err == nil {
			return nil
		}
		timer.Reset(pause)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-timer.C:
		}
		pause = min(2*pause, MaxInterval)
	}
}
