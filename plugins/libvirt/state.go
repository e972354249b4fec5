package libvirt

import (
	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/backend"
)

// Reason names of libvirt domain states, by state and reason code.
var stateReasons = map[libvirt.DomainState]map[int]string{
	libvirt.DOMAIN_RUNNING: {
		int(libvirt.DOMAIN_RUNNING_UNKNOWN):            "unknown",
		int(libvirt.DOMAIN_RUNNING_BOOTED):             "booted",
		int(libvirt.DOMAIN_RUNNING_MIGRATED):           "migrated",
		int(libvirt.DOMAIN_RUNNING_RESTORED):           "restored",
		int(libvirt.DOMAIN_RUNNING_FROM_SNAPSHOT):      "from snapshot",
		int(libvirt.DOMAIN_RUNNING_UNPAUSED):           "unpaused",
		int(libvirt.DOMAIN_RUNNING_MIGRATION_CANCELED): "migration canceled",
		int(libvirt.DOMAIN_RUNNING_SAVE_CANCELED):      "save canceled",
		int(libvirt.DOMAIN_RUNNING_WAKEUP):             "wakeup",
		int(libvirt.DOMAIN_RUNNING_CRASHED):            "crashed",
		int(libvirt.DOMAIN_RUNNING_POSTCOPY):           "postcopy",
		int(libvirt.DOMAIN_RUNNING_POSTCOPY_FAILED):    "postcopy failed",
	},
	libvirt.DOMAIN_PAUSED: {
		int(libvirt.DOMAIN_PAUSED_UNKNOWN):         "unknown",
		int(libvirt.DOMAIN_PAUSED_USER):            "user",
		int(libvirt.DOMAIN_PAUSED_MIGRATION):       "migration",
		int(libvirt.DOMAIN_PAUSED_SAVE):            "save",
		int(libvirt.DOMAIN_PAUSED_DUMP):            "dump",
		int(libvirt.DOMAIN_PAUSED_IOERROR):         "ioerror",
		int(libvirt.DOMAIN_PAUSED_WATCHDOG):        "watchdog",
		int(libvirt.DOMAIN_PAUSED_FROM_SNAPSHOT):   "from snapshot",
		int(libvirt.DOMAIN_PAUSED_SHUTTING_DOWN):   "shutting down",
		int(libvirt.DOMAIN_PAUSED_SNAPSHOT):        "snapshot",
		int(libvirt.DOMAIN_PAUSED_CRASHED):         "crashed",
		int(libvirt.DOMAIN_PAUSED_STARTING_UP):     "starting up",
		int(libvirt.DOMAIN_PAUSED_POSTCOPY):        "postcopy",
		int(libvirt.DOMAIN_PAUSED_POSTCOPY_FAILED): "postcopy failed",
		int(libvirt.DOMAIN_PAUSED_API_ERROR):       "api error",
	},
	libvirt.DOMAIN_SHUTOFF: {
		int(libvirt.DOMAIN_SHUTOFF_UNKNOWN):       "unknown",
		int(libvirt.DOMAIN_SHUTOFF_SHUTDOWN):      "shutdown",
		int(libvirt.DOMAIN_SHUTOFF_DESTROYED):     "destroyed",
		int(libvirt.DOMAIN_SHUTOFF_CRASHED):       "crashed",
		int(libvirt.DOMAIN_SHUTOFF_MIGRATED):      "migrated",
		int(libvirt.DOMAIN_SHUTOFF_SAVED):         "saved",
		int(libvirt.DOMAIN_SHUTOFF_FAILED):        "failed",
		int(libvirt.DOMAIN_SHUTOFF_FROM_SNAPSHOT): "from snapshot",
		int(libvirt.DOMAIN_SHUTOFF_DAEMON):        "daemon",
	},
	libvirt.DOMAIN_SHUTDOWN: {
		int(libvirt.DOMAIN_SHUTDOWN_UNKNOWN): "unknown",
		int(libvirt.DOMAIN_SHUTDOWN_USER):    "user",
	},
	libvirt.DOMAIN_CRASHED: {
		int(libvirt.DOMAIN_CRASHED_UNKNOWN):  "unknown",
		int(libvirt.DOMAIN_CRASHED_PANICKED): "panicked",
	},
}

// mapState maps a libvirt domain state and reason to a power state and the
// reason's name.
func mapState(state libvirt.DomainState, reason int) (backend.PowerState, string) {
	name := stateReasons[state][reason]
	if name == "" {
		name = "unknown"
	}
	switch state {
	case libvirt.DOMAIN_RUNNING, libvirt.DOMAIN_BLOCKED:
		return backend.StateRunning, name
	case libvirt.DOMAIN_PAUSED:
		return backend.StatePaused, name
	case libvirt.DOMAIN_SHUTDOWN:
		return backend.StateStopping, name
	case libvirt.DOMAIN_SHUTOFF:
		if reason == int(libvirt.DOMAIN_SHUTOFF_CRASHED) || reason == int(libvirt.DOMAIN_SHUTOFF_FAILED) {
			return backend.StateCrashed, name
		}
		return backend.StateStopped, name
	case libvirt.DOMAIN_CRASHED:
		return backend.StateCrashed, name
	case libvirt.DOMAIN_PMSUSPENDED:
		return backend.StateSuspended, name
	}
	return backend.StateUnknown, name
}

// Detail names of lifecycle events, by event and detail code.
var eventDetails = map[libvirt.DomainEventType]map[int]string{
	libvirt.DOMAIN_EVENT_DEFINED: {
		int(libvirt.DOMAIN_EVENT_DEFINED_ADDED):         "added",
		int(libvirt.DOMAIN_EVENT_DEFINED_UPDATED):       "updated",
		int(libvirt.DOMAIN_EVENT_DEFINED_RENAMED):       "renamed",
		int(libvirt.DOMAIN_EVENT_DEFINED_FROM_SNAPSHOT): "from snapshot",
	},
	libvirt.DOMAIN_EVENT_UNDEFINED: {
		int(libvirt.DOMAIN_EVENT_UNDEFINED_REMOVED): "removed",
		int(libvirt.DOMAIN_EVENT_UNDEFINED_RENAMED): "renamed",
	},
	libvirt.DOMAIN_EVENT_STARTED: {
		int(libvirt.DOMAIN_EVENT_STARTED_BOOTED):        "booted",
		int(libvirt.DOMAIN_EVENT_STARTED_MIGRATED):      "migrated",
		int(libvirt.DOMAIN_EVENT_STARTED_RESTORED):      "restored",
		int(libvirt.DOMAIN_EVENT_STARTED_FROM_SNAPSHOT): "from snapshot",
		int(libvirt.DOMAIN_EVENT_STARTED_WAKEUP):        "wakeup",
		int(libvirt.DOMAIN_EVENT_STARTED_RECREATED):     "recreated",
	},
	libvirt.DOMAIN_EVENT_SUSPENDED: {
		int(libvirt.DOMAIN_EVENT_SUSPENDED_PAUSED):          "paused",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_MIGRATED):        "migrated",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_IOERROR):         "ioerror",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_WATCHDOG):        "watchdog",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_RESTORED):        "restored",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT):   "from snapshot",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_API_ERROR):       "api error",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_POSTCOPY):        "postcopy",
		int(libvirt.DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED): "postcopy failed",
	},
	libvirt.DOMAIN_EVENT_RESUMED: {
		int(libvirt.DOMAIN_EVENT_RESUMED_UNPAUSED):        "unpaused",
		int(libvirt.DOMAIN_EVENT_RESUMED_MIGRATED):        "migrated",
		int(libvirt.DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT):   "from snapshot",
		int(libvirt.DOMAIN_EVENT_RESUMED_POSTCOPY):        "postcopy",
		int(libvirt.DOMAIN_EVENT_RESUMED_POSTCOPY_FAILED): "postcopy failed",
	},
	libvirt.DOMAIN_EVENT_STOPPED: {
		int(libvirt.DOMAIN_EVENT_STOPPED_SHUTDOWN):      "shutdown",
		int(libvirt.DOMAIN_EVENT_STOPPED_DESTROYED):     "destroyed",
		int(libvirt.DOMAIN_EVENT_STOPPED_CRASHED):       "crashed",
		int(libvirt.DOMAIN_EVENT_STOPPED_MIGRATED):      "migrated",
		int(libvirt.DOMAIN_EVENT_STOPPED_SAVED):         "saved",
		int(libvirt.DOMAIN_EVENT_STOPPED_FAILED):        "failed",
		int(libvirt.DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT): "from snapshot",
		int(libvirt.DOMAIN_EVENT_STOPPED_RECREATED):     "recreated",
	},
	libvirt.DOMAIN_EVENT_SHUTDOWN: {
		int(libvirt.DOMAIN_EVENT_SHUTDOWN_FINISHED): "finished",
		int(libvirt.DOMAIN_EVENT_SHUTDOWN_GUEST):    "guest",
		int(libvirt.DOMAIN_EVENT_SHUTDOWN_HOST):     "host",
	},
	libvirt.DOMAIN_EVENT_PMSUSPENDED: {
		int(libvirt.DOMAIN_EVENT_PMSUSPENDED_MEMORY): "memory",
		int(libvirt.DOMAIN_EVENT_PMSUSPENDED_DISK):   "disk",
	},
	libvirt.DOMAIN_EVENT_CRASHED: {
		int(libvirt.DOMAIN_EVENT_CRASHED_PANICKED):    "panicked",
		int(libvirt.DOMAIN_EVENT_CRASHED_CRASHLOADED): "crashloaded",
	},
}

// mapEvent maps a libvirt lifecycle event to a Quantix event type, the
// state the VM is in after it and the detail's name.
func mapEvent(event libvirt.DomainEventType, detail int) (backend.EventType, backend.PowerState, string) {
	reason := eventDetails[event][detail]
	if reason == "" {
		reason = "unknown"
	}
	switch event {
	case libvirt.DOMAIN_EVENT_DEFINED:
		return backend.EventCreated, backend.StateStopped, reason
	case libvirt.DOMAIN_EVENT_UNDEFINED:
		return backend.EventDeleted, backend.StateUnknown, reason
	}
	return backend.EventStateChanged, eventState(event, detail), reason
}

func eventState(event libvirt.DomainEventType, detail int) backend.PowerState {
	switch event {
	case libvirt.DOMAIN_EVENT_STARTED, libvirt.DOMAIN_EVENT_RESUMED:
		return backend.StateRunning
	case libvirt.DOMAIN_EVENT_SUSPENDED:
		return backend.StatePaused
	case libvirt.DOMAIN_EVENT_STOPPED:
		if detail == int(libvirt.DOMAIN_EVENT_STOPPED_CRASHED) || detail == int(libvirt.DOMAIN_EVENT_STOPPED_FAILED) {
			return backend.StateCrashed
		}
		return backend.StateStopped
	case libvirt.DOMAIN_EVENT_SHUTDOWN:
		if detail == int(libvirt.DOMAIN_EVENT_SHUTDOWN_FINISHED) {
			return backend.StateStopped
		}
		return backend.StateStopping
	case libvirt.DOMAIN_EVENT_CRASHED:
		return backend.StateCrashed
	case libvirt.DOMAIN_EVENT_PMSUSPENDED:
		return backend.StateSuspended
	}
	return backend.StateUnknown
}
