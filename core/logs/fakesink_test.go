package logs

import (
	"context"
	"sync"
	"time"

	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// fakeSink is an in-memory log sink whose failures the test controls.
type fakeSink struct {
	mu      sync.Mutex
	got     []logsink.Entry
	batches []int
	times   []time.Time
	calls   int
	// down fails every Write as a whole, as a plugin that is not running.
	down bool
	// refuse answers permanent for the entries it returns true for.
	refuse func(*logsink.Entry) bool
}

func (f *fakeSink) Write(_ context.Context, entries []logsink.Entry) ([]logsink.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return nil, plugin.Unavailable("fake sink is down")
	}
	f.batches = append(f.batches, len(entries))
	f.times = append(f.times, time.Now())
	out := make([]logsink.Result, len(entries))
	for i := range entries {
		if f.refuse != nil && f.refuse(&entries[i]) {
			out[i] = logsink.Refused("fake sink refuses %s", entries[i].ID)
			continue
		}
		f.got = append(f.got, entries[i])
		out[i] = logsink.OK()
	}
	return out, nil
}

func (f *fakeSink) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// delivered returns the messages delivered so far.
func (f *fakeSink) delivered() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.got))
	for i, e := range f.got {
		out[i] = e.Message
	}
	return out
}

func (f *fakeSink) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}
