package pluginhost

import (
	"context"
	"fmt"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Status is a plugin's health as the node reports it.
type Status struct {
	// Name is the plugin's configured name.
	Name string
	// Healthy is true while the plugin is running and configured.
	Healthy bool
	// PID is the plugin's process id, 0 while it is down or in-process.
	PID int
	// Restarts counts successful relaunches since the host started it.
	Restarts int
	// LastError is why the plugin last went down or failed to relaunch; nil
	// when it never did.
	LastError error
	// Since is when Healthy last changed.
	Since time.Time
	// Info is what the plugin said about itself at its last launch.
	Info plugin.Info
	// APIVersion is the negotiated API version.
	APIVersion int
	// InProcess is true for a backend linked into the daemon.
	InProcess bool
}

// RelaunchFunc is told that a plugin came back after a crash: generation is
// 1 for the first launch and grows by one with each relaunch. Whatever the
// plugin held before (event streams, in-flight work) is gone, so a listener
// resyncs. It runs on its own goroutine.
type RelaunchFunc func(generation int)

// supervise watches the running instance and relaunches it when its process
// exits, until Close.
func (s *supervised) supervise(inst *instance) {
	defer close(s.stopped)
	backoff := s.sup.InitialBackoff
	for {
		if !s.waitExit(inst) {
			s.closeErr = inst.kill(ErrClosed)
			return
		}
		uptime := time.Since(inst.started)
		inst.markDead(ErrPluginExited)
		_ = inst.proc.kill() // the process is gone: this reaps and cleans up
		if uptime >= s.sup.StableAfter {
			backoff = s.sup.InitialBackoff
		}
		s.markDown(inst, uptime, backoff)
		inst = nil
		for inst == nil {
			if !s.sleep(backoff) {
				return
			}
			next, err := s.launch(s.ctx)
			wait := backoff
			backoff = min(2*backoff, s.sup.MaxBackoff)
			if err != nil {
				s.launchFailed(err, wait, backoff)
				continue
			}
			if !s.install(next) {
				s.closeErr = next.kill(ErrClosed)
				return
			}
			inst = next
		}
	}
}

// waitExit returns true when the instance's process has exited, false when
// the plugin is being closed.
func (s *supervised) waitExit(inst *instance) bool {
	t := time.NewTicker(s.sup.PollInterval)
	defer t.Stop()
	for {
		if inst.proc.client.Exited() {
			return true
		}
		select {
		case <-s.closing:
			return false
		case <-t.C:
		case <-s.kick:
		}
	}
}

// poke asks the supervisor to look at the process now: a call just failed
// as unavailable.
func (s *supervised) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// sleep waits d; false when the plugin is being closed.
func (s *supervised) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.closing:
		return false
	case <-t.C:
		return true
	}
}

func (s *supervised) markDown(inst *instance, uptime, backoff time.Duration) {
	err := fmt.Errorf("process %d exited after %s: %w", inst.proc.pid, uptime.Round(time.Millisecond), ErrPluginExited)
	s.mu.Lock()
	if s.cur == inst {
		s.cur = nil
	}
	s.status.Healthy = false
	s.status.PID = 0
	s.status.LastError = err
	s.status.Since = time.Now()
	s.mu.Unlock()
	s.metrics.exited(s.kind, s.name)
	s.logger.Error("plugin process exited; relaunching", "pid", inst.proc.pid, "uptime", uptime.Round(time.Millisecond), "relaunch_in", backoff)
}

func (s *supervised) launchFailed(err error, waited, next time.Duration) {
	s.mu.Lock()
	s.status.LastError = err
	s.mu.Unlock()
	s.logger.Error("relaunching plugin failed", "error", err, "waited", waited, "next_attempt_in", next)
}

// install makes next the running instance and tells the listeners; false
// when the plugin was closed meanwhile.
func (s *supervised) install(next *instance) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.cur = next
	s.status.Healthy = true
	s.status.PID = next.proc.pid
	s.status.Restarts++
	s.status.Since = time.Now()
	s.status.Info = next.info
	s.status.APIVersion = next.apiVersion
	generation := s.status.Restarts + 1
	listeners := make([]RelaunchFunc, 0, len(s.listeners))
	for _, fn := range s.listeners {
		listeners = append(listeners, fn)
	}
	s.mu.Unlock()
	s.metrics.relaunched(s.kind, s.name)
	s.logger.Info("plugin relaunched", "pid", next.proc.pid, "generation", generation)
	for _, fn := range listeners {
		go fn(generation)
	}
	return true
}

// OnRelaunch registers fn to be called after each relaunch, once the new
// process is configured and serving; remove unregisters it.
func (s *supervised) OnRelaunch(fn RelaunchFunc) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextListener
	s.nextListener++
	s.listeners[id] = fn
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.listeners, id)
	}
}

// Status returns the plugin's current health.
func (s *supervised) Status() Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.status
}

// Health returns nil while the plugin runs and reports that it can reach its
// hypervisor; otherwise an error matching plugin.ErrUnavailable that says why.
func (s *SupervisedBackend) Health(ctx context.Context) error {
	_, err := call(s, ctx, func(ctx context.Context, c *backend.GRPCClient) (struct{}, error) {
		return struct{}{}, c.Health(ctx)
	})
	return err
}
