package logsink

import (
	"bytes"
	"encoding/json"
	"time"
)

// Entry is one log entry, the same for every source (docs/logs.md). Its JSON
// form, with these snake_case keys, is what file and webhook sinks write.
// Optional fields are left out of the JSON when empty.
type Entry struct {
	// ID identifies the entry; an entry delivered twice (at-least-once
	// delivery) has the same id both times.
	ID string `json:"id"`
	// Timestamp is when the entry was made.
	Timestamp time.Time `json:"timestamp"`
	// Level is debug, info, warn or error.
	Level Level `json:"level"`
	// Source says where the entry comes from: ui, audit, system or qemu.
	Source Source `json:"source"`
	// Component is the part of the product the entry is about; empty when
	// the source has none.
	Component Component `json:"component"`
	// Message is the text of the entry; it may hold any Unicode, newlines
	// included.
	Message string `json:"message"`
	// Fields holds free-form attributes as a JSON object, or nothing.
	Fields json.RawMessage `json:"fields,omitempty"`
	// VMID is the VM the entry is about.
	VMID string `json:"vm_id,omitempty"`
	// NodeID is the node the entry comes from or is about.
	NodeID string `json:"node_id,omitempty"`
	// UserID is the user who acted, when known.
	UserID string `json:"user_id,omitempty"`
	// SessionID is the front-end session the entry comes from.
	SessionID string `json:"session_id,omitempty"`
	// CorrelationID ties together the entries of one operation, e.g. a UI
	// click and the API call it made (the request id).
	CorrelationID string `json:"correlation_id,omitempty"`
	// Action is what was done, e.g. "click" or "vm.start".
	Action string `json:"action,omitempty"`
	// Target is what it was done to, e.g. a button or a route.
	Target string `json:"target,omitempty"`
	// UserAction is true for entries recording what a user did in a front
	// end.
	UserAction bool `json:"user_action"`
}

// HasFields reports whether the entry carries fields: Fields is neither
// empty nor the JSON null.
func (e Entry) HasFields() bool {
	f := bytes.TrimSpace(e.Fields)
	return len(f) > 0 && string(f) != "null"
}

// Level is the severity of an entry.
type Level string

// Levels, least severe first.
const (
	LevelDebug Level = "debug"
	LevelInfo  Level = "info"
	LevelWarn  Level = "warn"
	LevelError Level = "error"
)

// Levels lists every level, least severe first.
var Levels = []Level{LevelDebug, LevelInfo, LevelWarn, LevelError}

// Rank orders levels for "at least" filters: 0 for debug up to 3 for error,
// -1 for a string that is not a level.
func (l Level) Rank() int {
	switch l {
	case LevelDebug:
		return 0
	case LevelInfo:
		return 1
	case LevelWarn:
		return 2
	case LevelError:
		return 3
	}
	return -1
}

// Source says which part of Quantix an entry comes from.
type Source string

// Sources.
const (
	// SourceUI: actions logged by a front end (POST /api/logs/ui).
	SourceUI Source = "ui"
	// SourceAudit: every mutating API call, who did what and the result.
	SourceAudit Source = "audit"
	// SourceSystem: the daemon's own log.
	SourceSystem Source = "system"
	// SourceQEMU: QEMU log lines of running VMs, shipped by the agents.
	SourceQEMU Source = "qemu"
)

// Sources lists every source.
var Sources = []Source{SourceUI, SourceAudit, SourceSystem, SourceQEMU}

// Component is the part of the product an entry is about.
type Component string

// Components.
const (
	ComponentVM         Component = "vm"
	ComponentStorage    Component = "storage"
	ComponentNetwork    Component = "network"
	ComponentNode       Component = "node"
	ComponentCluster    Component = "cluster"
	ComponentAuth       Component = "auth"
	ComponentSettings   Component = "settings"
	ComponentDashboard  Component = "dashboard"
	ComponentConsole    Component = "console"
	ComponentLogs       Component = "logs"
	ComponentAlerts     Component = "alerts"
	ComponentMonitoring Component = "monitoring"
	ComponentUpdates    Component = "updates"
	ComponentFolders    Component = "folders"
	ComponentImages     Component = "images"
	ComponentSystem     Component = "system"
	ComponentQEMU       Component = "qemu"
)

// Components lists every component.
var Components = []Component{
	ComponentVM, ComponentStorage, ComponentNetwork, ComponentNode, ComponentCluster,
	ComponentAuth, ComponentSettings, ComponentDashboard, ComponentConsole, ComponentLogs,
	ComponentAlerts, ComponentMonitoring, ComponentUpdates, ComponentFolders, ComponentImages,
	ComponentSystem, ComponentQEMU,
}
