package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCLIIn runs the quantix binary with env and stdin.
func runCLIIn(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(e2e.cli, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running quantix %q: %v", args, err)
	}
	return r
}

// TestCLIAuthE2E: against quantixd over TLS with authentication on, the
// bootstrap admin logs in with the CLI (the token is saved and used), manages
// users and tokens, a revoked token stops working at once, another user
// logs in with their own role, and logout revokes the saved token.
func TestCLIAuthE2E(t *testing.T) {
	s := startTLSServer(t)
	pw, err := os.ReadFile(filepath.Join(s.data, "admin-password"))
	if err != nil {
		t.Fatalf("the bootstrap admin password: %v", err)
	}
	adminCfg, adminHome := configHome(t)
	admin := cliEnv(append(adminHome, envAddress+"="+s.url, envCACert+"="+s.caFile)...)
	ok := func(env []string, stdin string, args ...string) result {
		t.Helper()
		r := runCLIIn(t, env, stdin, args...)
		if r.code != 0 {
			t.Fatalf("quantix %s: %s", strings.Join(args, " "), r)
		}
		return r
	}

	if r := runCLIIn(t, admin, "", "node", "list"); r.code != exitError || !strings.Contains(r.stderr, "quantix login") {
		t.Errorf("node list before login: %s\nwant exit 1 naming quantix login", r)
	}
	if r := runCLIIn(t, admin, "wrong-password\n", "login", "-username", "admin", "-password-stdin"); r.code != exitError {
		t.Errorf("login with a wrong password: %s", r)
	}
	r := ok(admin, strings.TrimSpace(string(pw))+"\n", "login", "-username", "admin", "-password-stdin")
	if !strings.Contains(r.stdout, "as admin (role admin)") {
		t.Errorf("login: %s", r)
	}
	credFile := filepath.Join(adminCfg, "quantix", credentialsFile)
	if fi, err := os.Stat(credFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, want mode 0600", credFile, err)
	}
	ok(admin, "", "node", "list")

	ok(admin, "bobs-password-1\n", "user", "create", "bob", "-role", "operator", "-password-stdin")
	if r := ok(admin, "", "user", "list", "-q"); r.stdout != "admin\nbob\n" {
		t.Errorf("user list -q: %q", r.stdout)
	}
	var users []map[string]any
	if err := json.Unmarshal([]byte(ok(admin, "", "-output", "json", "user", "list").stdout), &users); err != nil || len(users) != 2 {
		t.Errorf("user list -output json: %v %v", err, users)
	}
	if r := ok(admin, "", "user", "set-role", "bob", "viewer"); !strings.Contains(r.stdout, "role viewer") {
		t.Errorf("set-role: %s", r)
	}
	ok(admin, "bobs-password-2\n", "user", "passwd", "bob", "-password-stdin")

	// bob logs in with the new password, in a config dir of his own.
	_, bobHome := configHome(t)
	bob := cliEnv(append(bobHome, envAddress+"="+s.url, envCACert+"="+s.caFile)...)
	if r := runCLIIn(t, bob, "bobs-password-1\n", "login", "-username", "bob", "-password-stdin"); r.code != exitError {
		t.Errorf("bob with his old password: %s", r)
	}
	ok(bob, "bobs-password-2\n", "login", "-username", "bob", "-password-stdin")
	ok(bob, "", "node", "list")
	if r := runCLIIn(t, bob, "x-password-3\n", "user", "create", "eve", "-password-stdin"); r.code != exitError || !strings.Contains(r.stderr, "viewer") {
		t.Errorf("a viewer creating a user: %s\nwant a refusal naming the role", r)
	}

	// A token made by the admin works at once and stops at once.
	tr := ok(admin, "", "token", "create", "ci", "-role", "viewer", "-ttl", "1h")
	secret := strings.TrimSpace(tr.stdout)
	if !strings.HasPrefix(secret, "qx_") || strings.Contains(secret, "\n") {
		t.Fatalf("token create printed %q", tr.stdout)
	}
	withToken := cliEnv(envAddress+"="+s.url, envCACert+"="+s.caFile, envToken+"="+secret)
	ok(withToken, "", "node", "list")
	var toks []map[string]any
	if err := json.Unmarshal([]byte(ok(admin, "", "-output", "json", "token", "list").stdout), &toks); err != nil {
		t.Fatal(err)
	}
	id := ""
	for _, tk := range toks {
		if tk["name"] == "ci" {
			id, _ = tk["id"].(string)
		}
	}
	if id == "" {
		t.Fatalf("token list has no token ci: %v", toks)
	}
	if r := ok(admin, "", "token", "list"); !strings.Contains(r.stdout, "ci") || strings.Contains(r.stdout, secret) {
		t.Errorf("token list: %s", r)
	}
	ok(admin, "", "token", "revoke", id)
	if r := runCLIIn(t, withToken, "", "node", "list"); r.code != exitError {
		t.Errorf("a revoked token still works: %s", r)
	}

	ok(admin, "", "user", "delete", "bob")
	if r := runCLIIn(t, bob, "", "node", "list"); r.code != exitError || !strings.Contains(r.stderr, "quantix login") {
		t.Errorf("the saved token of a deleted user: %s", r)
	}

	// logout revokes the saved token: sent again with -token it fails.
	b, _ := os.ReadFile(credFile)
	var saved credentials
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	adminToken := saved.Servers[s.url].Token
	ok(admin, "", "logout")
	if r := runCLIIn(t, admin, "", "node", "list", "-token", adminToken); r.code != exitError {
		t.Errorf("the token logout revoked still works: %s", r)
	}
	if b, _ := os.ReadFile(credFile); strings.Contains(string(b), adminToken) {
		t.Errorf("logout left the token in %s", credFile)
	}
}
