// Package restart schedules the restarts of the VMs a restart policy wants
// running: one pending attempt per VM, exponential backoff between failed
// ones, and giving up after too many failures within a window. It knows
// nothing of how a VM is started: the control plane's Attempt does that and
// says how it went, and GiveUp records that the scheduler stopped trying.
package restart

import (
	"errors"
	"slices"
	"sync"
	"time"
)

// Options tune restarts; zero values take the defaults named on each field.
type Options struct {
	// BaseDelay is the wait before the first attempt; every failure within
	// Window doubles it (1s).
	BaseDelay time.Duration
	// MaxDelay caps the wait (1m).
	MaxDelay time.Duration
	// MaxFailures failures within Window make the scheduler give up (5 in
	// 10m). A failure is an attempt that failed, or the VM stopping again
	// within Window of a restart.
	MaxFailures int
	Window      time.Duration
}

// Defaults of Options.
const (
	DefaultBaseDelay   = time.Second
	DefaultMaxDelay    = time.Minute
	DefaultMaxFailures = 5
	DefaultWindow      = 10 * time.Minute
)

// SetDefaults fills the unset options with their defaults.
func (o *Options) SetDefaults() {
	if o.BaseDelay <= 0 {
		o.BaseDelay = DefaultBaseDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
}

// Delay is the wait before the attempt that follows failures failures.
func (o Options) Delay(failures int) time.Duration {
	d := o.BaseDelay
	for range failures {
		if d >= o.MaxDelay/2 {
			return o.MaxDelay
		}
		d *= 2
	}
	return min(d, o.MaxDelay)
}

// Outcome is how an attempt went.
type Outcome int

const (
	// Done: the VM was started.
	Done Outcome = iota
	// Failed: the attempt failed; another follows after the backoff,
	// unless that makes too many failures within the window.
	Failed
	// Moot: the VM no longer wants a restart (the user started or stopped
	// it, changed its policy or desired state, it is gone).
	Moot
)

// Attempt starts VM id for the attempt-th time in a row and says how it
// went (with the error of a failure).
type Attempt func(id string, attempt int) (Outcome, error)

// GiveUp is told that the scheduler stopped restarting VM id after
// failures failures within window, the last with lastErr.
type GiveUp func(id string, failures int, window time.Duration, lastErr error)

// Scheduler runs the restarts. Its methods may be called concurrently.
type Scheduler struct {
	opts    Options
	now     func() time.Time
	attempt Attempt
	giveUp  GiveUp

	mu      sync.Mutex
	vms     map[string]*history
	stopped bool
	running sync.WaitGroup
}

// history is one VM's restarts.
type history struct {
	failures []time.Time
	// restarted is when the last restart succeeded.
	restarted time.Time
	// timer is the pending attempt.
	timer   *time.Timer
	lastErr error
}

// New returns a scheduler with opts (defaults filled in), reading the time
// from now (time.Now when nil).
func New(opts Options, now func() time.Time, attempt Attempt, giveUp GiveUp) *Scheduler {
	opts.SetDefaults()
	if now == nil {
		now = time.Now
	}
	return &Scheduler{opts: opts, now: now, attempt: attempt, giveUp: giveUp, vms: make(map[string]*history)}
}

// Trigger schedules a restart of VM id, which stopped or crashed without
// being asked to and whose policy wants it running. A VM with an attempt
// pending is left as it is; one down again within the window of its last
// restart counts that restart as failed.
func (s *Scheduler) Trigger(id string) {
	now := s.now()
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	h := s.vms[id]
	if h == nil {
		h = &history{}
		s.vms[id] = h
	}
	if h.timer != nil {
		s.mu.Unlock()
		return
	}
	if !h.restarted.IsZero() && now.Sub(h.restarted) < s.opts.Window {
		h.failures = append(h.failures, now)
		h.lastErr = errors.New("it stopped again soon after being restarted")
	}
	gaveUp := s.schedule(id, h, now)
	s.mu.Unlock()
	if gaveUp != nil {
		s.giveUp(id, len(gaveUp.failures), s.opts.Window, gaveUp.lastErr)
	}
}

// schedule arms the next attempt of VM id, or, past MaxFailures failures in
// Window, forgets the VM and returns its history; s.mu is held.
func (s *Scheduler) schedule(id string, h *history, now time.Time) *history {
	h.failures = slices.DeleteFunc(h.failures, func(t time.Time) bool { return now.Sub(t) >= s.opts.Window })
	if len(h.failures) >= s.opts.MaxFailures {
		delete(s.vms, id)
		return h
	}
	h.timer = time.AfterFunc(s.opts.Delay(len(h.failures)), func() { s.run(id) })
	return nil
}

// run makes the pending attempt of VM id and schedules the next one if it
// failed.
func (s *Scheduler) run(id string) {
	s.mu.Lock()
	h := s.vms[id]
	if s.stopped || h == nil {
		s.mu.Unlock()
		return
	}
	h.timer = nil
	n := len(h.failures) + 1
	s.running.Add(1)
	s.mu.Unlock()
	defer s.running.Done()

	outcome, err := s.attempt(id, n)
	now := s.now()
	s.mu.Lock()
	if s.vms[id] != h || s.stopped {
		// Forgotten meanwhile.
		s.mu.Unlock()
		return
	}
	var gaveUp *history
	switch outcome {
	case Done:
		h.restarted = now
	case Moot:
		delete(s.vms, id)
	case Failed:
		h.failures = append(h.failures, now)
		h.lastErr = err
		gaveUp = s.schedule(id, h, now)
	}
	s.mu.Unlock()
	if gaveUp != nil {
		s.giveUp(id, len(gaveUp.failures), s.opts.Window, gaveUp.lastErr)
	}
}

// Forget drops VM id's history and its pending attempt: a user acted on
// the VM.
func (s *Scheduler) Forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.vms[id]; h != nil {
		if h.timer != nil {
			h.timer.Stop()
		}
		delete(s.vms, id)
	}
}

// Tracked says whether the scheduler keeps a history of VM id.
func (s *Scheduler) Tracked(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vms[id] != nil
}

// Stop cancels every pending attempt and waits for those under way; later
// triggers do nothing.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	s.stopped = true
	for _, h := range s.vms {
		if h.timer != nil {
			h.timer.Stop()
		}
	}
	s.mu.Unlock()
	s.running.Wait()
}
