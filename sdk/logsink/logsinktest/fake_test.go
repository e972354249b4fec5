package logsinktest_test

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// fakeSink is an in-memory Sink that keeps the whole contract, used to check
// the suite itself: what it delivers is in store. mutant, when set, names
// one deliberate contract violation.
type fakeSink struct {
	mutant string

	mu         sync.Mutex
	configured bool
	closed     bool
	down       bool
	refusing   bool
	store      []logsink.Entry
	buffer     []logsink.Entry
}

var (
	_ logsink.Sink    = (*fakeSink)(nil)
	_ logsink.Flusher = (*fakeSink)(nil)
)

// rejectMark starts the message of an entry the fake refuses on its own.
const rejectMark = "REJECT:"

func (f *fakeSink) Info(context.Context) (plugin.Info, error) {
	typ := plugin.TypeLogSink
	if f.mutant == "bad-type" {
		typ = plugin.TypeBackend
	}
	return plugin.Info{Name: "fake", Type: typ, Version: "0.0.1", APIVersions: logsink.APIVersions, Capabilities: []string{logsink.CapFlush}}, nil
}

func (f *fakeSink) Configure(_ context.Context, raw []byte, _ int) error {
	var cfg struct{}
	if err := plugin.DecodeConfig(raw, &cfg); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.configured, f.closed = true, false
	return nil
}

func (f *fakeSink) Write(_ context.Context, entries []logsink.Entry) ([]logsink.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.configured || (f.closed && f.mutant != "write-after-close") {
		if f.mutant == "closed-permanent" {
			return nil, plugin.InvalidArgument("", "fake sink is closed")
		}
		return nil, plugin.Unavailable("fake sink is not configured")
	}
	results := make([]logsink.Result, len(entries))
	if f.mutant == "short-results" {
		results = results[:len(entries)-1]
	}
	for i, e := range entries {
		if i >= len(results) {
			break
		}
		switch {
		case f.down:
			switch f.mutant {
			case "outage-permanent":
				results[i] = logsink.Refused("fake destination down")
			case "outage-delivered":
				results[i] = logsink.OK()
			case "outage-no-message":
				results[i] = logsink.RetryLater("")
			default:
				results[i] = logsink.RetryLater("fake destination down")
			}
			continue
		case f.refusing:
			if f.mutant == "refusal-retryable" {
				results[i] = logsink.RetryLater("fake destination refuses")
			} else {
				results[i] = logsink.Refused("fake destination refuses")
			}
			continue
		case strings.HasPrefix(e.Message, rejectMark) || (f.mutant == "reject-all" && hasReject(entries)):
			results[i] = logsink.Refused("fake sink refuses messages starting with %q", rejectMark)
			continue
		}
		if f.mutant == "no-outcome" {
			continue
		}
		results[i] = logsink.OK()
		if f.mutant == "drop-last" && i == len(entries)-1 {
			continue
		}
		f.keep(f.mutate(e))
	}
	return results, nil
}

func hasReject(entries []logsink.Entry) bool {
	for _, e := range entries {
		if strings.HasPrefix(e.Message, rejectMark) {
			return true
		}
	}
	return false
}

// keep delivers e, or buffers it for the "buffered" mutant.
func (f *fakeSink) keep(e logsink.Entry) {
	if f.mutant == "buffered" {
		f.buffer = append(f.buffer, e)
		return
	}
	f.store = append(f.store, e)
	if f.mutant == "duplicate" {
		f.store = append(f.store, e)
	}
}

// mutate applies the mutants that change what is stored.
func (f *fakeSink) mutate(e logsink.Entry) logsink.Entry {
	switch f.mutant {
	case "mangle-newlines":
		e.Message = strings.ReplaceAll(e.Message, "\n", " ")
	case "truncate-8k":
		if len(e.Message) > 4096 {
			e.Message = e.Message[:4096]
		}
	case "drop-fields":
		e.Fields = nil
	case "truncate-time":
		e.Timestamp = e.Timestamp.Truncate(time.Second)
	case "drop-ids":
		e.VMID, e.CorrelationID = "", ""
	}
	return e
}

func (f *fakeSink) Flush(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.store = append(f.store, f.buffer...)
	f.buffer = nil
	return nil
}

func (f *fakeSink) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed && f.mutant == "close-twice-error" {
		return plugin.Conflict("fake sink already closed")
	}
	f.closed = true
	f.buffer = nil // the "buffered" mutant loses what it holds
	return nil
}

// delivered returns a copy of what the fake delivered.
func (f *fakeSink) delivered() []logsink.Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]logsink.Entry(nil), f.store...)
}

func (f *fakeSink) setDown(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = v
}

func (f *fakeSink) setRefusing(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refusing = v
}
