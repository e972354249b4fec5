package libvirt

import (
	"context"
	"fmt"
	"strings"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// powerFunc changes the power state of dom, whose current state is state.
type powerFunc func(ctx context.Context, s *session, dom *libvirt.Domain, id string, state backend.PowerState) error

// power runs fn on the VM id with the VM's lock held and returns the VM as
// it is afterwards.
func (b *Backend) power(ctx context.Context, id, verb string, fn powerFunc) (*backend.VM, error) {
	id, err := checkID(id)
	if err != nil {
		return nil, err
	}
	unlock, err := b.locks.lock(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%s vm %s: %w", verb, id, err)
	}
	defer unlock()
	var vm *backend.VM
	err = b.withConn(func(s *session, c *libvirt.Connect) error {
		dom, err := lookupDomain(c, id)
		if err != nil {
			return err
		}
		defer dom.Free()
		state, err := domainState(dom)
		if err != nil {
			return classify(err, "%s vm %s: reading its state", verb, id)
		}
		if err := fn(ctx, s, dom, id, state); err != nil {
			return err
		}
		vm, err = b.getVM(c, id)
		return err
	})
	return vm, err
}

func domainState(dom *libvirt.Domain) (backend.PowerState, error) {
	st, reason, err := dom.GetState()
	if err != nil {
		return backend.StateUnknown, err
	}
	state, _ := mapState(st, reason)
	return state, nil
}

// stateConflict is the error for a transition the current state forbids.
func stateConflict(verb, id string, state backend.PowerState, hint string) error {
	return plugin.Conflict("%s vm %s: vm is %s%s", verb, id, strings.ToLower(string(state)), hint)
}

// StartVM boots a stopped or crashed VM; a running one is left alone.
func (b *Backend) StartVM(ctx context.Context, id string) (*backend.VM, error) {
	return b.power(ctx, id, "starting", startVM)
}

func startVM(_ context.Context, _ *session, dom *libvirt.Domain, id string, state backend.PowerState) error {
	switch state {
	case backend.StateRunning:
		return nil
	case backend.StatePaused:
		return stateConflict("starting", id, state, "; resume it")
	case backend.StateStopped, backend.StateCrashed:
	default:
		return stateConflict("starting", id, state, "")
	}
	if active, err := dom.IsActive(); err == nil && active {
		if err := destroy(dom); err != nil {
			return classify(err, "starting vm %s: clearing the crashed instance", id)
		}
	}
	if err := dom.Create(); err != nil {
		if now, serr := domainState(dom); serr == nil && now == backend.StateRunning {
			return nil
		}
		return classify(err, "starting vm %s", id)
	}
	return nil
}

// StopVM shuts a VM down: an ACPI request first, then, when the guest has
// not shut off within opts.Timeout, a hard stop. opts.Force stops it hard at
// once, and so is a paused or suspended VM, which cannot act on ACPI.
func (b *Backend) StopVM(ctx context.Context, id string, opts backend.StopOptions) (*backend.VM, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = backend.DefaultStopTimeout
	}
	return b.power(ctx, id, "stopping", func(ctx context.Context, _ *session, dom *libvirt.Domain, id string, state backend.PowerState) error {
		active, err := dom.IsActive()
		if err != nil {
			return classify(err, "stopping vm %s", id)
		}
		switch {
		case !active:
			return nil
		case opts.Force || (state != backend.StateRunning && state != backend.StateStopping):
			return classify(destroy(dom), "stopping vm %s", id)
		}
		return b.shutdown(ctx, dom, id, timeout)
	})
}

// shutdown asks the guest to power off and destroys it when it has not
// within timeout.
func (b *Backend) shutdown(ctx context.Context, dom *libvirt.Domain, id string, timeout time.Duration) error {
	if err := dom.Shutdown(); err != nil {
		if off, _ := isOff(dom); off {
			return nil
		}
		b.log.Debug("acpi shutdown refused, destroying", "id", id, "error", err)
		return classify(destroy(dom), "stopping vm %s", id)
	}
	off, err := b.waitOff(ctx, dom, timeout)
	if err != nil {
		return classify(err, "stopping vm %s", id)
	}
	if off {
		return nil
	}
	b.log.Info("guest ignored shutdown, destroying", "id", id, "timeout", timeout)
	return classify(destroy(dom), "stopping vm %s", id)
}

// waitOff polls until the domain is shut off (true), timeout passes (false)
// or ctx ends (its error).
func (b *Backend) waitOff(ctx context.Context, dom *libvirt.Domain, timeout time.Duration) (bool, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(b.pollInterval)
	defer tick.Stop()
	for {
		if off, err := isOff(dom); err != nil || off {
			return off, err
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-deadline.C:
			return isOff(dom)
		case <-tick.C:
		}
	}
}

func isOff(dom *libvirt.Domain) (bool, error) {
	st, _, err := dom.GetState()
	if err != nil {
		return false, err
	}
	return st == libvirt.DOMAIN_SHUTOFF, nil
}

// destroy stops a domain hard; one that is already off is fine.
func destroy(dom *libvirt.Domain) error {
	err := dom.Destroy()
	if err == nil {
		return nil
	}
	if off, serr := isOff(dom); serr == nil && off {
		return nil
	}
	if hasCode(err, libvirt.ERR_NO_DOMAIN) {
		return nil
	}
	return err
}

// RebootVM reboots a running VM: an ACPI reboot request first, a hard reset
// when the guest does not act on it within the reboot grace period.
func (b *Backend) RebootVM(ctx context.Context, id string) (*backend.VM, error) {
	return b.power(ctx, id, "rebooting", func(ctx context.Context, s *session, dom *libvirt.Domain, id string, state backend.PowerState) error {
		if state != backend.StateRunning {
			return stateConflict("rebooting", id, state, "")
		}
		return b.reboot(ctx, s, dom, id)
	})
}

func (b *Backend) reboot(ctx context.Context, s *session, dom *libvirt.Domain, id string) error {
	events, stop := b.events.waitFor(id)
	defer stop()
	if err := dom.Reboot(0); err != nil {
		b.log.Debug("reboot request refused, resetting", "id", id, "error", err)
		return classify(dom.Reset(0), "rebooting vm %s", id)
	}
	if s.testDriver {
		// The test driver reboots synchronously and emits no event.
		return nil
	}
	acted, err := waitReboot(ctx, events, s.rebootGrace)
	if err != nil {
		return fmt.Errorf("rebooting vm %s: %w", id, err)
	}
	if acted {
		return nil
	}
	b.log.Info("guest ignored reboot request, resetting", "id", id, "grace", s.rebootGrace)
	return classify(dom.Reset(0), "rebooting vm %s", id)
}

// waitReboot waits for a sign that the guest acted on a reboot request: a
// reboot event, or a shutdown, stop or start of the domain.
func waitReboot(ctx context.Context, events <-chan rawEvent, timeout time.Duration) (bool, error) {
	grace := time.NewTimer(timeout)
	defer grace.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-grace.C:
			return false, nil
		case ev := <-events:
			if ev.kind == rawReboot || ev.event == libvirt.DOMAIN_EVENT_SHUTDOWN ||
				ev.event == libvirt.DOMAIN_EVENT_STOPPED || ev.event == libvirt.DOMAIN_EVENT_STARTED {
				return true, nil
			}
		}
	}
}

// PauseVM suspends a running VM's vCPUs.
func (b *Backend) PauseVM(ctx context.Context, id string) (*backend.VM, error) {
	return b.power(ctx, id, "pausing", func(_ context.Context, _ *session, dom *libvirt.Domain, id string, state backend.PowerState) error {
		switch state {
		case backend.StatePaused:
			return nil
		case backend.StateRunning:
			return classify(dom.Suspend(), "pausing vm %s", id)
		}
		return stateConflict("pausing", id, state, "")
	})
}

// ResumeVM resumes a paused VM.
func (b *Backend) ResumeVM(ctx context.Context, id string) (*backend.VM, error) {
	return b.power(ctx, id, "resuming", func(_ context.Context, _ *session, dom *libvirt.Domain, id string, state backend.PowerState) error {
		switch state {
		case backend.StateRunning:
			return nil
		case backend.StatePaused:
			return classify(dom.Resume(), "resuming vm %s", id)
		}
		return stateConflict("resuming", id, state, "")
	})
}

// fillCreated sets the state of a created event from the VM's state.
func (b *Backend) fillCreated(ev *backend.Event) {
	_ = b.withConn(func(_ *session, c *libvirt.Connect) error {
		dom, err := c.LookupDomainByUUIDString(ev.VMID)
		if err != nil {
			return err
		}
		defer dom.Free()
		if state, err := domainState(dom); err == nil {
			ev.State = state
		}
		return nil
	})
}
