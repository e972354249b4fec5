package enroll

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/teststore"
)

func TestMain(m *testing.M) {
	code := m.Run()
	teststore.Cleanup()
	os.Exit(code)
}

var ctx = context.Background()

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a Service on a real store with a settable clock; logs holds
// what it logged.
type fixture struct {
	svc   *Service
	store store.Store
	clock *clock
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t *testing.T, driver string, static string) *fixture {
	t.Helper()
	st := teststore.Open(t, driver)
	f := &fixture{store: st, clock: &clock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}, logs: &syncBuffer{}}
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: f.logs})
	svc, err := New(st.JoinTokens(), st.NodeCerts(), Options{CAFingerprint: testFP, StaticToken: static, Now: f.clock.Now, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

func forEachDriver(t *testing.T, fn func(t *testing.T, driver string)) {
	for _, d := range teststore.Drivers {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// wantKind fails unless err is an *Error of kind whose message holds every
// one of want.
func wantKind(t *testing.T, what string, err error, kind Kind, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %s", what, kind)
		return
	}
	if got := KindOf(err); got != kind {
		t.Errorf("%s: kind %s (%v), want %s", what, got, err, kind)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %q does not say %q", what, err, w)
		}
	}
}

// TestNew: the CA fingerprint is required in its form.
func TestNew(t *testing.T) {
	st := teststore.Open(t, "sqlite")
	if _, err := New(st.JoinTokens(), st.NodeCerts(), Options{CAFingerprint: "AB:CD"}); err == nil || !strings.Contains(err.Error(), "CAFingerprint") {
		t.Errorf("New with a bad fingerprint: %v", err)
	}
	if _, err := New(nil, st.NodeCerts(), Options{CAFingerprint: testFP}); err == nil {
		t.Error("New without a token store succeeded")
	}
}

// TestCreate: defaults (24h, one use), bounds refused naming the field,
// the text carries the CA fingerprint and only its secret's hash is kept.
func TestCreate(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver, "")
		tok, text, err := f.svc.Create(ctx, Spec{Description: "rack 4"})
		if err != nil {
			t.Fatal(err)
		}
		now := f.clock.Now()
		if !tok.ExpiresAt.Equal(now.Add(24*time.Hour)) || tok.Uses != 1 || tok.Used != 0 || tok.State != StateActive || tok.Description != "rack 4" {
			t.Errorf("defaults: %+v", tok)
		}
		p, err := Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		if p.ID != tok.ID || p.CAFingerprint != testFP {
			t.Errorf("text %+v for token %+v", p, tok)
		}
		stored, err := f.store.JoinTokens().Get(ctx, tok.ID)
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256([]byte(p.Secret)); !bytes.Equal(stored.SecretHash, h[:]) {
			t.Error("the stored hash is not the SHA-256 of the secret")
		}
		if strings.Contains(f.logs.String(), p.Secret) {
			t.Error("the secret was logged")
		}

		tok, _, err = f.svc.Create(ctx, Spec{TTL: time.Hour, Uses: 5})
		if err != nil {
			t.Fatal(err)
		}
		if !tok.ExpiresAt.Equal(now.Add(time.Hour)) || tok.Uses != 5 {
			t.Errorf("ttl 1h, 5 uses: %+v", tok)
		}

		for _, c := range []struct {
			spec  Spec
			field string
		}{
			{Spec{TTL: -time.Hour}, "ttl"},
			{Spec{TTL: time.Second}, "ttl"},
			{Spec{TTL: 31 * 24 * time.Hour}, "ttl"},
			{Spec{Uses: -1}, "uses"},
			{Spec{Uses: MaxUses + 1}, "uses"},
			{Spec{Description: strings.Repeat("x", MaxDescriptionLen+1)}, "description"},
			{Spec{Description: "bell\a"}, "description"},
			{Spec{Description: "bad \xff utf-8"}, "description"},
		} {
			_, _, err := f.svc.Create(ctx, c.spec)
			wantKind(t, c.field, err, KindInvalid, c.field)
			var e *Error
			if errors.As(err, &e) && e.Field != c.field {
				t.Errorf("%+v: field %q, want %q", c.spec, e.Field, c.field)
			}
		}
		if list, _ := f.svc.List(ctx); len(list) != 2 {
			t.Errorf("%d tokens after the refused creates, want 2", len(list))
		}
	})
}

// TestRedeem: a good token is taken as many times as it allows; each way a
// token can be wrong is refused with its own kind and a message naming the
// fix.
func TestRedeem(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver, "")
		_, two, err := f.svc.Create(ctx, Spec{Uses: 2, TTL: time.Hour, Description: "two"})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Redeem(ctx, two); err != nil {
			t.Fatalf("first use: %v", err)
		}
		if err := f.svc.Redeem(ctx, two); err != nil {
			t.Fatalf("second use: %v", err)
		}
		p, _ := Parse(two)
		wantKind(t, "used up", f.svc.Redeem(ctx, two), KindUsedUp, p.ID, "used up (2 of 2 uses)", "quantix node token create")

		_, short, _ := f.svc.Create(ctx, Spec{TTL: time.Minute})
		f.clock.Advance(time.Minute)
		wantKind(t, "expired", f.svc.Redeem(ctx, short), KindExpired, "expired at 2026-05-01T12:01:00Z", "create a new one with quantix node token create")

		tok, revoked, _ := f.svc.Create(ctx, Spec{})
		if _, err := f.svc.Revoke(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		wantKind(t, "revoked", f.svc.Redeem(ctx, revoked), KindRevoked, "was revoked at", "quantix node token create")

		_, good, _ := f.svc.Create(ctx, Spec{})
		gp, _ := Parse(good)
		other, _ := newParts(testFP)
		wrongSecret, _ := Format(Parts{ID: gp.ID, Secret: other.Secret, CAFingerprint: testFP})
		wantKind(t, "wrong secret", f.svc.Redeem(ctx, wrongSecret), KindWrongSecret, gp.ID, "wrong secret")
		unknown, _ := Format(other)
		wantKind(t, "unknown", f.svc.Redeem(ctx, unknown), KindUnknown, other.ID, "not known to this server")
		wrongCA, _ := Format(Parts{ID: gp.ID, Secret: gp.Secret, CAFingerprint: strings.Repeat("cd", 32)})
		wantKind(t, "wrong CA", f.svc.Redeem(ctx, wrongCA), KindWrongCA, "sha256:"+strings.Repeat("cd", 32), "sha256:"+testFP)
		wantKind(t, "malformed", f.svc.Redeem(ctx, good[:40]), KindMalformed, "malformed join token", "use the whole token")
		wantKind(t, "static unset", f.svc.Redeem(ctx, "static-secret"), KindMalformed)
		// None of the refusals used the good token.
		if err := f.svc.Redeem(ctx, good); err != nil {
			t.Errorf("the good token after the refusals: %v", err)
		}
		if strings.Contains(f.logs.String(), gp.Secret) || strings.Contains(f.logs.String(), other.Secret) {
			t.Error("a secret was logged")
		}
	})
}

// TestRedeemStatic: the static token is taken any number of times, as
// well as created tokens; anything else is refused naming both.
func TestRedeemStatic(t *testing.T) {
	f := newFixture(t, "sqlite", "the-static-join-token")
	for range 3 {
		if err := f.svc.Redeem(ctx, "the-static-join-token"); err != nil {
			t.Fatal(err)
		}
	}
	_, text, _ := f.svc.Create(ctx, Spec{})
	if err := f.svc.Redeem(ctx, text); err != nil {
		t.Errorf("a created token beside the static one: %v", err)
	}
	wantKind(t, "near miss", f.svc.Redeem(ctx, "the-static-join-toke"), KindMalformed, "server.join_token", "quantix node token create")
	wantKind(t, "empty", f.svc.Redeem(ctx, ""), KindMalformed, "server.join_token")
	if strings.Contains(f.logs.String(), "the-static-join-tok") {
		t.Error("the static token was logged")
	}
}

// TestRedeemRace: agents racing for the uses of a token get exactly as many
// as it allows; the others are told it is used up.
func TestRedeemRace(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver, "")
		const uses, agents = 2, 12
		_, text, err := f.svc.Create(ctx, Spec{Uses: uses})
		if err != nil {
			t.Fatal(err)
		}
		errs := make([]error, agents)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range agents {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = f.svc.Redeem(ctx, text)
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case KindOf(err) != KindUsedUp:
				t.Errorf("a loser was told %v (%s), want used up", err, KindOf(err))
			}
		}
		if ok != uses {
			t.Errorf("%d agents redeemed a %d-use token", ok, uses)
		}
	})
}

// TestListRevoke: tokens list oldest first with their state; revoking is
// idempotent and an unknown id is KindNotFound.
func TestListRevoke(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver, "")
		a, _, _ := f.svc.Create(ctx, Spec{TTL: time.Minute})
		f.clock.Advance(time.Second)
		b, btext, _ := f.svc.Create(ctx, Spec{})
		f.clock.Advance(time.Second)
		c, _, _ := f.svc.Create(ctx, Spec{})
		if err := f.svc.Redeem(ctx, btext); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Revoke(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		rc, err := f.svc.Revoke(ctx, c.ID)
		if err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
		if rc.State != StateRevoked || rc.RevokedAt == nil || !rc.RevokedAt.Equal(f.clock.Now()) {
			t.Errorf("revoked token %+v", rc)
		}
		f.clock.Advance(time.Minute)
		list, err := f.svc.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tok := range list {
			got = append(got, tok.ID+" "+tok.State)
		}
		want := []string{a.ID + " expired", b.ID + " used_up", c.ID + " revoked"}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("list %v, want %v", got, want)
		}
		_, err = f.svc.Revoke(ctx, "zzzzzzzz")
		wantKind(t, "revoke unknown", err, KindNotFound, `"zzzzzzzz" not found`, "quantix node token list")
		_, err = f.svc.Revoke(ctx, strings.Repeat("x", 500))
		wantKind(t, "revoke a long id", err, KindNotFound, "...")
	})
}

// TestCerts: a recorded certificate is active and not revoked until its
// node is revoked, at once despite the cache; a serial never recorded
// counts as revoked; an expired certificate is not active.
func TestCerts(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver, "")
		now := f.clock.Now()
		if _, ok, err := f.svc.ActiveCert(ctx, "n1"); err != nil || ok {
			t.Fatalf("ActiveCert before any = %v, %v", ok, err)
		}
		if rev, err := f.svc.Revoked(ctx, "abc1"); err != nil || !rev {
			t.Errorf("Revoked(never recorded) = %v, %v; want true", rev, err)
		}
		if err := f.svc.RecordCert(ctx, "n1", "abc1", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		if err := f.svc.RecordCert(ctx, "n1", "abc2", now.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RecordCert(ctx, "n2", "def1", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if serial, ok, err := f.svc.ActiveCert(ctx, "n1"); err != nil || !ok || serial != "abc2" {
			t.Errorf("ActiveCert(n1) = %q, %v, %v; want the newest, abc2", serial, ok, err)
		}
		for _, serial := range []string{"abc1", "abc2", "def1", "abc1"} {
			if rev, err := f.svc.Revoked(ctx, serial); err != nil || rev {
				t.Errorf("Revoked(%s) = %v, %v before revocation", serial, rev, err)
			}
		}
		if err := f.svc.RevokeNode(ctx, "n1"); err != nil {
			t.Fatal(err)
		}
		for serial, want := range map[string]bool{"abc1": true, "abc2": true, "def1": false} {
			if rev, err := f.svc.Revoked(ctx, serial); err != nil || rev != want {
				t.Errorf("Revoked(%s) = %v, %v after revoking n1; want %v", serial, rev, err, want)
			}
		}
		if _, ok, _ := f.svc.ActiveCert(ctx, "n1"); ok {
			t.Error("n1 has an active certificate after its revocation")
		}
		if err := f.svc.RevokeNode(ctx, "never-enrolled"); err != nil {
			t.Errorf("revoking a node without certificates: %v", err)
		}

		// A new agent enrolls as n1; the certificate expires.
		if err := f.svc.RecordCert(ctx, "n1", "abc3", f.clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if serial, ok, _ := f.svc.ActiveCert(ctx, "n1"); !ok || serial != "abc3" {
			t.Errorf("ActiveCert after re-enrolling = %q, %v", serial, ok)
		}
		f.clock.Advance(2 * time.Hour)
		if _, ok, _ := f.svc.ActiveCert(ctx, "n1"); ok {
			t.Error("an expired certificate is active")
		}

		wantKind(t, "no node", f.svc.RecordCert(ctx, "", "ab", now), KindInvalid, "node name")
		wantKind(t, "bad serial", f.svc.RecordCert(ctx, "n", "AB", now), KindInvalid, "serial")
		wantKind(t, "long serial", f.svc.RecordCert(ctx, "n", strings.Repeat("a", 41), now), KindInvalid, "serial")
		wantKind(t, "no expiry", f.svc.RecordCert(ctx, "n", "ab", time.Time{}), KindInvalid, "expiry")
		if err := f.svc.RecordCert(ctx, "n9", "abc1", now); KindOf(err) != KindInternal || !errors.Is(err, store.ErrConflict) {
			t.Errorf("recording a serial twice: %v", err)
		}
	})
}

// TestRevokedCacheRace: lookups racing a revocation never leave a stale
// "not revoked" in the cache.
func TestRevokedCacheRace(t *testing.T) {
	f := newFixture(t, "sqlite", "")
	var serials []string
	for i := range 40 {
		serial := fmt.Sprintf("a%x", i)
		if err := f.svc.RecordCert(ctx, "n1", serial, f.clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		serials = append(serials, serial)
	}
	f.svc.mu.Lock()
	clear(f.svc.revoked) // every first lookup reads the store
	f.svc.mu.Unlock()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range serials {
				if _, err := f.svc.Revoked(ctx, serials[(i+g*10)%len(serials)]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	close(start)
	if err := f.svc.RevokeNode(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, serial := range serials {
		if rev, err := f.svc.Revoked(ctx, serial); err != nil || !rev {
			t.Errorf("Revoked(%s) after the revocation = %v, %v", serial, rev, err)
		}
	}
}

// TestLogsNoSecrets: the service's log at debug names tokens by id only.
func TestLogsNoSecrets(t *testing.T) {
	f := newFixture(t, "sqlite", "")
	_, text, _ := f.svc.Create(ctx, Spec{})
	_ = f.svc.Redeem(ctx, text)
	_ = f.svc.Redeem(ctx, text)
	p, _ := Parse(text)
	logs := f.logs.String()
	if !strings.Contains(logs, p.ID) || strings.Contains(logs, p.Secret) {
		t.Errorf("log names the id and never the secret:\n%s", logs)
	}
}
