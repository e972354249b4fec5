package auth

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/internal/teststore"
)

// TestBootstrap: with no users, Bootstrap makes user admin and an admin
// token, writes both secrets to 0600 files (and only there: not in the
// log), and they work; a second run, or a store with users, does nothing.
func TestBootstrap(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver, nil)
			dir := filepath.Join(t.TempDir(), "data")
			res, err := e.svc.Bootstrap(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			want := BootstrapResult{Created: true, PasswordFile: filepath.Join(dir, "admin-password"), TokenFile: filepath.Join(dir, "admin-token")}
			if res != want {
				t.Fatalf("Bootstrap = %+v, want %+v", res, want)
			}
			read := func(path string) string {
				t.Helper()
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				s := string(b)
				if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
					t.Errorf("%s is not one line", path)
				}
				return strings.TrimSuffix(s, "\n")
			}
			password, token := read(res.PasswordFile), read(res.TokenFile)
			e.secret(password, token, token[len("qx_")+identity.TokenPrefixLen+1:])
			if err := identity.ValidatePassword(password); err != nil {
				t.Errorf("the generated password breaks the rules: %v", err)
			}
			p := e.mustAuth(t, bearerRequest(http.MethodDelete, token))
			if p.User != AdminUser || p.Role != identity.RoleAdmin || !p.ExpiresAt.IsZero() {
				t.Errorf("the bootstrap token authenticates as %+v", p)
			}
			toks, _ := e.svc.Tokens(ctx)
			if len(toks) != 1 || toks[0].Name != BootstrapTokenName || toks[0].Role != identity.RoleAdmin || toks[0].User != AdminUser {
				t.Errorf("tokens %+v", toks)
			}
			ss, err := e.svc.Login(ctx, LoginRequest{Username: AdminUser, Password: password, ClientAddr: "127.0.0.1"})
			if err != nil {
				t.Fatalf("logging in with the bootstrap password: %v", err)
			}
			e.secret(ss.Cookie, ss.CSRF)
			logged := e.log.String()
			if !strings.Contains(logged, res.PasswordFile) || !strings.Contains(logged, res.TokenFile) {
				t.Errorf("the log does not say where the files are:\n%s", logged)
			}
			if n := strings.Count(logged, "created the first user"); n != 1 {
				t.Errorf("%d logs of the bootstrap, want 1", n)
			}

			again, err := e.svc.Bootstrap(ctx, dir)
			if err != nil || again.Created {
				t.Fatalf("Bootstrap again = %+v, %v", again, err)
			}
			if read(res.PasswordFile) != password || read(res.TokenFile) != token {
				t.Error("a second Bootstrap rewrote the files")
			}
			if users, _ := e.svc.Users(ctx); len(users) != 1 {
				t.Errorf("users after two bootstraps: %+v", users)
			}
		})
	}
}

// TestBootstrapWithUsers: a store that has users is left alone and no file
// is written.
func TestBootstrapWithUsers(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "someone", identity.RoleAdmin)
	dir := t.TempDir()
	res, err := e.svc.Bootstrap(ctx, dir)
	if err != nil || res.Created || res.PasswordFile != "" {
		t.Fatalf("Bootstrap = %+v, %v", res, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}
}

// TestBootstrapErrors: no data_dir is KindInvalid naming it; a data_dir
// that cannot be written leaves no user behind (a later start can
// bootstrap) and no file.
func TestBootstrapErrors(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	_, err := e.svc.Bootstrap(ctx, "")
	wantErr(t, "no data_dir", err, KindInvalid, "data_dir", "data_dir is required")

	dir := t.TempDir()
	// admin-token is a directory: the second file cannot be written.
	if err := os.Mkdir(filepath.Join(dir, TokenFileName), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Bootstrap(ctx, dir)
	wantErr(t, "an unwritable token file", err, KindInternal, "", "writing the bootstrap files under data_dir")
	if n, _ := e.repo.CountUsers(ctx); n != 0 {
		t.Errorf("%d users after a failed bootstrap", n)
	}
	if _, err := os.Stat(filepath.Join(dir, PasswordFileName)); !os.IsNotExist(err) {
		t.Errorf("the password file of a failed bootstrap is left: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, TokenFileName)); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Bootstrap(ctx, dir)
	if err != nil || !res.Created {
		t.Fatalf("Bootstrap after fixing data_dir = %+v, %v", res, err)
	}
	for _, f := range []string{res.PasswordFile, res.TokenFile} {
		b, _ := os.ReadFile(f)
		e.secret(strings.TrimSpace(string(b)))
	}
}
