package logs

import (
	"context"
	"errors"
	"time"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Defaults of Retention.
const (
	DefaultRetentionMaxAge     = 30 * 24 * time.Hour
	DefaultRetentionMaxEntries = 10_000_000
	DefaultRetentionInterval   = time.Minute
)

// Retention bounds the built-in store: entries older than MaxAge and all
// but the newest MaxEntries are removed every Interval.
type Retention struct {
	MaxAge     time.Duration
	MaxEntries int
	Interval   time.Duration
	// ByLeader leaves applying it to RunRetention, which the daemon runs
	// as a cluster duty, on the leader only, so that several servers on one
	// database do not all prune it; otherwise the pipeline applies it on
	// its own every Interval.
	ByLeader bool
}

func (r Retention) withDefaults() Retention {
	if r.MaxAge <= 0 {
		r.MaxAge = DefaultRetentionMaxAge
	}
	if r.MaxEntries <= 0 {
		r.MaxEntries = DefaultRetentionMaxEntries
	}
	if r.Interval <= 0 {
		r.Interval = DefaultRetentionInterval
	}
	return r
}

// storeWriter delivers batches to the built-in store. A batch the database
// refuses is stored entry by entry, so that an entry the store cannot take
// (store.ErrInvalid: a value the database refuses) is refused for good
// alone; any other failure (the database down, a timeout, shutting down)
// may pass, and the entries it hit are retried.
type storeWriter struct{ repo store.LogRepo }

// Write stores entries.
func (w storeWriter) Write(ctx context.Context, entries []logsink.Entry) ([]logsink.Result, error) {
	_, err := w.repo.Insert(ctx, entries)
	switch {
	case err == nil:
		return logsink.AllDelivered(len(entries)), nil
	case len(entries) == 1:
		return []logsink.Result{storeResult(entries[0], err)}, nil
	case ctx.Err() != nil || !errors.Is(err, store.ErrInvalid):
		return logsink.ResultsOf(retryable(err), len(entries)), nil
	}
	results := make([]logsink.Result, len(entries))
	for i := range entries {
		if ctx.Err() != nil {
			results[i] = logsink.ResultOf(retryable(ctx.Err()))
			continue
		}
		_, err := w.repo.Insert(ctx, entries[i:i+1])
		results[i] = storeResult(entries[i], err)
	}
	return results, nil
}

// storeResult is the outcome of storing entry e alone: err nil is
// delivered, store.ErrInvalid refused for good, anything else retryable.
func storeResult(e logsink.Entry, err error) logsink.Result {
	switch {
	case err == nil:
		return logsink.OK()
	case errors.Is(err, store.ErrInvalid):
		return logsink.Refused("storing log entry %s: %v", e.ID, err)
	}
	return logsink.ResultOf(retryable(err))
}

// retryable marks a store error as one that may pass (plugin.Unavailable),
// so that logsink.ResultOf makes it retryable.
func retryable(err error) error {
	return plugin.Unavailable("built-in log store: %w", err)
}

// prune applies the retention of the built-in store every Interval until
// ctx ends.
func (p *Pipeline) prune(ctx context.Context) {
	defer close(p.pruneDone)
	p.pruneEvery(ctx, p.store.Prune)
}

// pruneEvery prunes through fn every Interval until ctx ends.
func (p *Pipeline) pruneEvery(ctx context.Context, fn func(ctx context.Context, before time.Time, keep int) (int64, error)) {
	t := time.NewTicker(p.retention.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n, err := fn(ctx, now.Add(-p.retention.MaxAge), p.retention.MaxEntries)
			if err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
				p.log.Warn("pruning the built-in log store", "error", err)
			}
			if n > 0 {
				p.log.Info("pruned the built-in log store", "removed", n, "max_age", p.retention.MaxAge, "max_entries", p.retention.MaxEntries)
			}
		}
	}
}

// RunRetention applies the retention of the built-in store every Interval
// until ctx ends, each pruning in one transaction of s under ctx: a
// cluster duty's ctx fences it (store.WithFence), so a server that no
// longer leads removes nothing. It is for Retention.ByLeader; without a
// store (Options.Store nil) it only waits for ctx.
func (p *Pipeline) RunRetention(ctx context.Context, s store.Store) {
	if p.store == nil {
		<-ctx.Done()
		return
	}
	p.pruneEvery(ctx, func(ctx context.Context, before time.Time, keep int) (int64, error) {
		var n int64
		err := s.Tx(ctx, func(tx store.Store) error {
			var err error
			n, err = tx.Logs().Prune(ctx, before, keep)
			return err
		})
		if err != nil {
			return 0, err
		}
		return n, nil
	})
}
