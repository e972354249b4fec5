package auth

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/internal/teststore"
)

// TestCreateUserInputs: every bad input is KindInvalid naming its field,
// and nothing is stored; a taken name is KindConflict.
func TestCreateUserInputs(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	good := testPassword
	for _, c := range []struct {
		name, password string
		role           identity.Role
		field          string
		says           string
	}{
		{"", good, identity.RoleViewer, "name", "name is required"},
		{strings.Repeat("a", MaxUserNameLen+1), good, identity.RoleViewer, "name", "at most 64"},
		{"Alice", good, identity.RoleViewer, "name", "lower-case"},
		{"-alice", good, identity.RoleViewer, "name", "starting with a letter or digit"},
		{"al ice", good, identity.RoleViewer, "name", "lower-case"},
		{"alice", "short", identity.RoleViewer, "password", "at least 12"},
		{"alice", strings.Repeat("x", identity.MaxPasswordBytes+1), identity.RoleViewer, "password", "at most"},
		{"alice", "\xff" + good, identity.RoleViewer, "password", "UTF-8"},
		{"alice", good, "", "role", "admin, operator, viewer"},
		{"alice", good, "root", "role", "unknown role"},
	} {
		_, err := e.svc.CreateUser(ctx, c.name, c.password, c.role)
		ae := wantErr(t, "CreateUser("+c.name+")", err, KindInvalid, c.field, c.says)
		if c.password != good && strings.Contains(ae.Message, c.password) {
			t.Errorf("the error repeats the password: %v", ae)
		}
	}
	if list, err := e.svc.Users(ctx); err != nil || len(list) != 0 {
		t.Fatalf("users after refused creations: %v, %v", list, err)
	}
	u := e.mustUser(t, "alice.b-c_d", identity.RoleViewer)
	if u.Name != "alice.b-c_d" || u.Role != identity.RoleViewer || u.ID == "" || !u.CreatedAt.Equal(e.clock.Now()) {
		t.Errorf("user %+v", u)
	}
	_, err := e.svc.CreateUser(ctx, "alice.b-c_d", good, identity.RoleAdmin)
	wantErr(t, "a taken name", err, KindConflict, "name", `"alice.b-c_d" exists`)
	got, err := e.svc.User(ctx, "alice.b-c_d")
	if err != nil || got != u {
		t.Errorf("User = %+v, %v; want %+v", got, err, u)
	}
	_, err = e.svc.User(ctx, "nobody")
	wantErr(t, "User(nobody)", err, KindNotFound, "", `no user named "nobody"`)
	e.mustUser(t, "bob", identity.RoleAdmin)
	list, _ := e.svc.Users(ctx)
	if len(list) != 2 || list[0].Name != "alice.b-c_d" || list[1].Name != "bob" {
		t.Errorf("Users = %+v", list)
	}
	for _, name := range []string{"alice.b-c_d", "bob"} {
		if !strings.Contains(e.log.String(), `user created: user=`+name) {
			t.Errorf("no log of the creation of %s:\n%s", name, e.log.String())
		}
	}
}

// TestLastAdmin: the last admin can be neither demoted nor deleted; with a
// second admin both work.
func TestLastAdmin(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver, nil)
			e.mustUser(t, "root", identity.RoleAdmin)
			e.mustUser(t, "ops", identity.RoleOperator)
			_, err := e.svc.SetRole(ctx, "root", identity.RoleViewer)
			wantErr(t, "demoting the last admin", err, KindConflict, "role", "last admin", "make another user admin first")
			err = e.svc.DeleteUser(ctx, "root")
			wantErr(t, "deleting the last admin", err, KindConflict, "", "last admin")
			if u, _ := e.svc.User(ctx, "root"); u.Role != identity.RoleAdmin {
				t.Fatalf("root after refused changes: %+v", u)
			}
			if u, err := e.svc.SetRole(ctx, "ops", identity.RoleAdmin); err != nil || u.Role != identity.RoleAdmin {
				t.Fatalf("promoting ops: %+v, %v", u, err)
			}
			if u, err := e.svc.SetRole(ctx, "root", identity.RoleViewer); err != nil || u.Role != identity.RoleViewer {
				t.Fatalf("demoting root with another admin: %+v, %v", u, err)
			}
			if err := e.svc.DeleteUser(ctx, "root"); err != nil {
				t.Fatal(err)
			}
			_, err = e.svc.SetRole(ctx, "ops", "boss")
			wantErr(t, "an unknown role", err, KindInvalid, "role", `unknown role "boss"`)
			_, err = e.svc.SetRole(ctx, "root", identity.RoleViewer)
			wantErr(t, "a deleted user", err, KindNotFound, "", `no user named "root"`)
			wantErr(t, "deleting twice", e.svc.DeleteUser(ctx, "root"), KindNotFound, "", "root")
		})
	}
}

// TestRoleChangeAtOnce: a user's new role applies at once to its sessions,
// and caps its tokens, though both were cached.
func TestRoleChangeAtOnce(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "root", identity.RoleAdmin)
	e.mustUser(t, "ann", identity.RoleAdmin)
	ss := e.mustLogin(t, "ann")
	p := e.mustAuth(t, cookieRequest(http.MethodGet, ss, false))
	_, adminTok := e.mustToken(t, p, TokenSpec{Name: "admin"})
	_, viewerTok := e.mustToken(t, p, TokenSpec{Name: "viewer", Role: identity.RoleViewer})
	if r := e.mustAuth(t, bearerRequest(http.MethodGet, adminTok)).Role; r != identity.RoleAdmin {
		t.Fatalf("admin token role %s", r)
	}
	if _, err := e.svc.SetRole(ctx, "ann", identity.RoleOperator); err != nil {
		t.Fatal(err)
	}
	if r := e.mustAuth(t, cookieRequest(http.MethodGet, ss, false)).Role; r != identity.RoleOperator {
		t.Errorf("session role after demotion: %s", r)
	}
	if r := e.mustAuth(t, bearerRequest(http.MethodGet, adminTok)).Role; r != identity.RoleOperator {
		t.Errorf("admin token of a demoted owner: %s, want operator", r)
	}
	if r := e.mustAuth(t, bearerRequest(http.MethodGet, viewerTok)).Role; r != identity.RoleViewer {
		t.Errorf("viewer token of a demoted owner: %s", r)
	}
	if _, err := e.svc.SetRole(ctx, "ann", identity.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if r := e.mustAuth(t, bearerRequest(http.MethodGet, adminTok)).Role; r != identity.RoleAdmin {
		t.Errorf("admin token after the owner is admin again: %s", r)
	}
}

// TestSetPassword: the new password works, the old does not, the user's
// sessions end at once and its tokens keep working.
func TestSetPassword(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "ann", identity.RoleOperator)
	ss := e.mustLogin(t, "ann")
	p := e.mustAuth(t, cookieRequest(http.MethodGet, ss, false))
	_, tok := e.mustToken(t, p, TokenSpec{Name: "ci"})
	_, err := e.svc.SetPassword(ctx, "ann", "short")
	wantErr(t, "a short password", err, KindInvalid, "password", "at least 12")
	_, err = e.svc.SetPassword(ctx, "nobody", "a good long password")
	wantErr(t, "an unknown user", err, KindNotFound, "", "nobody")
	const newPassword = "another long password"
	e.secret(newPassword)
	if _, err := e.svc.SetPassword(ctx, "ann", newPassword); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Authenticate(ctx, cookieRequest(http.MethodGet, ss, false))
	wantErr(t, "the session after a password change", err, KindUnauthenticated, "", "log in again")
	e.mustAuth(t, bearerRequest(http.MethodGet, tok))
	_, err = e.svc.Login(ctx, LoginRequest{Username: "ann", Password: testPassword + " ann"})
	wantErr(t, "the old password", err, KindUnauthenticated, "", "wrong user name or password")
	if _, err := e.svc.Login(ctx, LoginRequest{Username: "ann", Password: newPassword}); err != nil {
		t.Errorf("the new password: %v", err)
	}
}

// TestDeleteUser: the user's sessions and tokens stop working at once;
// other users' go on.
func TestDeleteUser(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "root", identity.RoleAdmin)
	e.mustUser(t, "ann", identity.RoleOperator)
	rootSS := e.mustLogin(t, "root")
	annSS := e.mustLogin(t, "ann")
	annP := e.mustAuth(t, cookieRequest(http.MethodGet, annSS, false))
	_, annTok := e.mustToken(t, annP, TokenSpec{Name: "ci"})
	e.mustAuth(t, bearerRequest(http.MethodGet, annTok))
	if err := e.svc.DeleteUser(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Authenticate(ctx, cookieRequest(http.MethodGet, annSS, false))
	wantErr(t, "a deleted user's session", err, KindUnauthenticated, "", "log in again")
	_, err = e.svc.Authenticate(ctx, bearerRequest(http.MethodGet, annTok))
	wantErr(t, "a deleted user's token", err, KindUnauthenticated, "", "unknown API token")
	e.mustAuth(t, cookieRequest(http.MethodGet, rootSS, false))
	toks, _ := e.svc.Tokens(ctx)
	if len(toks) != 0 {
		t.Errorf("tokens after the owner's deletion: %+v", toks)
	}
	list, _ := e.svc.Users(ctx)
	if !slices.EqualFunc(list, []string{"root"}, func(u User, n string) bool { return u.Name == n }) {
		t.Errorf("users %+v", list)
	}
}
