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

// errStoreUnavailable: no entry of a batch could be stored.
var errStoreUnavailable = errors.New("the built-in log store took none of the entries")

// storeWriter delivers batches to the built-in store. A batch the database
// refuses is stored entry by entry: entries that fail while others succeed
// are refused for good; when none succeeds the database is taken to be
// unavailable and the batch is retried.
type storeWriter struct{ repo store.LogRepo }

// Write stores entries.
func (w storeWriter) Write(ctx context.Context, entries []logsink.Entry) ([]logsink.Result, error) {
	if _, err := w.repo.Insert(ctx, entries); err == nil {
		return logsink.AllDelivered(len(entries)), nil
	} else if ctx.Err() != nil || len(entries) == 1 {
		return logsink.ResultsOf(retryable(err), len(entries)), nil
	}
	results := make([]logsink.Result, len(entries))
	stored := false
	for i := range entries {
		if _, err := w.repo.Insert(ctx, entries[i:i+1]); err != nil {
			results[i] = logsink.Refused("storing log entry %s: %v", entries[i].ID, err)
			continue
		}
		results[i] = logsink.OK()
		stored = true
	}
	if !stored {
		return logsink.ResultsOf(retryable(errStoreUnavailable), len(entries)), nil
	}
	return results, nil
}

// retryable marks a store error as one that may pass (plugin.Unavailable),
// so that logsink.ResultOf makes it retryable.
func retryable(err error) error {
	return plugin.Unavailable(err, "built-in log store: %v", err)
}

// prune applies the retention of the built-in store every Interval until
// ctx ends.
func (p *Pipeline) prune(ctx context.Context) {
	defer close(p.pruneDone)
	t := time.NewTicker(p.retention.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n, err := p.store.Prune(ctx, now.Add(-p.retention.MaxAge), p.retention.MaxEntries)
			if err != nil && !errors.Is(err, context.Canceled) {
				p.log.Warn("pruning the built-in log store", "error", err)
			}
			if n > 0 {
				p.log.Info("pruned the built-in log store", "removed", n, "max_age", p.retention.MaxAge, "max_entries", p.retention.MaxEntries)
			}
		}
	}
}
