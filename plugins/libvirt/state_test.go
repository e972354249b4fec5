package libvirt

import (
	"testing"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/backend"
)

func TestMapState(t *testing.T) {
	tests := []struct {
		state  libvirt.DomainState
		reason int
		want   backend.PowerState
		name   string
	}{
		{libvirt.DOMAIN_RUNNING, int(libvirt.DOMAIN_RUNNING_BOOTED), backend.StateRunning, "booted"},
		{libvirt.DOMAIN_BLOCKED, int(libvirt.DOMAIN_BLOCKED_UNKNOWN), backend.StateRunning, "unknown"},
		{libvirt.DOMAIN_PAUSED, int(libvirt.DOMAIN_PAUSED_USER), backend.StatePaused, "user"},
		{libvirt.DOMAIN_SHUTDOWN, int(libvirt.DOMAIN_SHUTDOWN_USER), backend.StateStopping, "user"},
		{libvirt.DOMAIN_SHUTOFF, int(libvirt.DOMAIN_SHUTOFF_SHUTDOWN), backend.StateStopped, "shutdown"},
		{libvirt.DOMAIN_SHUTOFF, int(libvirt.DOMAIN_SHUTOFF_DESTROYED), backend.StateStopped, "destroyed"},
		{libvirt.DOMAIN_SHUTOFF, int(libvirt.DOMAIN_SHUTOFF_CRASHED), backend.StateCrashed, "crashed"},
		{libvirt.DOMAIN_SHUTOFF, int(libvirt.DOMAIN_SHUTOFF_FAILED), backend.StateCrashed, "failed"},
		{libvirt.DOMAIN_CRASHED, int(libvirt.DOMAIN_CRASHED_PANICKED), backend.StateCrashed, "panicked"},
		{libvirt.DOMAIN_PMSUSPENDED, 0, backend.StateSuspended, "unknown"},
		{libvirt.DOMAIN_NOSTATE, 0, backend.StateUnknown, "unknown"},
		{libvirt.DomainState(99), 42, backend.StateUnknown, "unknown"},
	}
	for _, tt := range tests {
		got, reason := mapState(tt.state, tt.reason)
		if got != tt.want || reason != tt.name {
			t.Errorf("mapState(%d, %d) = %s %q, want %s %q", tt.state, tt.reason, got, reason, tt.want, tt.name)
		}
	}
}

func TestMapEvent(t *testing.T) {
	tests := []struct {
		event  libvirt.DomainEventType
		detail int
		typ    backend.EventType
		state  backend.PowerState
		reason string
	}{
		{libvirt.DOMAIN_EVENT_DEFINED, int(libvirt.DOMAIN_EVENT_DEFINED_ADDED), backend.EventCreated, backend.StateStopped, "added"},
		{libvirt.DOMAIN_EVENT_UNDEFINED, int(libvirt.DOMAIN_EVENT_UNDEFINED_REMOVED), backend.EventDeleted, backend.StateUnknown, "removed"},
		{libvirt.DOMAIN_EVENT_STARTED, int(libvirt.DOMAIN_EVENT_STARTED_BOOTED), backend.EventStateChanged, backend.StateRunning, "booted"},
		{libvirt.DOMAIN_EVENT_RESUMED, int(libvirt.DOMAIN_EVENT_RESUMED_UNPAUSED), backend.EventStateChanged, backend.StateRunning, "unpaused"},
		{libvirt.DOMAIN_EVENT_SUSPENDED, int(libvirt.DOMAIN_EVENT_SUSPENDED_PAUSED), backend.EventStateChanged, backend.StatePaused, "paused"},
		{libvirt.DOMAIN_EVENT_SUSPENDED, int(libvirt.DOMAIN_EVENT_SUSPENDED_IOERROR), backend.EventStateChanged, backend.StatePaused, "ioerror"},
		{libvirt.DOMAIN_EVENT_STOPPED, int(libvirt.DOMAIN_EVENT_STOPPED_SHUTDOWN), backend.EventStateChanged, backend.StateStopped, "shutdown"},
		{libvirt.DOMAIN_EVENT_STOPPED, int(libvirt.DOMAIN_EVENT_STOPPED_DESTROYED), backend.EventStateChanged, backend.StateStopped, "destroyed"},
		{libvirt.DOMAIN_EVENT_STOPPED, int(libvirt.DOMAIN_EVENT_STOPPED_CRASHED), backend.EventStateChanged, backend.StateCrashed, "crashed"},
		{libvirt.DOMAIN_EVENT_STOPPED, int(libvirt.DOMAIN_EVENT_STOPPED_FAILED), backend.EventStateChanged, backend.StateCrashed, "failed"},
		{libvirt.DOMAIN_EVENT_SHUTDOWN, int(libvirt.DOMAIN_EVENT_SHUTDOWN_GUEST), backend.EventStateChanged, backend.StateStopping, "guest"},
		{libvirt.DOMAIN_EVENT_SHUTDOWN, int(libvirt.DOMAIN_EVENT_SHUTDOWN_HOST), backend.EventStateChanged, backend.StateStopping, "host"},
		{libvirt.DOMAIN_EVENT_SHUTDOWN, int(libvirt.DOMAIN_EVENT_SHUTDOWN_FINISHED), backend.EventStateChanged, backend.StateStopped, "finished"},
		{libvirt.DOMAIN_EVENT_CRASHED, int(libvirt.DOMAIN_EVENT_CRASHED_PANICKED), backend.EventStateChanged, backend.StateCrashed, "panicked"},
		{libvirt.DOMAIN_EVENT_PMSUSPENDED, int(libvirt.DOMAIN_EVENT_PMSUSPENDED_MEMORY), backend.EventStateChanged, backend.StateSuspended, "memory"},
		{libvirt.DomainEventType(99), 0, backend.EventStateChanged, backend.StateUnknown, "unknown"},
	}
	for _, tt := range tests {
		typ, state, reason := mapEvent(tt.event, tt.detail)
		if typ != tt.typ || state != tt.state || reason != tt.reason {
			t.Errorf("mapEvent(%d, %d) = %s %s %q, want %s %s %q", tt.event, tt.detail, typ, state, reason, tt.typ, tt.state, tt.reason)
		}
	}
}

func TestFormatVersion(t *testing.T) {
	for v, want := range map[uint32]string{7002022: "7.2.22", 9000000: "9.0.0", 2: "0.0.2", 10010001: "10.10.1"} {
		if got := formatVersion(v); got != want {
			t.Errorf("formatVersion(%d) = %s, want %s", v, got, want)
		}
	}
}
