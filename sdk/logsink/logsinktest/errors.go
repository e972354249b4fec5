package logsinktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// testInvalidEntries checks that entries failing Entry.Validate get a
// permanent result naming what is wrong and are not delivered, while the
// valid entries of the same batch are.
func testInvalidEntries(t *testing.T, e *env) {
	c := e.sink(t)
	entries := plainEntries(batchID("invalid"), 7)
	entries[1].Level = "verbose"
	entries[3].Fields = json.RawMessage(`[1,2]`)
	entries[4].Source = "kernel"
	entries[5].Message = "not UTF-8: \xff\xfe"
	bad := map[int]string{1: "level", 3: "fields", 4: "source", 5: "message"}
	results := e.write(t, c, "batch with invalid entries", entries)
	var good, refused []logsink.Entry
	for i, r := range results {
		field, isBad := bad[i]
		if !isBad {
			if !r.Delivered() {
				t.Errorf("valid entry %s in a batch with invalid ones: %s, want delivered", entries[i].ID, r)
			}
			good = append(good, entries[i])
			continue
		}
		refused = append(refused, entries[i])
		if r.Outcome != logsink.Permanent {
			t.Errorf("entry %s with a bad %s: %s, want permanent", entries[i].ID, field, r)
			continue
		}
		if !strings.Contains(r.Message, field) {
			t.Errorf("entry %s with a bad %s: message %q does not name %q", entries[i].ID, field, r.Message, field)
		}
		if !errors.Is(r.Err(), plugin.ErrInvalidArgument) {
			t.Errorf("entry %s: Result.Err() = %s, want it to match plugin.ErrInvalidArgument", entries[i].ID, describe(r.Err()))
		}
	}
	e.awaitDelivered(t, "valid entries of a batch with invalid ones", good, true)
	e.checkAbsent(t, "invalid entry", refused)
}

// testErrorKinds checks, with the suite's fault injector on the plugin side,
// that retryable and permanent results, their messages, and whole-call
// errors of both kinds reach the host unchanged.
func testErrorKinds(t *testing.T, e *env) {
	c := e.sink(t)
	if !e.inProcess {
		t.Skip("SKIPPED: Harness.Sink returned a *logsink.GRPCClient, so the suite cannot inject faults on the plugin side; run the suite once with the sink served in-process to check error kinds")
	}
	prefix := batchID("kinds")
	entries := plainEntries(prefix, 4)
	entries[1].ID = injectRetry + prefix
	entries[3].ID = injectRefuse + prefix
	results := e.write(t, c, "batch with injected results", entries)
	want := []logsink.Outcome{logsink.Delivered, logsink.Retryable, logsink.Delivered, logsink.Permanent}
	for i, r := range results {
		if r.Outcome != want[i] {
			t.Errorf("entry %s: %s after the wire, want %s", entries[i].ID, r, want[i])
			continue
		}
		if want[i] != logsink.Delivered && r.Message != injectedMessage(entries[i].ID) {
			t.Errorf("entry %s: message %q after the wire, want %q", entries[i].ID, r.Message, injectedMessage(entries[i].ID))
		}
	}
	if !errors.Is(results[1].Err(), plugin.ErrUnavailable) {
		t.Errorf("retryable result: Err() = %s, want it to match plugin.ErrUnavailable", describe(results[1].Err()))
	}
	if !errors.Is(results[3].Err(), plugin.ErrInvalidArgument) {
		t.Errorf("permanent result: Err() = %s, want it to match plugin.ErrInvalidArgument", describe(results[3].Err()))
	}
	e.awaitDelivered(t, "entries around injected results", []logsink.Entry{entries[0], entries[2]}, true)

	calls := []struct {
		id      string
		kind    plugin.Kind
		outcome logsink.Outcome
	}{
		{injectFailUnavailable + prefix, plugin.KindUnavailable, logsink.Retryable},
		{injectFailInvalid + prefix, plugin.KindInvalidArgument, logsink.Permanent},
	}
	for _, call := range calls {
		batch := plainEntries(prefix+"-"+call.id, 2)
		batch[1].ID = call.id
		_, err := c.Write(e.op(t), batch)
		if err == nil {
			t.Errorf("Write with an injected %s failure succeeded, want the error", call.kind)
			continue
		}
		if k := plugin.KindOf(err); k != call.kind {
			t.Errorf("Write with an injected %s failure: %s after the wire, want kind %s", call.kind, describe(err), call.kind)
		}
		if !strings.Contains(err.Error(), injectedMessage(call.id)) {
			t.Errorf("Write with an injected %s failure: message %q lost on the wire", call.kind, err)
		}
		if o := logsink.ResultOf(err).Outcome; o != call.outcome {
			t.Errorf("ResultOf(%s) = %s, want %s", describe(err), o, call.outcome)
		}
	}
}

// faultWindow calls hook and returns its restore, which also runs when the
// subtest ends if the subtest did not call it.
func faultWindow(t *testing.T, hook func(*testing.T) func()) func() {
	restore := hook(t)
	if restore == nil {
		t.Fatal("logsinktest: the harness's fault hook returned a nil restore function")
	}
	var once sync.Once
	do := func() { once.Do(restore) }
	t.Cleanup(do)
	return do
}

// checkAll checks that a Write during a fault answered every entry with
// outcome want (or failed as a whole with an error of that outcome), each
// with a message, and with the error kind that outcome stands for.
func checkAll(t *testing.T, what string, entries []logsink.Entry, results []logsink.Result, err error, want logsink.Outcome) {
	t.Helper()
	sentinel := plugin.ErrUnavailable
	if want == logsink.Permanent {
		sentinel = plugin.ErrInvalidArgument
	}
	if err != nil {
		if o := logsink.ResultOf(err).Outcome; o != want {
			t.Errorf("%s: Write failed as a whole with %s, which is %s, want %s", what, describe(err), o, want)
		}
		return
	}
	if len(results) != len(entries) {
		t.Fatalf("%s: Write of %d entries answered %d results", what, len(entries), len(results))
	}
	for i, r := range results {
		switch {
		case r.Outcome != want:
			t.Errorf("%s: entry %s: %s, want %s", what, entries[i].ID, r, want)
		case r.Message == "":
			t.Errorf("%s: entry %s: %s without a message; say why it was not delivered", what, entries[i].ID, r.Outcome)
		case !errors.Is(r.Err(), sentinel):
			t.Errorf("%s: entry %s: Result.Err() = %s, want it to match %v", what, entries[i].ID, describe(r.Err()), sentinel)
		}
	}
}

// testReject checks that an entry the sink must refuse on its own gets a
// permanent result while its neighbours are delivered.
func testReject(t *testing.T, e *env) {
	if e.h.Reject == nil {
		t.Skip("SKIPPED: Harness.Reject is nil: the sink refuses no entry on its own, so per-entry permanent results are not tested")
	}
	c := e.sink(t)
	entries := plainEntries(batchID("reject"), 3)
	e.h.Reject(&entries[1])
	if err := entries[1].Validate(); err != nil {
		t.Fatalf("logsinktest: Harness.Reject made an entry that fails Entry.Validate (%v); it must make a valid entry the sink itself refuses", err)
	}
	results := e.write(t, c, "batch with an entry to reject", entries)
	checkAll(t, "entry to reject", entries[1:2], results[1:2], nil, logsink.Permanent)
	for _, i := range []int{0, 2} {
		if !results[i].Delivered() {
			t.Errorf("entry %s next to one to reject: %s, want delivered", entries[i].ID, results[i])
		}
	}
	e.awaitDelivered(t, "entries next to one to reject", []logsink.Entry{entries[0], entries[2]}, true)
	e.checkAbsent(t, "rejected entry", entries[1:2])
}

// testOutage checks that entries written while the destination is down are
// retryable, never delivered, and that the sink delivers again once it is
// back.
func testOutage(t *testing.T, e *env) {
	if e.h.Outage == nil {
		t.Skip("SKIPPED: Harness.Outage is nil: retryable results of an unavailable destination are not tested")
	}
	c := e.sink(t)
	prefix := batchID("outage")
	before := plainEntries(prefix+"-before", 3)
	requireDelivered(t, "before the outage", before, e.write(t, c, "before the outage", before))
	e.awaitDelivered(t, "before the outage", before, true)

	restore := faultWindow(t, e.h.Outage)
	during := plainEntries(prefix+"-during", 5)
	for attempt := 1; attempt <= 2; attempt++ {
		results, err := c.Write(e.op(t), during)
		checkAll(t, "during the outage", during, results, err, logsink.Retryable)
	}
	restore()

	// What the host does: send what was not delivered again until it is.
	pending := during
	ctx, cancel := context.WithTimeout(context.Background(), e.h.deliveryTimeout())
	defer cancel()
	_ = wait.Poll(ctx, func() error {
		results, err := c.Write(e.op(t), pending)
		if err != nil {
			if logsink.ResultOf(err).Outcome != logsink.Retryable {
				t.Fatalf("after the outage: Write failed with %s, which is permanent", describe(err))
			}
			return err
		}
		var next []logsink.Entry
		for i, r := range results {
			switch r.Outcome {
			case logsink.Delivered:
			case logsink.Retryable:
				next = append(next, pending[i])
			default:
				t.Fatalf("after the outage: entry %s: %s, want delivered or retryable", pending[i].ID, r)
			}
		}
		if pending = next; len(pending) > 0 {
			return fmt.Errorf("%d entries still retryable", len(pending))
		}
		return nil
	})
	if len(pending) > 0 {
		t.Fatalf("after the outage: %d entries still not delivered %s after the destination came back", len(pending), e.h.deliveryTimeout())
	}
	e.awaitDelivered(t, "written during the outage, sent again after it", during, false)
}

// testRefusal checks that entries the destination refuses are permanent and
// that the sink delivers again once it accepts.
func testRefusal(t *testing.T, e *env) {
	if e.h.Refusal == nil {
		t.Skip("SKIPPED: Harness.Refusal is nil: permanent results of a refusing destination are not tested")
	}
	c := e.sink(t)
	prefix := batchID("refusal")
	restore := faultWindow(t, e.h.Refusal)
	refused := plainEntries(prefix+"-refused", 4)
	results, err := c.Write(e.op(t), refused)
	checkAll(t, "while the destination refuses", refused, results, err, logsink.Permanent)
	restore()
	after := plainEntries(prefix+"-after", 4)
	requireDelivered(t, "after the refusal", after, e.write(t, c, "after the refusal", after))
	e.awaitDelivered(t, "after the refusal", after, true)
	e.checkAbsent(t, "refused entry", refused)
}
