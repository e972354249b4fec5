package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/controlplane"
	"github.com/quantixvm/quantix/core/enroll"
	"github.com/quantixvm/quantix/core/logs"
	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/testlog"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/logsink"
)

// joinEnv is the API with audit entries and join tokens over a real store
// and a real agent CA.
type joinEnv struct {
	*env
	enroll *enroll.Service
	ca     *pki.CA
}

// newJoinEnv builds the API as newEnvWith does, with the log pipeline (for
// audit entries) and the enrollment service added to its options.
func newJoinEnv(t *testing.T) *joinEnv {
	t.Helper()
	je := &joinEnv{}
	je.env = newEnvWith(t, "sqlite", false, controlplane.ReconcilerOptions{}, 0, func(e *env, opts *Options) {
		p, err := logs.Open(logs.Options{
			Dir: t.TempDir(), Store: e.store.Logs(),
			Batch:  logs.BatchOptions{MaxWait: 10 * time.Millisecond},
			Logger: testlog.New(t, hclog.Warn),
		})
		if err != nil {
			t.Fatalf("opening the log pipeline: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = p.Close(ctx)
		})
		je.ca = testAgentCA(t)
		je.enroll = testEnrollWith(t, e, je.ca)
		svc := je.enroll
		opts.Logs, opts.LogStore, opts.Enroll = p, e.store.Logs(), svc
	})
	return je
}

// status sends a request without a body and returns the status and body,
// for replies that are not JSON (204).
func (e *env) status(t testing.TB, method, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", bearer(e.token))
	e.srv.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// TestJoinTokenRoutes: POST makes a token whose text (shown this once)
// pins the agent CA and redeems; GET lists tokens without secrets; DELETE
// revokes at once. Bad settings are refused naming the field.
func TestJoinTokenRoutes(t *testing.T) {
	je := newJoinEnv(t)
	ctx := context.Background()

	r := je.do(t, "POST", "/api/join-tokens", "")
	r.want(t, http.StatusCreated, "")
	text, id := r.str("token"), r.str("id")
	p, err := enroll.Parse(text)
	if err != nil {
		t.Fatalf("the token of the reply: %v: %s", err, r.raw)
	}
	if p.ID != id || r.str("ca_fingerprint") != je.ca.Fingerprint() || p.CAFingerprint != je.ca.Fingerprint() {
		t.Errorf("reply %s: the token must carry the agent CA's fingerprint %s", r.raw, je.ca.Fingerprint())
	}
	if r.body["uses"] != 1.0 || r.body["used"] != 0.0 || r.str("state") != "active" {
		t.Errorf("defaults: %s", r.raw)
	}
	exp, err := time.Parse(time.RFC3339Nano, r.str("expires_at"))
	if err != nil || exp.Sub(time.Now()) < 23*time.Hour || exp.Sub(time.Now()) > 25*time.Hour {
		t.Errorf("expires_at %q, want in 24h (%v)", r.str("expires_at"), err)
	}

	r = je.do(t, "POST", "/api/join-tokens", `{"ttl":"1h","uses":3,"description":"rack 4"}`)
	r.want(t, http.StatusCreated, "")
	three := r.str("id")
	if r.body["uses"] != 3.0 || r.str("description") != "rack 4" {
		t.Errorf("ttl 1h, 3 uses: %s", r.raw)
	}

	for _, c := range []struct {
		body   string
		status int
		parts  []string
	}{
		{`{"ttl":"soon"}`, http.StatusUnprocessableEntity, []string{"ttl", "not a duration"}},
		{`{"ttl":"0s"}`, http.StatusUnprocessableEntity, []string{"ttl", "leave ttl out"}},
		{`{"ttl":"2s"}`, http.StatusUnprocessableEntity, []string{"ttl", "outside 1m0s..720h"}},
		{`{"uses":-1}`, http.StatusUnprocessableEntity, []string{"uses", "outside 1..1000"}},
		{`{"uses":1001}`, http.StatusUnprocessableEntity, []string{"uses"}},
		{`{"description":"` + strings.Repeat("d", 201) + `"}`, http.StatusUnprocessableEntity, []string{"description", "at most 200"}},
		{`{"uses":"many"}`, http.StatusUnprocessableEntity, []string{"uses", "whole number"}},
		{`{"secret":"x"}`, http.StatusBadRequest, []string{"secret"}},
	} {
		r := je.do(t, "POST", "/api/join-tokens", c.body)
		r.want(t, c.status, "", c.parts...)
	}

	r = je.do(t, "GET", "/api/join-tokens", "")
	r.want(t, http.StatusOK, "")
	list, _ := r.body["join_tokens"].([]any)
	if len(list) != 2 {
		t.Fatalf("GET lists %d tokens, want 2: %s", len(list), r.raw)
	}
	if strings.Contains(r.raw, p.Secret) || strings.Contains(r.raw, `"token"`) {
		t.Errorf("the list shows a secret: %s", r.raw)
	}
	if code, body := je.status(t, "HEAD", "/api/join-tokens"); code != http.StatusOK || body != "" {
		t.Errorf("HEAD: %d %q", code, body)
	}

	if err := je.enroll.Redeem(ctx, text); err != nil {
		t.Fatalf("redeeming the token the API made: %v", err)
	}
	if code, body := je.status(t, "DELETE", "/api/join-tokens/"+three); code != http.StatusNoContent || body != "" {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if code, _ := je.status(t, "DELETE", "/api/join-tokens/"+three); code != http.StatusNoContent {
		t.Errorf("DELETE of a revoked token: %d, want 204", code)
	}
	je.do(t, "DELETE", "/api/join-tokens/nosuchid", "").want(t, http.StatusNotFound, codeNotFound, "quantix node token list")
	r = je.do(t, "GET", "/api/join-tokens", "")
	states := map[string]string{}
	for _, v := range r.body["join_tokens"].([]any) {
		m := v.(map[string]any)
		states[m["id"].(string)] = m["state"].(string)
	}
	if states[id] != "used_up" || states[three] != "revoked" {
		t.Errorf("states after a redeem and a revoke: %v", states)
	}

	// Every POST and DELETE is audited, and no entry holds the secret.
	var entries []logsink.Entry
	wait.UntilNil(t, 30*time.Second, "the audit entries of the join token calls", func() error {
		page, err := je.store.Logs().Query(ctx, store.LogQuery{LogFilter: store.LogFilter{Sources: []logsink.Source{logsink.SourceAudit}}, Ascending: true})
		if err != nil {
			return err
		}
		entries = page.Entries
		if len(entries) != 13 {
			return fmt.Errorf("%d audit entries, want 13", len(entries))
		}
		return nil
	})
	actions := map[string]int{}
	for _, e := range entries {
		actions[e.Action]++
		if strings.Contains(string(e.Fields), p.Secret) || strings.Contains(e.Message, p.Secret) {
			t.Errorf("audit entry %+v holds the secret", e)
		}
	}
	if actions["join-token.create"] != 10 || actions["join-token.delete"] != 3 {
		t.Errorf("audit actions %v", actions)
	}
}

// TestJoinTokenRoutesUnavailable: a server without enrollment answers the
// join token routes 503.
func TestJoinTokenRoutesUnavailable(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	for _, m := range []string{"POST", "GET"} {
		e.do(t, m, "/api/join-tokens", "").want(t, http.StatusServiceUnavailable, codeUnavailable, "no agent enrollment")
	}
	e.do(t, "DELETE", "/api/join-tokens/abcdefgh", "").want(t, http.StatusServiceUnavailable, codeUnavailable)
}

// testAgentCA makes an agent cluster CA for a test server.
func testAgentCA(t testing.TB) *pki.CA {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "quantix agents test CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// testEnroll is the enrollment service of a test server, over its store,
// with a CA of its own.
func testEnroll(t testing.TB, e *env) *enroll.Service { return testEnrollWith(t, e, testAgentCA(t)) }

// testEnrollWith is the enrollment service of a test server over its
// store, pinned to ca.
func testEnrollWith(t testing.TB, e *env, ca *pki.CA) *enroll.Service {
	t.Helper()
	svc, err := enroll.New(e.store.JoinTokens(), e.store.NodeCerts(), enroll.Options{CAFingerprint: ca.Fingerprint(), Logger: testlog.New(t, hclog.Warn)})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}
