package logs

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// Options configure a Pipeline.
type Options struct {
	// Dir is the spool's directory, <data_dir>/logs/spool in the daemon.
	Dir string
	// Spool tunes the spool; its Dir, Consumers, OnEvict and Logger are
	// set by Open.
	Spool SpoolOptions
	// Store is the built-in store, a consumer of every source; nil runs
	// without one.
	Store store.LogRepo
	// Retention bounds the built-in store.
	Retention Retention
	// Sinks are the log sinks, each a consumer of its sources.
	Sinks []Sink
	// Batch and Retry tune every consumer.
	Batch BatchOptions
	Retry RetryOptions
	// WriteTimeout bounds one Write of a batch. Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Registerer receives the pipeline's metrics; nil leaves them
	// unregistered.
	Registerer prometheus.Registerer
	// Logger receives the pipeline's log; nil discards.
	Logger hclog.Logger
}

// Sink is one destination of the pipeline besides the built-in store.
type Sink struct {
	// Name is the sink's name (its log_sink block's label), unique, and
	// not "store".
	Name string
	// Sources are the sources it receives; empty means all.
	Sources []logsink.Source
	// Writer delivers its batches (a pluginhost.SupervisedLogSink).
	Writer logsink.Writer
}

// Pipeline is the log pipeline: entries of every source are appended to
// the durable spool (Append returns once they are on disk), then delivered
// by one consumer per destination (the built-in store and each sink), in
// batches, retried with backoff until delivered, at least once. Live
// subscribers see every appended entry that matches their filter.
type Pipeline struct {
	spool     *Spool
	m         *Metrics
	hub       *hub
	consumers []*consumer
	log       hclog.Logger
	store     store.LogRepo
	retention Retention

	mu     sync.Mutex
	closed bool

	cancel    context.CancelFunc
	pruneDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open opens the spool in opts.Dir and starts delivering to the store and
// every sink.
func Open(opts Options) (*Pipeline, error) {
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	logger = logger.Named("logs")
	names := []string{}
	var consumerNames []string
	if opts.Store != nil {
		names = append(names, storeConsumer)
		consumerNames = append(consumerNames, storeConsumer)
	}
	for _, s := range opts.Sinks {
		switch {
		case s.Name == storeConsumer:
			return nil, fmt.Errorf("log sink %q: the name is reserved for the built-in store; give the sink another name", s.Name)
		case slices.Contains(names, s.Name):
			return nil, fmt.Errorf("log sink %q is configured twice", s.Name)
		case s.Writer == nil:
			return nil, fmt.Errorf("log sink %q has no writer", s.Name)
		}
		for _, src := range s.Sources {
			if tagOf(src) == 0 {
				return nil, fmt.Errorf("log sink %q: unknown source %q", s.Name, src)
			}
		}
		names = append(names, s.Name)
		consumerNames = append(consumerNames, consumerOfSink(s.Name))
	}
	p := &Pipeline{hub: newHub(), log: logger, store: opts.Store, retention: opts.Retention.withDefaults(), pruneDone: make(chan struct{})}
	so := opts.Spool
	so.Dir, so.Consumers, so.Logger = opts.Dir, consumerNames, logger.Named("spool")
	// The metrics exist before the spool, whose retention may evict
	// (OnEvict) as soon as it opens; its gauges read nothing until then.
	var opened atomic.Pointer[Spool]
	stats := func() SpoolStats {
		if sp := opened.Load(); sp != nil {
			return sp.Stats()
		}
		return SpoolStats{}
	}
	var err error
	if p.m, err = newMetrics(opts.Registerer, names, stats); err != nil {
		return nil, err
	}
	fail := func(err error) (*Pipeline, error) {
		if p.m.unregister != nil {
			p.m.unregister()
		}
		return nil, err
	}
	so.OnEvict = p.evicted
	spool, err := OpenSpool(so)
	if err != nil {
		return fail(err)
	}
	p.spool = spool
	opened.Store(spool)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	batch, retry := opts.Batch.withDefaults(), opts.Retry.withDefaults()
	timeout := opts.WriteTimeout
	if timeout <= 0 {
		timeout = DefaultWriteTimeout
	}
	add := func(consumerName, sink string, sources []logsink.Source, w logsink.Writer) error {
		r, err := spool.Reader(consumerName)
		if err != nil {
			return err
		}
		c := &consumer{sink: sink, w: w, r: r, batch: batch, retry: retry, timeout: timeout, m: p.m, log: logger,
			drain: make(chan struct{}), done: make(chan struct{})}
		if len(sources) > 0 {
			c.sources = map[logsink.Source]bool{}
			for _, s := range sources {
				c.sources[s] = true
			}
		}
		p.consumers = append(p.consumers, c)
		return nil
	}
	if opts.Store != nil {
		if err := add(storeConsumer, storeConsumer, nil, storeWriter{repo: opts.Store}); err != nil {
			cancel()
			_ = spool.Close()
			return fail(err)
		}
	}
	for _, s := range opts.Sinks {
		if err := add(consumerOfSink(s.Name), s.Name, s.Sources, s.Writer); err != nil {
			cancel()
			_ = spool.Close()
			return fail(err)
		}
	}
	for _, c := range p.consumers {
		go c.run(ctx)
	}
	if opts.Store != nil && !p.retention.ByLeader {
		go p.prune(ctx)
	} else {
		close(p.pruneDone)
	}
	logger.Info("log pipeline started", "spool", opts.Dir, "store", opts.Store != nil, "sinks", len(opts.Sinks), "spool_end", spool.End())
	return p, nil
}

// Metrics returns the pipeline's metrics, for sources counting what they
// refuse.
func (p *Pipeline) Metrics() *Metrics { return p.m }

// Append prepares every entry (Prepare: the id and timestamp are set in
// entries), writes them all to the spool and returns once they are
// durable: from then on they reach every destination whose sources match.
// An invalid entry fails the whole call before anything is written.
func (p *Pipeline) Append(ctx context.Context, entries []logsink.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	now := time.Now()
	tags := make([]byte, len(entries))
	payloads := make([][]byte, len(entries))
	for i := range entries {
		e := &entries[i]
		if err := Prepare(e, now); err != nil {
			return fmt.Errorf("log entry %d: %w", i, err)
		}
		tags[i], payloads[i] = tagOf(e.Source), encodeEntry(e)
	}
	if _, err := p.spool.Append(ctx, tags, payloads); err != nil {
		p.countBySource(entries, func(src logsink.Source, n int) { p.m.Rejected(src, RejectUnavailable, n) })
		return err
	}
	p.countBySource(entries, p.m.Accepted)
	p.hub.publish(entries)
	return nil
}

// countBySource calls fn once per source present in entries.
func (p *Pipeline) countBySource(entries []logsink.Entry, fn func(logsink.Source, int)) {
	var counts [maxTag + 1]int
	for i := range entries {
		counts[tagOf(entries[i].Source)]++
	}
	for tag, n := range counts {
		if n > 0 {
			fn(sourceOfTag(byte(tag)), n)
		}
	}
}

// evicted counts what a spool retention bound discarded.
func (p *Pipeline) evicted(ev Eviction) {
	p.m.evictions.WithLabelValues(ev.Reason).Inc()
	reason := "spool_" + ev.Reason
	for consumerName, tags := range ev.Lost {
		for tag, n := range tags {
			p.m.drop(sourceOfTag(tag), sinkOfConsumer(consumerName), reason, n)
		}
	}
}

// Stats describes the spool.
func (p *Pipeline) Stats() SpoolStats { return p.spool.Stats() }

// Close stops taking entries, lets every consumer deliver what the spool
// holds until ctx ends, then stops them (what is left is delivered after
// the next start), ends live subscriptions and closes the spool.
func (p *Pipeline) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		for _, c := range p.consumers {
			close(c.drain)
		}
		drained := true
		for _, c := range p.consumers {
			select {
			case <-c.done:
			case <-ctx.Done():
				drained = false
			}
			if !drained {
				break
			}
		}
		p.cancel()
		for _, c := range p.consumers {
			<-c.done
			c.r.Close()
		}
		<-p.pruneDone
		if !drained {
			p.log.Warn("log pipeline stopped before every sink had its entries; they stay in the spool and are delivered after the next start")
		}
		p.hub.close()
		p.closeErr = p.spool.Close()
	})
	return p.closeErr
}
