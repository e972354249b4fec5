package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/identity"
)

var authT0 = time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)

func testUser(id, name string, role identity.Role) *AuthUser {
	return &AuthUser{ID: id, Name: name, Role: role, PasswordHash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", CreatedAt: authT0}
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func testToken(id, prefix, userID string, role identity.Role) *AuthToken {
	return &AuthToken{ID: id, Prefix: prefix, Hash: hashOf("secret-" + id), Name: "name-" + id, Role: role, UserID: userID, CreatedAt: authT0}
}

func mustCreateUser(t *testing.T, r AuthRepo, u *AuthUser) {
	t.Helper()
	if err := r.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser(%s): %v", u.Name, err)
	}
}

// TestAuthUsers: users are created, read back as written (times UTC,
// microseconds), listed in name order; names are unique; bad input is
// ErrInvalid.
func TestAuthUsers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		r := s.Auth()
		if n, err := r.CountUsers(ctx); err != nil || n != 0 {
			t.Fatalf("CountUsers on a fresh store = %d, %v", n, err)
		}
		u := testUser("u1", "zoe", identity.RoleViewer)
		mustCreateUser(t, r, u)
		if !u.CreatedAt.Equal(authT0.Truncate(time.Microsecond)) || u.UpdatedAt != u.CreatedAt || u.CreatedAt.Location() != time.UTC {
			t.Errorf("created user times %v / %v, want %v in UTC", u.CreatedAt, u.UpdatedAt, authT0.Truncate(time.Microsecond))
		}
		got, err := r.GetUser(ctx, "u1")
		if err != nil || *got != *u {
			t.Fatalf("GetUser = %+v, %v; want %+v", got, err, u)
		}
		if got, err := r.GetUserByName(ctx, "zoe"); err != nil || *got != *u {
			t.Fatalf("GetUserByName = %+v, %v", got, err)
		}
		mustCreateUser(t, r, testUser("u2", "adam", identity.RoleAdmin))
		if err := r.CreateUser(ctx, testUser("u3", "zoe", identity.RoleAdmin)); !errors.Is(err, ErrConflict) || !contains(err, "the user name is taken") {
			t.Errorf("a taken name: %v", err)
		}
		if err := r.CreateUser(ctx, testUser("u1", "other", identity.RoleAdmin)); !errors.Is(err, ErrConflict) {
			t.Errorf("a taken id: %v", err)
		}
		for _, bad := range []*AuthUser{nil, {Name: "x", Role: "admin", PasswordHash: "h"}, {ID: "x", Role: "admin", PasswordHash: "h"}, {ID: "x", Name: "x", PasswordHash: "h"}, {ID: "x", Name: "x", Role: "admin"}} {
			if err := r.CreateUser(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("CreateUser(%+v) = %v, want ErrInvalid", bad, err)
			}
		}
		list, err := r.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range list {
			names = append(names, u.Name)
		}
		if !slices.Equal(names, []string{"adam", "zoe"}) {
			t.Errorf("ListUsers names %v", names)
		}
		if n, _ := r.CountUsers(ctx); n != 2 {
			t.Errorf("CountUsers = %d, want 2", n)
		}
		for _, err := range []error{
			func() error { _, err := r.GetUser(ctx, "nope"); return err }(),
			func() error { _, err := r.GetUserByName(ctx, "nope"); return err }(),
			func() error { _, err := r.SetUserRole(ctx, "nope", identity.RoleAdmin, authT0); return err }(),
			func() error { _, _, err := r.SetUserPassword(ctx, "nope", "h", authT0); return err }(),
			r.DeleteUser(ctx, "nope"),
		} {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("unknown user: %v, want ErrNotFound", err)
			}
		}
	})
}

func contains(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}

// TestAuthLastAdmin: neither a role change nor a deletion may leave no
// admin, also when two run at once; a refused change writes nothing.
func TestAuthLastAdmin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		r := s.Auth()
		mustCreateUser(t, r, testUser("a1", "root", identity.RoleAdmin))
		mustCreateUser(t, r, testUser("v1", "watcher", identity.RoleViewer))
		if _, err := r.SetUserRole(ctx, "a1", identity.RoleOperator, authT0); !errors.Is(err, ErrLastAdmin) || !errors.Is(err, ErrConflict) {
			t.Fatalf("demoting the last admin: %v", err)
		}
		if err := r.DeleteUser(ctx, "a1"); !errors.Is(err, ErrLastAdmin) {
			t.Fatalf("deleting the last admin: %v", err)
		}
		if u, _ := r.GetUser(ctx, "a1"); u == nil || u.Role != identity.RoleAdmin {
			t.Fatalf("the last admin after refused changes: %+v", u)
		}
		// Deleting a viewer, and changing an admin to admin, are fine.
		if u, err := r.SetUserRole(ctx, "a1", identity.RoleAdmin, authT0.Add(time.Hour)); err != nil || !u.UpdatedAt.Equal(authT0.Add(time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("admin to admin: %+v, %v", u, err)
		}
		up, err := r.SetUserRole(ctx, "v1", identity.RoleAdmin, authT0)
		if err != nil || up.Role != identity.RoleAdmin {
			t.Fatalf("promoting: %+v, %v", up, err)
		}
		// Two admins demoting each other at once: exactly one wins.
		for round := range 5 {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, id := range []string{"a1", "v1"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = r.SetUserRole(ctx, id, identity.RoleViewer, authT0)
				}()
			}
			wg.Wait()
			failed := 0
			for _, err := range errs {
				if err != nil {
					if !errors.Is(err, ErrLastAdmin) {
						t.Fatalf("round %d: %v", round, err)
					}
					failed++
				}
			}
			if failed != 1 {
				t.Fatalf("round %d: %d of 2 demotions refused, want 1 (%v)", round, failed, errs)
			}
			for _, id := range []string{"a1", "v1"} {
				if _, err := r.SetUserRole(ctx, id, identity.RoleAdmin, authT0); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The same for deletions.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, id := range []string{"a1", "v1"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = r.DeleteUser(ctx, id)
			}()
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("deleting both admins at once: %v", errs)
		}
		list, _ := r.ListUsers(ctx)
		if len(list) != 1 || list[0].Role != identity.RoleAdmin {
			t.Fatalf("users left: %+v", list)
		}
	})
}

// TestAuthTokens: tokens are stored with their hash and read back with
// their owner's name, by id and by prefix; role changes, revocation (the
// first time stays) and uses (never backwards) are kept.
func TestAuthTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		r := s.Auth()
		mustCreateUser(t, r, testUser("u1", "alice", identity.RoleAdmin))
		mustCreateUser(t, r, testUser("u2", "bob", identity.RoleOperator))
		exp := authT0.Add(24 * time.Hour)
		t1 := testToken("t1", "aaaaaaaa", "u1", identity.RoleAdmin)
		t1.ExpiresAt = &exp
		if err := r.CreateToken(ctx, t1); err != nil {
			t.Fatal(err)
		}
		if t1.UserName != "alice" {
			t.Errorf("created token's owner name %q", t1.UserName)
		}
		t2 := testToken("t2", "bbbbbbbb", "u2", identity.RoleViewer)
		t2.CreatedAt = authT0.Add(time.Second)
		if err := r.CreateToken(ctx, t2); err != nil {
			t.Fatal(err)
		}
		got, err := r.GetToken(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Prefix != "aaaaaaaa" || string(got.Hash) != string(hashOf("secret-t1")) || got.UserName != "alice" ||
			got.Role != identity.RoleAdmin || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp.Truncate(time.Microsecond)) ||
			got.LastUsedAt != nil || got.RevokedAt != nil || !got.CreatedAt.Equal(t1.CreatedAt) {
			t.Errorf("GetToken = %+v", got)
		}
		if got, err := r.GetTokenByPrefix(ctx, "bbbbbbbb"); err != nil || got.ID != "t2" || got.UserName != "bob" || got.ExpiresAt != nil {
			t.Errorf("GetTokenByPrefix = %+v, %v", got, err)
		}
		if _, err := r.GetTokenByPrefix(ctx, "cccccccc"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown prefix: %v", err)
		}
		if err := r.CreateToken(ctx, testToken("t3", "aaaaaaaa", "u1", identity.RoleAdmin)); !errors.Is(err, ErrConflict) || !contains(err, "prefix") {
			t.Errorf("a taken prefix: %v", err)
		}
		if err := r.CreateToken(ctx, testToken("t3", "cccccccc", "ghost", identity.RoleAdmin)); !errors.Is(err, ErrNotFound) {
			t.Errorf("an unknown owner: %v", err)
		}
		bad := testToken("t3", "cccccccc", "u1", identity.RoleAdmin)
		bad.Hash = []byte("short")
		if err := r.CreateToken(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("a hash that is not SHA-256: %v", err)
		}
		list, err := r.ListTokens(ctx)
		if err != nil || len(list) != 2 || list[0].ID != "t1" || list[1].ID != "t2" || list[1].UserName != "bob" {
			t.Fatalf("ListTokens = %+v, %v", list, err)
		}

		if got, err := r.SetTokenRole(ctx, "t1", identity.RoleViewer); err != nil || got.Role != identity.RoleViewer || got.UserName != "alice" {
			t.Errorf("SetTokenRole = %+v, %v", got, err)
		}
		if _, err := r.SetTokenRole(ctx, "nope", identity.RoleViewer); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetTokenRole of an unknown token: %v", err)
		}

		if err := r.TouchToken(ctx, "t2", authT0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := r.TouchToken(ctx, "t2", authT0); err != nil {
			t.Fatal(err)
		}
		if err := r.TouchToken(ctx, "gone", authT0); err != nil {
			t.Errorf("touching an unknown token: %v", err)
		}
		if got, _ := r.GetToken(ctx, "t2"); got.LastUsedAt == nil || !got.LastUsedAt.Equal(authT0.Add(time.Minute).Truncate(time.Microsecond)) {
			t.Errorf("last used after two touches: %v, want the later", got.LastUsedAt)
		}

		first := authT0.Add(2 * time.Hour)
		if got, err := r.RevokeToken(ctx, "t2", first); err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(first.Truncate(time.Microsecond)) {
			t.Fatalf("RevokeToken = %+v, %v", got, err)
		}
		if got, err := r.RevokeToken(ctx, "t2", first.Add(time.Hour)); err != nil || !got.RevokedAt.Equal(first.Truncate(time.Microsecond)) {
			t.Errorf("revoking again = %+v, %v; the first time must stay", got, err)
		}
		if _, err := r.RevokeToken(ctx, "nope", first); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoking an unknown token: %v", err)
		}
		if list, _ := r.ListTokens(ctx); len(list) != 2 {
			t.Errorf("a revoked token left the list: %+v", list)
		}
	})
}

// TestAuthSessions: sessions are found by the hash of their secret, end
// on delete, on expiry clean-up and with a password change.
func TestAuthSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		r := s.Auth()
		mustCreateUser(t, r, testUser("u1", "alice", identity.RoleAdmin))
		mustCreateUser(t, r, testUser("u2", "bob", identity.RoleViewer))
		mk := func(id, user string, exp time.Time) *AuthSession {
			return &AuthSession{ID: id, Hash: hashOf("cookie-" + id), CSRFHash: hashOf("csrf-" + id), UserID: user, CreatedAt: authT0, ExpiresAt: exp}
		}
		for _, ss := range []*AuthSession{
			mk("s1", "u1", authT0.Add(12*time.Hour)),
			mk("s2", "u1", authT0.Add(time.Hour)),
			mk("s3", "u2", authT0.Add(time.Minute)),
		} {
			if err := r.CreateSession(ctx, ss); err != nil {
				t.Fatal(err)
			}
		}
		got, err := r.GetSessionByHash(ctx, hashOf("cookie-s1"))
		if err != nil || got.ID != "s1" || got.UserID != "u1" || string(got.CSRFHash) != string(hashOf("csrf-s1")) ||
			!got.ExpiresAt.Equal(authT0.Add(12*time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("GetSessionByHash = %+v, %v", got, err)
		}
		if got, err := r.GetSession(ctx, "s2"); err != nil || string(got.Hash) != string(hashOf("cookie-s2")) {
			t.Fatalf("GetSession = %+v, %v", got, err)
		}
		if _, err := r.GetSessionByHash(ctx, hashOf("nope")); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown hash: %v", err)
		}
		if _, err := r.GetSessionByHash(ctx, []byte("short")); !errors.Is(err, ErrInvalid) {
			t.Errorf("a short hash: %v", err)
		}
		if err := r.CreateSession(ctx, mk("s4", "ghost", authT0.Add(time.Hour))); !errors.Is(err, ErrNotFound) {
			t.Errorf("a session of an unknown user: %v", err)
		}
		dup := mk("s5", "u1", authT0.Add(time.Hour))
		dup.Hash = hashOf("cookie-s1")
		if err := r.CreateSession(ctx, dup); !errors.Is(err, ErrConflict) {
			t.Errorf("a taken hash: %v", err)
		}
		if err := r.CreateSession(ctx, &AuthSession{ID: "s6", UserID: "u1", Hash: hashOf("x"), CSRFHash: hashOf("y")}); !errors.Is(err, ErrInvalid) {
			t.Errorf("a session without expiry: %v", err)
		}

		if n, err := r.DeleteExpiredSessions(ctx, authT0.Add(2*time.Minute)); err != nil || n != 1 {
			t.Errorf("DeleteExpiredSessions = %d, %v; want 1", n, err)
		}
		if _, err := r.GetSession(ctx, "s3"); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired session after clean-up: %v", err)
		}
		u, closed, err := r.SetUserPassword(ctx, "u1", "new-hash", authT0.Add(time.Hour))
		if err != nil || u.PasswordHash != "new-hash" || !slices.Equal(closed, []string{"s1", "s2"}) {
			t.Fatalf("SetUserPassword = %+v, %v, %v", u, closed, err)
		}
		if got, _ := r.GetUser(ctx, "u1"); got.PasswordHash != "new-hash" || !got.UpdatedAt.Equal(authT0.Add(time.Hour).Truncate(time.Microsecond)) {
			t.Errorf("user after SetUserPassword: %+v", got)
		}
		if _, err := r.GetSession(ctx, "s1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a session after a password change: %v", err)
		}
		if err := r.CreateSession(ctx, mk("s7", "u2", authT0.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
		if err := r.DeleteSession(ctx, "s7"); err != nil {
			t.Fatal(err)
		}
		if err := r.DeleteSession(ctx, "s7"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleting a session twice: %v", err)
		}
	})
}

// TestAuthDeleteUser: a user goes with its tokens and sessions; other
// users' stay.
func TestAuthDeleteUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		r := s.Auth()
		mustCreateUser(t, r, testUser("a", "admin", identity.RoleAdmin))
		mustCreateUser(t, r, testUser("o", "ops", identity.RoleOperator))
		for _, tk := range []*AuthToken{testToken("ta", "aaaaaaaa", "a", identity.RoleAdmin), testToken("to", "oooooooo", "o", identity.RoleOperator)} {
			if err := r.CreateToken(ctx, tk); err != nil {
				t.Fatal(err)
			}
		}
		for _, u := range []string{"a", "o"} {
			if err := r.CreateSession(ctx, &AuthSession{ID: "s" + u, Hash: hashOf(u), CSRFHash: hashOf(u), UserID: u, ExpiresAt: authT0.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.DeleteUser(ctx, "o"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.GetToken(ctx, "to"); !errors.Is(err, ErrNotFound) {
			t.Errorf("the deleted user's token: %v", err)
		}
		if _, err := r.GetSession(ctx, "so"); !errors.Is(err, ErrNotFound) {
			t.Errorf("the deleted user's session: %v", err)
		}
		if _, err := r.GetToken(ctx, "ta"); err != nil {
			t.Errorf("another user's token: %v", err)
		}
		if _, err := r.GetSession(ctx, "sa"); err != nil {
			t.Errorf("another user's session: %v", err)
		}
	})
}

// TestAuthCreateFirstUser: the first user and its token are created once,
// also when several processes try at once; with users present nothing is
// written.
func TestAuthCreateFirstUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		driver, dsn := b.fresh(t)
		stores := []*sqlStore{openAt(t, driver, dsn), openAt(t, driver, dsn), openAt(t, driver, dsn)}
		var wg sync.WaitGroup
		created := make([]bool, len(stores))
		errs := make([]error, len(stores))
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := testUser(fmt.Sprintf("u%d", i), "admin", identity.RoleAdmin)
				tk := testToken(fmt.Sprintf("t%d", i), fmt.Sprintf("prefix%02d", i), u.ID, identity.RoleAdmin)
				created[i], errs[i] = s.Auth().CreateFirstUser(ctx, u, tk)
			}()
		}
		wg.Wait()
		n := 0
		for i := range stores {
			if errs[i] != nil {
				t.Errorf("store %d: %v", i, errs[i])
			}
			if created[i] {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d first users created, want 1", n)
		}
		r := stores[0].Auth()
		users, _ := r.ListUsers(ctx)
		tokens, _ := r.ListTokens(ctx)
		if len(users) != 1 || len(tokens) != 1 || tokens[0].UserID != users[0].ID || tokens[0].UserName != "admin" {
			t.Fatalf("after bootstrap: users %+v, tokens %+v", users, tokens)
		}
		mismatched := testToken("tx", "xxxxxxxx", "other", identity.RoleAdmin)
		if _, err := r.CreateFirstUser(ctx, testUser("ux", "x", identity.RoleAdmin), mismatched); !errors.Is(err, ErrInvalid) {
			t.Errorf("a token of another user: %v", err)
		}
	})
}
