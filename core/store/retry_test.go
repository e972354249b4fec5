package store

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/quantixvm/quantix/core/node"
)

// Two transactions that update two node rows in opposite orders deadlock;
// PostgreSQL aborts one, and Retryable tells that error from others (a
// conflict, a missing row), through the store's own wrapping.
func TestRetryableDeadlock(t *testing.T) {
	driver, dsn := freshPostgres(t)
	s := openAt(t, driver, dsn)
	ctx := context.Background()
	for _, id := range []string{"n1", "n2"} {
		if err := s.Nodes().Upsert(ctx, &node.Node{ID: id, Name: id, State: node.StateReady}); err != nil {
			t.Fatal(err)
		}
	}
	// Each holds its first row until the other holds its own.
	var first sync.WaitGroup
	first.Add(2)
	run := func(a, b string) error {
		return s.Tx(ctx, func(tx Store) error {
			st := NodeStatus{State: node.StateReady}
			if err := tx.Nodes().UpdateStatus(ctx, a, st); err != nil {
				return err
			}
			first.Done()
			first.Wait()
			return tx.Nodes().UpdateStatus(ctx, b, st)
		})
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = run("n1", "n2") })
	wg.Go(func() { errs[1] = run("n2", "n1") })
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		failed++
		if !Retryable(err) {
			t.Errorf("Retryable(%v) = false for a transaction PostgreSQL aborted as a deadlock", err)
		}
	}
	if failed != 1 {
		t.Fatalf("%d of the two deadlocked transactions failed, want 1: %v", failed, errs)
	}
	for _, err := range []error{nil, ErrConflict, ErrNotFound, ErrStale, errors.New("other"), context.Canceled} {
		if Retryable(err) {
			t.Errorf("Retryable(%v) = true", err)
		}
	}
}
