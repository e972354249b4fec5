package api

import "github.com/quantixvm/quantix/internal/ratelimit"

// Defaults of RateLimit: a front end flushes at most 100 entries every few
// seconds, so a credential sending more than DefaultUIRate entries a second
// for long is a flood.
const (
	DefaultUIRate  = 100
	DefaultUIBurst = 2000
)

// DefaultUIAddressFactor is how many credentials' worth of entries one
// client address may send in all when RateLimit leaves its address bounds
// zero: a few people behind one address are served.
const DefaultUIAddressFactor = 5

// RateLimit bounds how many entries POST /api/logs/ui takes: each
// credential (auth.Principal.CredentialID: a token or a session) may send
// Burst at once, refilled at PerSecond; each client address AddressBurst in
// all, across its credentials, refilled at AddressPerSecond.
type RateLimit struct {
	PerSecond float64
	Burst     int
	// AddressPerSecond and AddressBurst bound the sum over all credentials
	// of one client address; zero is DefaultUIAddressFactor times PerSecond
	// and Burst.
	AddressPerSecond float64
	AddressBurst     int
}

func (r RateLimit) withDefaults() RateLimit {
	if r.PerSecond <= 0 {
		r.PerSecond = DefaultUIRate
	}
	if r.Burst <= 0 {
		r.Burst = DefaultUIBurst
	}
	if r.AddressPerSecond <= 0 {
		r.AddressPerSecond = DefaultUIAddressFactor * r.PerSecond
	}
	if r.AddressBurst <= 0 {
		r.AddressBurst = DefaultUIAddressFactor * r.Burst
	}
	return r
}

// The classes of the UI limiter's buckets.
const (
	// classSession: one credential (or, on a server without
	// authentication, one address).
	classSession = iota
	// classAddress: everything one client address sends.
	classAddress
)

// maxRateKeys bounds how many buckets the limiter tracks; past it, new
// keys share one bucket per class until idle ones are swept.
const maxRateKeys = 100_000

// newLimiter returns the buckets of r: credentials and client addresses.
func newLimiter(r RateLimit) *ratelimit.Limiter {
	r = r.withDefaults()
	return ratelimit.New(maxRateKeys, []ratelimit.Class{
		classSession: {PerSecond: r.PerSecond, Burst: float64(r.Burst)},
		classAddress: {PerSecond: r.AddressPerSecond, Burst: float64(r.AddressBurst)},
	}...)
}
