package logsinktest

import (
	"testing"
)

// testFidelity writes entries that stress encodings and checks that they
// come back unchanged: Unicode, newlines, characters to escape, an 8 KiB
// message, empty optional fields, nested fields, every level and source.
func testFidelity(t *testing.T, e *env) {
	c := e.sink(t)
	entries := trickyEntries(batchID("fidelity"))
	// Once as one batch, once one entry per Write, under other ids.
	results := e.write(t, c, "tricky entries in one batch", entries)
	requireDelivered(t, "tricky entries in one batch", entries, results)
	singles := trickyEntries(batchID("fidelity-single"))
	for i := range singles {
		one := singles[i : i+1]
		results := e.write(t, c, "tricky entry alone", one)
		requireDelivered(t, "tricky entry alone", one, results)
	}
	e.awaitDelivered(t, "tricky entries in one batch", entries, true)
	e.awaitDelivered(t, "tricky entries one per Write", singles, true)
}
