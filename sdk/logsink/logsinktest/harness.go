package logsinktest

import (
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/logsink"
)

// Default timeouts, used when the matching Harness field is zero.
const (
	// DefaultOpTimeout bounds one Sink call.
	DefaultOpTimeout = 30 * time.Second
	// DefaultDeliveryTimeout is how long the suite waits for written
	// entries to show up in what Harness.Delivered returns.
	DefaultDeliveryTimeout = 10 * time.Second
)

// Harness tells the suite how to reach the sink under test and how to read
// back what it delivered. Sink and Delivered are required; the fault hooks
// are optional and the subtests that need one are skipped, saying so, when
// it is nil.
type Harness struct {
	// Sink returns a configured Sink under test. The suite calls it once
	// per subtest, serves the result over go-plugin's gRPC transport (see
	// Serve) so that every call crosses the wire, and closes it through
	// that connection when the subtest ends. A Sink that is already a
	// *logsink.GRPCClient (a plugin the caller launched out of process) is
	// used as is; the checks that need the suite's fault injector on the
	// plugin side are then skipped. Subtests run one after the other, so
	// the sinks of successive calls may share one destination.
	Sink func(t *testing.T) logsink.Sink

	// Delivered returns every entry the destination holds so far, read
	// back from it (the file, the syslog daemon's output, what a webhook
	// receiver got), in any order, duplicates included. The suite tells
	// its entries apart by id, so entries of earlier runs or subtests may
	// be there too. It is polled until written entries show up.
	Delivered func(t *testing.T) []logsink.Entry

	// Outage makes the destination unavailable (the daemon stopped, the
	// receiver answering 503) until restore is called; restore returns
	// once the destination works again. While it is down, a Write must
	// answer every entry retryable (or fail as a whole with a retryable
	// error), never delivered. Nil skips the Outage subtest.
	Outage func(t *testing.T) (restore func())

	// Refusal makes the destination refuse entries for good (a webhook
	// receiver answering 400) until restore is called. While it refuses, a
	// Write must answer every entry permanent (or fail as a whole with a
	// permanent error). Nil skips the Refusal subtest.
	Refusal func(t *testing.T) (restore func())

	// Reject changes a valid entry into one the sink must refuse on its
	// own (too large for a datagram, say) while the entries around it in
	// the batch are delivered. Nil skips the Reject subtest.
	Reject func(e *logsink.Entry)

	// TimePrecision is the precision of the timestamps the destination
	// keeps (time.Microsecond for RFC 5424 syslog); timestamps are
	// compared truncated to it. Zero compares them exactly.
	TimePrecision time.Duration

	// OpTimeout bounds every single Sink call; DefaultOpTimeout when zero.
	OpTimeout time.Duration

	// DeliveryTimeout is how long written entries may take to show up in
	// Delivered; DefaultDeliveryTimeout when zero.
	DeliveryTimeout time.Duration
}

func (h Harness) opTimeout() time.Duration { return orDefault(h.OpTimeout, DefaultOpTimeout) }

func (h Harness) deliveryTimeout() time.Duration {
	return orDefault(h.DeliveryTimeout, DefaultDeliveryTimeout)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
