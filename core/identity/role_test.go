package identity

import (
	"strings"
	"testing"
)

func TestRoleAllows(t *testing.T) {
	cases := []struct {
		role Role
		act  Action
		want bool
	}{
		{RoleAdmin, ActionRead, true},
		{RoleAdmin, ActionOperate, true},
		{RoleAdmin, ActionAdminister, true},
		{RoleOperator, ActionRead, true},
		{RoleOperator, ActionOperate, true},
		{RoleOperator, ActionAdminister, false},
		{RoleViewer, ActionRead, true},
		{RoleViewer, ActionOperate, false},
		{RoleViewer, ActionAdminister, false},
		{Role(""), ActionRead, false},
		{Role("root"), ActionAdminister, false},
		{Role("Admin"), ActionRead, false},
		{RoleAdmin, Action(0), false},
		{RoleAdmin, Action(99), false},
	}
	for _, c := range cases {
		if got := c.role.Allows(c.act); got != c.want {
			t.Errorf("Role(%q).Allows(%s) = %v, want %v", c.role, c.act, got, c.want)
		}
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range Roles {
		got, err := ParseRole(string(r))
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v; want %q, nil", r, got, err, r)
		}
		if !r.Valid() {
			t.Errorf("Role(%q).Valid() = false", r)
		}
	}
	for _, bad := range []string{"", "Admin", "ADMIN", " admin", "admin ", "root", "operators"} {
		got, err := ParseRole(bad)
		if err == nil {
			t.Errorf("ParseRole(%q) = %q, nil; want an error", bad, got)
			continue
		}
		for _, r := range Roles {
			if !strings.Contains(err.Error(), string(r)) {
				t.Errorf("ParseRole(%q) error %q does not name valid role %q", bad, err, r)
			}
		}
		if Role(bad).Valid() {
			t.Errorf("Role(%q).Valid() = true", bad)
		}
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{ActionRead: "read", ActionOperate: "operate", ActionAdminister: "administer", Action(7): "action(7)"} {
		if got := a.String(); got != want {
			t.Errorf("Action(%d).String() = %q, want %q", int(a), got, want)
		}
	}
}
