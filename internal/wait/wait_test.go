package wait

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that records a failure instead of ending the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	panic(r)
}

func run(t *testing.T, f func(tb testing.TB)) (failed string) {
	r := &recorder{TB: t}
	defer func() {
		if v := recover(); v != nil && v != any(r) {
			panic(v)
		}
		failed = r.failed
	}()
	f(r)
	return ""
}

func TestUntilSeesTheConditionHold(t *testing.T) {
	var n atomic.Int32
	msg := run(t, func(tb testing.TB) {
		Until(tb, 5*time.Second, "the third poll", func() bool { return n.Add(1) >= 3 })
	})
	if msg != "" || n.Load() != 3 {
		t.Fatalf("failed %q after %d polls, want success after 3", msg, n.Load())
	}
}

func TestUntilNilNamesWhatAndTheLastError(t *testing.T) {
	msg := run(t, func(tb testing.TB) {
		UntilNil(tb, 20*time.Millisecond, "the VM to run", func() error { return errors.New("state is STOPPED") })
	})
	if !strings.Contains(msg, "the VM to run") || !strings.Contains(msg, "state is STOPPED") {
		t.Fatalf("failure %q names neither what was awaited nor the last error", msg)
	}
}

func TestValueReturnsTheValueThatHeld(t *testing.T) {
	var n int
	got := Value(t, 5*time.Second, "n to reach 4", func() (int, bool) { n++; return n, n == 4 })
	if got != 4 {
		t.Fatalf("Value = %d, want 4", got)
	}
}

func TestStays(t *testing.T) {
	if msg := run(t, func(tb testing.TB) { Stays(tb, 20*time.Millisecond, "true", func() bool { return true }) }); msg != "" {
		t.Fatalf("a condition that always holds failed: %s", msg)
	}
	var n atomic.Int32
	msg := run(t, func(tb testing.TB) {
		Stays(tb, 5*time.Second, "the count below 3", func() bool { return n.Add(1) < 3 })
	})
	if !strings.Contains(msg, "the count below 3 stopped holding") {
		t.Fatalf("failure %q, want the count below 3 stopped holding", msg)
	}
}

func TestPollEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Poll(ctx, func() error { return errors.New("not yet") })
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "not yet") {
		t.Fatalf("Poll = %v, want context.Canceled with the last error", err)
	}
}
