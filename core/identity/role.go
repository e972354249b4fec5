// Package identity holds the credential primitives of Quantix: roles and what
// they allow, argon2id password hashes, and API tokens. It keeps no state and
// speaks no HTTP; stores and middleware build on it.
package identity

import (
	"fmt"
	"strings"
)

// Role is what a principal (a user or an API token) may do. The zero value is
// not a valid role and allows nothing.
type Role string

// The roles, from most to least privileged.
const (
	// RoleAdmin may do everything, including managing users, tokens and nodes.
	RoleAdmin Role = "admin"
	// RoleOperator may read everything and operate VMs (create, change,
	// delete, actions) and logs, but not manage users, tokens or nodes.
	RoleOperator Role = "operator"
	// RoleViewer may read everything (every GET and every stream) and
	// change nothing.
	RoleViewer Role = "viewer"
)

// Roles lists every valid role, from most to least privileged.
var Roles = []Role{RoleAdmin, RoleOperator, RoleViewer}

// Action is the kind of a request, as authorization sees it. Every route maps
// to exactly one action.
type Action int

const (
	// ActionRead is every GET and every event or log stream.
	ActionRead Action = iota + 1
	// ActionOperate is every change to VMs, their actions (start, stop,
	// reboot, ...) and logs.
	ActionOperate
	// ActionAdminister is every change to users, tokens and nodes.
	ActionAdminister
)

// String names the action as errors and audit entries show it.
func (a Action) String() string {
	switch a {
	case ActionRead:
		return "read"
	case ActionOperate:
		return "operate"
	case ActionAdminister:
		return "administer"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// ParseRole returns the role named s (exactly, lower case). An unknown name
// is an error that lists the valid roles.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if s == string(r) {
			return r, nil
		}
	}
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = string(r)
	}
	return "", fmt.Errorf("unknown role %q: the role must be one of %s", s, strings.Join(names, ", "))
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool {
	_, err := ParseRole(string(r))
	return err == nil
}

// Allows reports whether r may perform action a. An invalid role or an
// unknown action allows nothing.
func (r Role) Allows(a Action) bool {
	switch a {
	case ActionRead:
		return r == RoleAdmin || r == RoleOperator || r == RoleViewer
	case ActionOperate:
		return r == RoleAdmin || r == RoleOperator
	case ActionAdminister:
		return r == RoleAdmin
	}
	return false
}
