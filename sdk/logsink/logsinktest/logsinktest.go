// Package logsinktest is the conformance suite for Quantix log sinks. A sink
// runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		logsinktest.Run(t, logsinktest.Harness{
//			Sink:      func(t *testing.T) logsink.Sink { ... configured sink ... },
//			Delivered: func(t *testing.T) []logsink.Entry { ... read the destination back ... },
//		})
//	}
//
// Run serves the sink through go-plugin's gRPC transport inside the test
// process and makes every call through the *logsink.GRPCClient the daemon
// uses, so entries, per-entry results and the kinds of errors are checked
// after they crossed the wire. What the sink reports delivered is then read
// back from its destination through Harness.Delivered and compared, field by
// field, with what was written.
//
// Every entry the suite writes has an id starting with "lst-" or
// "qxinject-" followed by random hex, so entries of earlier runs at the
// same destination do not matter.
package logsinktest

import (
	"context"
	"fmt"
	"testing"

	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// env is what every subtest shares.
type env struct {
	h Harness
	// inProcess is true when the suite serves the sink itself and can put
	// its fault injector on the plugin side.
	inProcess bool
}

// subtest is one named conformance check.
type subtest struct {
	name string
	fn   func(t *testing.T, e *env)
}

var subtests = []subtest{
	{"Info", testInfo},
	{"EmptyBatch", testEmptyBatch},
	{"Batches", testBatches},
	{"Fidelity", testFidelity},
	{"InvalidEntries", testInvalidEntries},
	{"ErrorKinds", testErrorKinds},
	{"Concurrency", testConcurrency},
	{"Reject", testReject},
	{"Outage", testOutage},
	{"Refusal", testRefusal},
	{"Flush", testFlush},
	{"Close", testClose},
}

// Run runs the whole conformance suite against the sink h describes, one
// subtest after the other: Info, EmptyBatch, Batches (1, 100 and 1000
// entries), Fidelity (Unicode, newlines, escaping, 8 KiB messages, empty
// fields), InvalidEntries, ErrorKinds, Concurrency, Reject, Outage, Refusal,
// Flush and Close. A missing required Harness field fails the run; a
// missing fault hook skips the subtest that needs it, saying so.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Sink == nil {
		t.Fatal("logsinktest: Harness.Sink is nil; it must return the configured Sink under test")
	}
	if h.Delivered == nil {
		t.Fatal("logsinktest: Harness.Delivered is nil; it must read back what the sink delivered")
	}
	e := &env{h: h}
	for _, st := range subtests {
		t.Run(st.name, func(t *testing.T) { st.fn(t, e) })
	}
}

// sink returns a fresh sink under test, as the host sees it, closed when
// the subtest ends.
func (e *env) sink(t *testing.T) *logsink.GRPCClient {
	t.Helper()
	impl := e.h.Sink(t)
	if impl == nil {
		t.Fatal("logsinktest: Harness.Sink returned a nil Sink")
	}
	c, ok := impl.(*logsink.GRPCClient)
	if ok {
		e.inProcess = false
	} else {
		e.inProcess = true
		c = Serve(t, &injector{Sink: impl})
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.h.opTimeout())
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("closing the sink when the subtest ends: %s", describe(err))
		}
	})
	return c
}

// op returns a context for one Sink call: it ends with t and after the
// harness's per-call timeout.
func (e *env) op(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), e.h.opTimeout())
	t.Cleanup(cancel)
	return ctx
}

// write writes entries and fails t unless the call succeeds with one result
// per entry.
func (e *env) write(t *testing.T, s logsink.Sink, what string, entries []logsink.Entry) []logsink.Result {
	t.Helper()
	results, err := s.Write(e.op(t), entries)
	if err != nil {
		t.Fatalf("%s: Write of %d entries failed as a whole: %s", what, len(entries), describe(err))
	}
	if len(results) != len(entries) {
		t.Fatalf("%s: Write of %d entries answered %d results, want one per entry", what, len(entries), len(results))
	}
	return results
}

// requireDelivered fails t for every result that is not delivered.
func requireDelivered(t *testing.T, what string, entries []logsink.Entry, results []logsink.Result) {
	t.Helper()
	bad := 0
	for i, r := range results {
		if !r.Delivered() {
			bad++
			if bad <= 5 {
				t.Errorf("%s: entry %s: %s, want delivered", what, entries[i].ID, r)
			}
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d entries in all were not delivered", what, bad)
	}
	if bad > 0 {
		t.FailNow()
	}
}

// describe formats an error with its plugin kind and field.
func describe(err error) string {
	if err == nil {
		return "no error"
	}
	s := fmt.Sprintf("error %q (kind %s", err.Error(), plugin.KindOf(err))
	if f := plugin.FieldOf(err); f != "" {
		s += fmt.Sprintf(", field %q", f)
	}
	return s + ")"
}
