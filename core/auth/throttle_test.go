package auth

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/internal/wait"
)

type failures struct {
	mu   sync.Mutex
	list []LoginFailure
}

func (f *failures) add(lf LoginFailure) {
	f.mu.Lock()
	f.list = append(f.list, lf)
	f.mu.Unlock()
}

func (f *failures) all() []LoginFailure {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]LoginFailure(nil), f.list...)
}

// TestThrottleUser: after three failures a user name must wait a delay
// that doubles with each further failure, even with the right password;
// once it has waited the right password works and clears the count.
// Failures are logged and reported with user and address, never the
// password.
func TestThrottleUser(t *testing.T) {
	var got failures
	e := newEnv(t, "sqlite", func(o *Options) {
		o.LoginFailed = func(_ context.Context, f LoginFailure) { got.add(f) }
	})
	e.mustUser(t, "ann", identity.RoleOperator)
	right := testPassword + " ann"
	const wrong = "wrong password 1234"
	e.secret(wrong)
	login := func(pw, addr string) error {
		_, err := e.svc.Login(ctx, LoginRequest{Username: "ann", Password: pw, ClientAddr: addr})
		return err
	}
	for i := range 3 {
		// Each from another address: only the user name counts here.
		wantErr(t, fmt.Sprintf("failure %d", i+1), login(wrong, fmt.Sprintf("198.51.100.%d:1000", i)), KindUnauthenticated, "", "wrong user name or password")
	}
	ae := wantErr(t, "right password after 3 failures", login(right, "203.0.113.9:1"), KindThrottled, "", "too many failed logins for this user", "try again in 1s")
	if ae.RetryAfter != time.Second {
		t.Errorf("RetryAfter %v, want 1s", ae.RetryAfter)
	}
	e.clock.Advance(time.Second)
	wantErr(t, "failure 4", login(wrong, "203.0.113.9:1"), KindUnauthenticated, "")
	ae = wantErr(t, "after failure 4", login(right, "203.0.113.9:1"), KindThrottled, "")
	if ae.RetryAfter != 2*time.Second {
		t.Errorf("RetryAfter after 4 failures %v, want 2s", ae.RetryAfter)
	}
	e.clock.Advance(time.Second)
	ae = wantErr(t, "half way", login(right, "203.0.113.9:1"), KindThrottled, "")
	if ae.RetryAfter != time.Second {
		t.Errorf("RetryAfter half way %v, want 1s", ae.RetryAfter)
	}
	e.clock.Advance(time.Second)
	if err := login(right, "203.0.113.9:1"); err != nil {
		t.Fatalf("the right password after waiting: %v", err)
	}
	// The success cleared the user's count.
	for i := range 2 {
		wantErr(t, fmt.Sprintf("failure %d after success", i+1), login(wrong, "192.0.2.50"), KindUnauthenticated, "")
	}
	if err := login(right, "192.0.2.50"); err != nil {
		t.Fatalf("the right password after two new failures: %v", err)
	}

	logged := e.log.String()
	if n := strings.Count(logged, "login failed: user=ann address=198.51.100.0:1000 reason=\"wrong password\""); n != 1 {
		t.Errorf("%d logs of the first failure:\n%s", n, logged)
	}
	if !strings.Contains(logged, `login throttled: user=ann address=203.0.113.9:1 reason="too many failed logins for this user" retry_after=1s`) {
		t.Errorf("no log of a throttled login:\n%s", logged)
	}
	list := got.all()
	var failed, throttled int
	for _, f := range list {
		if f.User != "ann" || f.ClientAddr == "" || f.Reason == "" {
			t.Errorf("reported failure %+v", f)
		}
		if f.Throttled {
			throttled++
			if f.RetryAfter <= 0 {
				t.Errorf("throttled without RetryAfter: %+v", f)
			}
		} else {
			failed++
		}
		if strings.Contains(fmt.Sprintf("%+v", f), wrong) || strings.Contains(fmt.Sprintf("%+v", f), right) {
			t.Errorf("a reported failure holds a password: %+v", f)
		}
	}
	if failed != 6 || throttled != 3 {
		t.Errorf("%d failures and %d throttled logins reported, want 6 and 3: %+v", failed, throttled, list)
	}
	e.secret(right)
}

// TestThrottleAddress: failures for many user names from one address
// (an IPv6 /64 counts as one) make that address wait; other addresses do
// not.
func TestThrottleAddress(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "ann", identity.RoleOperator)
	for i, addr := range []string{"[2001:db8:1:2::1]:40000", "[2001:db8:1:2::ff]:40001", "2001:db8:1:2:abcd::7"} {
		_, err := e.svc.Login(ctx, LoginRequest{Username: fmt.Sprintf("guess%d", i), Password: "some password 123", ClientAddr: addr})
		wantErr(t, "a guess", err, KindUnauthenticated, "", "wrong user name or password")
	}
	_, err := e.svc.Login(ctx, LoginRequest{Username: "ann", Password: testPassword + " ann", ClientAddr: "[2001:db8:1:2::99]:1"})
	wantErr(t, "the same /64", err, KindThrottled, "", "too many failed logins from this address")
	if _, err := e.svc.Login(ctx, LoginRequest{Username: "ann", Password: testPassword + " ann", ClientAddr: "[2001:db8:1:3::1]:1"}); err != nil {
		t.Errorf("another /64: %v", err)
	}
}

// TestThrottleGrowthAndForget: delays double up to Max, and a key is
// forgotten Forget after its last failure.
func TestThrottleGrowthAndForget(t *testing.T) {
	clock := newFakeClock()
	th := newThrottle(ThrottleOptions{Free: 2, Base: time.Second, Max: 10 * time.Second, Forget: time.Hour})
	var waits []time.Duration
	for range 7 {
		th.fail(clock.Now(), "u", "a")
		d, _ := th.check(clock.Now(), "u", "")
		waits = append(waits, d)
		clock.Advance(d)
	}
	want := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", waits, want)
	}
	clock.Advance(time.Hour)
	if d, _ := th.check(clock.Now(), "u", "a"); d != 0 {
		t.Errorf("wait an hour after the last failure: %v", d)
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	if len(th.users) != 0 || len(th.addrs) != 0 {
		t.Errorf("forgotten keys still held: %d users, %d addresses", len(th.users), len(th.addrs))
	}
}

// TestThrottleBounded: however many names and addresses fail, the
// throttle holds at most Entries of each, forgetting the oldest.
func TestThrottleBounded(t *testing.T) {
	clock := newFakeClock()
	th := newThrottle(ThrottleOptions{Entries: 8})
	for i := range 1000 {
		th.fail(clock.Now(), fmt.Sprintf("user%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		clock.Advance(time.Millisecond)
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	if len(th.users) > 8 || len(th.addrs) > 8 {
		t.Fatalf("%d users and %d addresses held, at most 8 each", len(th.users), len(th.addrs))
	}
	if th.users["user999"] == nil || th.users["user0"] != nil {
		t.Errorf("the newest key was dropped or the oldest kept")
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "",
		"192.0.2.1":              "192.0.2.1",
		"192.0.2.1:8080":         "192.0.2.1",
		"[::ffff:192.0.2.1]:80":  "192.0.2.1",
		"[2001:db8::1]:80":       "2001:db8::/64",
		"2001:db8::1":            "2001:db8::/64",
		"[fe80::1%eth0]:80":      "fe80::/64",
		"not an address":         "not an address",
		strings.Repeat("x", 300): strings.Repeat("x", 128),
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%.20q) = %q, want %q", in, got, want)
		}
	}
}

// TestLoginBoundedHashing: argon2id runs at most PasswordHashers at once;
// a login finding PasswordQueue others waiting is refused as throttled
// rather than queued.
func TestLoginBoundedHashing(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *Options) { o.PasswordQueue = 1 })
	e.mustUser(t, "ann", identity.RoleOperator)
	// Hold both hashers.
	for range DefaultPasswordHashers {
		if err := e.svc.acquireHasher(ctx); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.svc.Login(ctx, LoginRequest{Username: "ann", Password: testPassword + " ann", ClientAddr: "192.0.2.1"})
		done <- err
	}()
	wait.Until(t, 5*time.Second, "the login queued", func() bool { return e.svc.queued.Load() == DefaultPasswordHashers+1 })
	_, err := e.svc.Login(ctx, LoginRequest{Username: "ann", Password: testPassword + " ann", ClientAddr: "192.0.2.2"})
	ae := wantErr(t, "a login with the queue full", err, KindThrottled, "", "too many logins in progress")
	if ae.RetryAfter != time.Second {
		t.Errorf("RetryAfter %v", ae.RetryAfter)
	}
	select {
	case err := <-done:
		t.Fatalf("the queued login finished while both hashers were held: %v", err)
	default:
	}
	e.svc.releaseHasher()
	if err := <-done; err != nil {
		t.Fatalf("the queued login: %v", err)
	}
	e.svc.releaseHasher()
	if n := e.svc.queued.Load(); n != 0 || len(e.svc.hashers) != 0 {
		t.Errorf("%d queued, %d hashers held after all logins", n, len(e.svc.hashers))
	}
	// A refused login does not count as a failure of the user.
	if d, _ := e.svc.throttle.check(e.clock.Now(), "ann", "192.0.2.2"); d != 0 {
		t.Errorf("the refused login made the user wait %v", d)
	}
}

// TestLoginInputs: empty and oversized fields are refused naming the
// field, before any password check.
func TestLoginInputs(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	for _, c := range []struct {
		req   LoginRequest
		field string
		says  string
	}{
		{LoginRequest{Password: "x"}, "username", "username is required"},
		{LoginRequest{Username: "x"}, "password", "password is required"},
		{LoginRequest{Username: strings.Repeat("u", 65), Password: "x"}, "username", "at most 64"},
		{LoginRequest{Username: "u", Password: strings.Repeat("p", identity.MaxPasswordBytes+1)}, "password", "at most 1024"},
	} {
		_, err := e.svc.Login(ctx, c.req)
		wantErr(t, c.says, err, KindInvalid, c.field, c.says)
	}
	_, err := e.svc.Login(ctx, LoginRequest{Username: "nobody", Password: "whatever password"})
	wantErr(t, "an unknown user", err, KindUnauthenticated, "", "wrong user name or password")
	if !strings.Contains(e.log.String(), `login failed: user=nobody address="" reason="unknown user"`) {
		t.Errorf("the unknown user's failure is not logged:\n%s", e.log.String())
	}
	e.secret("whatever password")
}
