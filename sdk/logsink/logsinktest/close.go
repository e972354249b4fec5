package logsinktest

import (
	"fmt"
	"testing"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// testFlush checks that Flush succeeds after a Write.
func testFlush(t *testing.T, e *env) {
	c := e.sink(t)
	entries := plainEntries(batchID("flush"), 10)
	requireDelivered(t, "before Flush", entries, e.write(t, c, "before Flush", entries))
	if err := c.Flush(e.op(t)); err != nil {
		t.Fatalf("Flush: %s", describe(err))
	}
	e.awaitDelivered(t, "written before Flush", entries, true)
}

// testClose checks that entries written before Close are at the destination
// once it returns, that Close twice is harmless and that Write after Close
// fails as unavailable.
func testClose(t *testing.T, e *env) {
	c := e.sink(t)
	prefix := batchID("close")
	entries := plainEntries(prefix, 200)
	for i := 0; i < len(entries); i += 50 {
		batch := entries[i : i+50]
		what := fmt.Sprintf("before Close, batch %d", i/50)
		requireDelivered(t, what, batch, e.write(t, c, what, batch))
	}
	if err := c.Close(e.op(t)); err != nil {
		t.Fatalf("Close: %s", describe(err))
	}
	e.awaitDelivered(t, "written before Close", entries, true)
	if err := c.Close(e.op(t)); err != nil {
		t.Errorf("Close of a closed sink: %s, want no error", describe(err))
	}
	late := plainEntries(prefix+"-late", 1)
	results, err := c.Write(e.op(t), late)
	if err == nil {
		t.Fatalf("Write after Close succeeded with %v, want an error matching plugin.ErrUnavailable", results)
	}
	if k := plugin.KindOf(err); k != plugin.KindUnavailable {
		t.Errorf("Write after Close: %s, want kind %s", describe(err), plugin.KindUnavailable)
	}
	e.checkAbsent(t, "written after Close", late)
}
