package logsinktest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// testEmptyBatch checks that writing nothing succeeds with no results.
func testEmptyBatch(t *testing.T, e *env) {
	c := e.sink(t)
	for _, batch := range [][]logsink.Entry{nil, {}} {
		results, err := c.Write(e.op(t), batch)
		if err != nil {
			t.Errorf("Write of %d entries (%#v): %s, want success", len(batch), batch, describe(err))
		}
		if len(results) != 0 {
			t.Errorf("Write of no entries answered %d results, want none", len(results))
		}
	}
}

// testBatches writes batches of 1, 100 and 1000 entries and reads them back.
func testBatches(t *testing.T, e *env) {
	c := e.sink(t)
	for _, n := range []int{1, 100, 1000} {
		what := fmt.Sprintf("batch of %d", n)
		entries := plainEntries(batchID(fmt.Sprintf("batch%d", n)), n)
		results := e.write(t, c, what, entries)
		requireDelivered(t, what, entries, results)
		e.awaitDelivered(t, what, entries, true)
	}
}

// testConcurrency writes from several goroutines at once on one sink.
func testConcurrency(t *testing.T, e *env) {
	const writers, batches, size = 8, 3, 50
	c := e.sink(t)
	prefix := batchID("concurrent")
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		all  []logsink.Entry
		errs []string
	)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				entries := plainEntries(fmt.Sprintf("%s-w%d-b%d", prefix, w, b), size)
				results, err := c.Write(e.op(t), entries)
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, fmt.Sprintf("writer %d batch %d: %s", w, b, describe(err)))
				case len(results) != len(entries):
					errs = append(errs, fmt.Sprintf("writer %d batch %d: %d results for %d entries", w, b, len(results), len(entries)))
				default:
					for i, r := range results {
						if !r.Delivered() {
							errs = append(errs, fmt.Sprintf("writer %d batch %d entry %s: %s, want delivered", w, b, entries[i].ID, r))
						}
					}
				}
				all = append(all, entries...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i, msg := range errs {
		if i == 5 {
			t.Errorf("%d failures in all", len(errs))
			break
		}
		t.Error(msg)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	e.awaitDelivered(t, fmt.Sprintf("%d concurrent writers", writers), all, true)
}
