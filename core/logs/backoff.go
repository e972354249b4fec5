package logs

import (
	"math/rand/v2"
	"time"
)

// Defaults of RetryOptions.
const (
	DefaultRetryInitial = 200 * time.Millisecond
	DefaultRetryMax     = 30 * time.Second
)

// RetryOptions tune how a consumer waits between deliveries of entries a
// sink answered retryable: Initial, then doubling up to Max, each wait
// drawn between half and all of it (jitter). Entries are retried until
// delivered: a sink that is down delays them, it never loses them.
type RetryOptions struct {
	Initial time.Duration
	Max     time.Duration
}

func (o RetryOptions) withDefaults() RetryOptions {
	if o.Initial <= 0 {
		o.Initial = DefaultRetryInitial
	}
	if o.Max <= 0 {
		o.Max = DefaultRetryMax
	}
	if o.Max < o.Initial {
		o.Max = o.Initial
	}
	return o
}

// delay is the wait before retry number attempt (0 for the first retry).
func (o RetryOptions) delay(attempt int) time.Duration {
	d := o.Initial
	for i := 0; i < attempt && d < o.Max; i++ {
		d *= 2
	}
	d = min(d, o.Max)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
