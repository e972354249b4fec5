// Package logsink is what a Quantix log sink plugin implements and what the
// daemon's log pipeline calls: the Sink interface and the log Entry, Serve
// for a plugin's main, and the gRPC client and server that carry them over
// go-plugin.
//
// A plugin's main is one line:
//
//	func main() { logsink.Serve(mysink.New()) }
//
// The pipeline hands a sink batches of entries and gets one Result per
// entry: delivered, retryable (sent again later) or permanent (dropped and
// counted). A Write that fails as a whole returns an error instead; ResultOf
// says what it means for the entries. Errors should be built with the
// sdk/plugin helpers (plugin.Unavailable for what may pass,
// plugin.InvalidArgument for what never will) so that their kind survives
// the wire.
package logsink

import (
	"context"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// APIVersion is the log sink API version this SDK speaks.
const APIVersion = 1

// APIVersions lists every log sink API version this SDK can serve.
var APIVersions = []int{APIVersion}

// Capabilities a sink may announce in its Info.
const (
	// CapFlush: the sink buffers or can sync, so Flush does work; without
	// it an entry is at its destination when Write reports it delivered.
	CapFlush = "flush"
	// CapRetries: Write retries transient failures itself, with backoff,
	// before it answers retryable; the host need not retry at once.
	CapRetries = "retries"
)

// Sink ships log entries to one destination. Every method is safe for
// concurrent use.
type Sink interface {
	// Info says what the sink is; Configure takes its config block, before
	// the first Write and again after every relaunch (the contracts of
	// plugin.Describer and plugin.Configurer). Configure may also come after
	// Close, to open the sink again.
	plugin.Base
	Writer
	Closer
}

// Writer delivers entries.
type Writer interface {
	// Write delivers entries, in order, and returns exactly one Result per
	// entry. Entries it receives passed Entry.Validate. A nil error with
	// results means each entry is what its Result says; a non-nil error
	// means the call failed as a whole and its results are ignored (see
	// ResultOf). Before Configure and after Close it fails with an error
	// matching plugin.ErrUnavailable.
	Write(ctx context.Context, entries []Entry) ([]Result, error)
}

// Closer releases the sink.
type Closer interface {
	// Close pushes buffered entries to their destination, then releases
	// files and connections: entries reported delivered before Close are
	// at their destination when it returns. Closing a closed sink does
	// nothing and returns nil.
	Close(ctx context.Context) error
}

// Flusher is an optional interface: Flush pushes everything written so far
// to its destination (to disk, to the peer) before it returns. Sinks that
// buffer implement it and announce CapFlush.
type Flusher interface {
	Flush(ctx context.Context) error
}
