package logs

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// Defaults of BatchOptions and of a consumer's Write timeout.
const (
	DefaultBatchEntries = 500
	DefaultBatchBytes   = 4 << 20
	DefaultBatchWait    = 200 * time.Millisecond
	DefaultWriteTimeout = 30 * time.Second
)

// BatchOptions tune how a consumer groups entries into one Write: a batch
// is sent when it holds MaxEntries entries or MaxBytes of spooled data, or
// MaxWait after its first entry arrived, whichever comes first.
type BatchOptions struct {
	MaxEntries int
	MaxBytes   int
	MaxWait    time.Duration
}

func (o BatchOptions) withDefaults() BatchOptions {
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultBatchEntries
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultBatchBytes
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultBatchWait
	}
	return o
}

// storeConsumer is the spool consumer of the built-in store; a sink's is
// sinkConsumerPrefix and its name.
const (
	storeConsumer      = "store"
	sinkConsumerPrefix = "sink."
)

// consumerOfSink is the spool consumer of the sink called name.
func consumerOfSink(name string) string { return sinkConsumerPrefix + name }

// sinkOfConsumer is the sink label of a spool consumer.
func sinkOfConsumer(consumer string) string {
	if name, ok := strings.CutPrefix(consumer, sinkConsumerPrefix); ok {
		return name
	}
	return consumer
}

// consumer delivers the spool to one destination, in order, at least once:
// it reads a batch, writes it, retries what the destination answered
// retryable with backoff until it is delivered, drops (and counts) what it
// refused for good, and only then acknowledges the batch.
type consumer struct {
	// sink is the metrics label: "store" or the sink's name.
	sink    string
	sources map[logsink.Source]bool
	w       logsink.Writer
	r       *Reader
	batch   BatchOptions
	retry   RetryOptions
	timeout time.Duration
	m       *Metrics
	log     hclog.Logger
	// drain, once closed, makes run return when it reaches the end of
	// the spool instead of waiting for more.
	drain chan struct{}
	done  chan struct{}
}

// run delivers until ctx ends, or until the spool is drained once drain
// is closed.
func (c *consumer) run(ctx context.Context) {
	defer close(c.done)
	for {
		wctx, cancel := c.untilDrain(ctx)
		err := c.r.Wait(wctx)
		cancel()
		if err != nil {
			return
		}
		recs, err := c.collect(ctx)
		if err != nil {
			if !errors.Is(err, ErrClosed) {
				c.log.Error("reading the log spool", "sink", c.sink, "error", err)
				if !sleep(ctx, time.Second) {
					return
				}
				continue
			}
			return
		}
		if len(recs) == 0 {
			continue
		}
		if !c.deliver(ctx, c.decode(recs)) {
			return
		}
		c.r.Commit(recs[len(recs)-1].Seq + 1)
	}
}

// untilDrain is ctx, also ended when drain is closed.
func (c *consumer) untilDrain(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-c.drain:
			cancel()
		case <-wctx.Done():
		}
	}()
	return wctx, cancel
}

// collect reads a batch: what is there, then more as it arrives until the
// batch is full or MaxWait has passed since the first record.
func (c *consumer) collect(ctx context.Context) ([]Record, error) {
	recs, err := c.r.Read(c.batch.MaxEntries, c.batch.MaxBytes)
	if err != nil || len(recs) == 0 {
		return recs, err
	}
	size := payloadBytes(recs)
	deadline := time.Now().Add(c.batch.MaxWait)
	for len(recs) < c.batch.MaxEntries && size < c.batch.MaxBytes {
		wait := time.Until(deadline)
		if wait <= 0 {
			break
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		dctx, dcancel := c.untilDrain(wctx)
		err := c.r.Wait(dctx)
		dcancel()
		cancel()
		if err != nil {
			break
		}
		more, err := c.r.Read(c.batch.MaxEntries-len(recs), c.batch.MaxBytes-size)
		if err != nil {
			return recs, nil
		}
		recs = append(recs, more...)
		size += payloadBytes(more)
	}
	return recs, nil
}

func payloadBytes(recs []Record) int {
	n := 0
	for _, r := range recs {
		n += len(r.Payload)
	}
	return n
}

// decode returns the entries of the records this consumer takes.
func (c *consumer) decode(recs []Record) []logsink.Entry {
	out := make([]logsink.Entry, 0, len(recs))
	for _, rec := range recs {
		if rec.Tag == damagedTag {
			// Whatever source the damaged record had, this consumer
			// will not get it; opening the spool logged the damage.
			c.m.drop(sourceOfTag(rec.Tag), c.sink, DropSpoolDamaged, 1)
			continue
		}
		if c.sources != nil && !c.sources[sourceOfTag(rec.Tag)] {
			continue
		}
		e, err := decodeEntry(rec.Payload)
		if err != nil {
			c.log.Error("dropping a spooled log entry that cannot be decoded", "sink", c.sink, "record", rec.Seq, "error", err)
			c.m.drop(sourceOfTag(rec.Tag), c.sink, DropUndecodable, 1)
			continue
		}
		out = append(out, e)
	}
	return out
}

// deliver writes entries until each is delivered or refused for good. It
// returns false when ctx ended first: the batch is then not acknowledged
// and comes again after a restart.
func (c *consumer) deliver(ctx context.Context, entries []logsink.Entry) bool {
	pending := entries
	failing := false
	for attempt := 0; len(pending) > 0; attempt++ {
		results := c.write(ctx, pending)
		var again []logsink.Entry
		var refused []logsink.Result
		var delivered, dropped, retried [maxTag + 1]int
		firstRetry := ""
		for i, r := range results {
			e := &pending[i]
			tag := tagOf(e.Source)
			switch r.Outcome {
			case logsink.Delivered:
				delivered[tag]++
			case logsink.Permanent:
				dropped[tag]++
				refused = append(refused, r)
			default:
				again = append(again, *e)
				retried[tag]++
				if firstRetry == "" {
					firstRetry = r.Message
				}
			}
		}
		for tag := range delivered {
			src := sourceOfTag(byte(tag))
			if n := delivered[tag]; n > 0 {
				c.m.delivery(c.m.delivered, src, c.sink, n)
			}
			if n := dropped[tag]; n > 0 {
				c.m.drop(src, c.sink, DropPermanent, n)
			}
			if n := retried[tag]; n > 0 {
				c.m.delivery(c.m.retried, src, c.sink, n)
			}
		}
		if len(refused) > 0 {
			c.log.Warn("a log sink refused entries for good; they are dropped", "sink", c.sink, "dropped", len(refused), "reason", refused[0].Message)
		}
		if len(again) == 0 {
			if failing {
				c.log.Info("log sink delivering again", "sink", c.sink, "attempts", attempt+1)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait := c.retry.delay(attempt)
		if !failing || attempt%10 == 9 {
			c.log.Warn("log sink is not taking entries; retrying with backoff", "sink", c.sink, "entries", len(again),
				"attempt", attempt+1, "retry_in", wait.Round(time.Millisecond), "reason", firstRetry)
		}
		failing = true
		if !sleep(ctx, wait) {
			return false
		}
		pending = again
	}
	return true
}

// write makes one Write call and returns one result per entry: a call that
// fails as a whole, or answers the wrong number of results, makes every
// entry's result what its error means (logsink.ResultOf).
func (c *consumer) write(ctx context.Context, entries []logsink.Entry) []logsink.Result {
	wctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	results, err := c.w.Write(wctx, entries)
	if err == nil && len(results) != len(entries) {
		r := logsink.RetryLater("log sink %s answered %d results for %d entries", c.sink, len(results), len(entries))
		results = make([]logsink.Result, len(entries))
		for i := range results {
			results[i] = r
		}
		return results
	}
	if err != nil {
		return logsink.ResultsOf(err, len(entries))
	}
	return results
}

// sleep waits d, or less when ctx ends (then it returns false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
