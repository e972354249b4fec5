package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/core/enroll"
)

// TestCLINodeToken: quantix node token create, list and revoke against
// `quantixd dev`: the token pins the agent CA the daemon logged, is shown
// once, lists without its secret, and bad settings are refused naming the
// flag or field.
func TestCLINodeToken(t *testing.T) {
	requireE2E(t)
	d := startDaemon(t)
	d.steps(t, "", []step{
		{args: []string{"node", "token", "create", "-h"}, code: 0, stdout: []string{"POST /api/join-tokens", "-ttl", "-uses", "-description", "-q"}},
		{args: []string{"node", "token", "-h"}, code: 0, stdout: []string{"create", "list", "revoke"}},
		{args: []string{"node", "token", "create", "-ttl", "soon"}, code: 2, stderr: []string{`invalid value "soon" for flag -ttl`}},
		{args: []string{"node", "token", "create", "-uses", "-3"}, code: 2, stderr: []string{"-uses -3: must be positive"}},
		{args: []string{"node", "token", "create", "extra"}, code: 2, stderr: []string{`unexpected argument "extra"`}},
		{args: []string{"node", "token", "create", "-ttl", "10s"}, code: 1, stderr: []string{"ttl 10s is outside 1m0s..720h"}},
		{args: []string{"node", "token", "create", "-uses", "5000"}, code: 1, stderr: []string{"uses 5000 is outside 1..1000"}},
		{args: []string{"node", "token", "revoke"}, code: 2, stderr: []string{"missing ID"}},
		{args: []string{"node", "token", "revoke", "nosuchid"}, code: 1, stderr: []string{`join token "nosuchid" not found`, "quantix node token list"}},
	})

	r := d.ok(t, "node", "token", "create", "-ttl", "1h", "-uses", "3", "-description", "rack 4")
	text := strings.TrimSpace(strings.SplitN(r.stdout, "\n", 2)[0])
	p, err := enroll.Parse(text)
	if err != nil {
		t.Fatalf("the first line of create is not a join token (%v): %s", err, r)
	}
	for _, w := range []string{"ID:", p.ID, "Expires:", "(in 59m)", "Uses:", "3", "Description:", "rack 4", "sha256:" + p.CAFingerprint, "agent.join_token"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("create does not say %q:\n%s", w, r.stdout)
		}
	}
	logged, err := os.ReadFile(d.log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logged), "agent CA") || !strings.Contains(string(logged), p.CAFingerprint) {
		t.Errorf("the token pins %s, which the daemon did not log as its agent CA", p.CAFingerprint)
	}
	if strings.Contains(string(logged), p.Secret) {
		t.Error("the daemon logged the token's secret")
	}

	quiet := d.ok(t, "node", "token", "create", "-q")
	qp, err := enroll.Parse(strings.TrimSuffix(quiet.stdout, "\n"))
	if err != nil || strings.Count(quiet.stdout, "\n") != 1 {
		t.Errorf("create -q must print the token alone (%v): %s", err, quiet)
	}
	var created map[string]any
	js := d.ok(t, "-output", "json", "node", "token", "create", "-description", "json")
	if err := json.Unmarshal([]byte(js.stdout), &created); err != nil {
		t.Fatalf("create -output json: %v: %s", err, js)
	}
	if _, err := enroll.Parse(created["token"].(string)); err != nil || created["ca_fingerprint"] != p.CAFingerprint || created["uses"] != 1.0 {
		t.Errorf("create -output json: %s", js.stdout)
	}

	d.steps(t, "", []step{
		{args: []string{"node", "token", "revoke", qp.ID}, code: 0, stdout: []string{"join token " + qp.ID + " revoked"}},
		{args: []string{"node", "token", "revoke", qp.ID}, code: 0},
		{args: []string{"node", "token", "list"}, code: 0, stdout: []string{"ID", "STATE", "USED", p.ID, "active", "0/3", "rack 4", qp.ID, "revoked"}},
	})
	list := d.ok(t, "-output", "json", "node", "token", "list")
	var tokens []map[string]any
	if err := json.Unmarshal([]byte(list.stdout), &tokens); err != nil {
		t.Fatalf("list -output json: %v: %s", err, list)
	}
	byID := map[string]map[string]any{}
	for _, tok := range tokens {
		byID[tok["id"].(string)] = tok
	}
	if tok := byID[p.ID]; tok == nil || tok["state"] != "active" || tok["uses"] != 3.0 || tok["description"] != "rack 4" {
		t.Errorf("list -output json: the first token is %v: %s", tok, list.stdout)
	}
	if tok := byID[qp.ID]; tok == nil || tok["state"] != "revoked" || tok["revoked_at"] == nil {
		t.Errorf("list -output json: the revoked token is %v: %s", tok, list.stdout)
	}
	if tok := byID[created["id"].(string)]; tok == nil || tok["description"] != "json" {
		t.Errorf("list -output json: the third token is %v: %s", tok, list.stdout)
	}
	for _, s := range []string{p.Secret, qp.Secret} {
		if strings.Contains(list.stdout, s) {
			t.Error("the list shows a secret")
		}
	}
}
