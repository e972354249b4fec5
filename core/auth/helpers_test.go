package auth

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/teststore"
)

var ctx = context.Background()

func TestMain(m *testing.M) {
	code := m.Run()
	teststore.Cleanup()
	os.Exit(code)
}

// fakeClock is a clock tests move by hand; timers made by AfterFunc fire
// when Advance passes their time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// Advance moves the clock by d and runs the timers it passes.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !c.now.Before(t.at):
			t.stopped = true
			due = append(due, t.f)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// syncBuffer is a log destination tests read while the code writes.
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

// env is a Service on a fresh store, with a fake clock and its whole log
// (trace and up) captured.
type env struct {
	svc   *Service
	repo  store.AuthRepo
	clock *fakeClock
	log   *syncBuffer
	// secrets collects every secret the test handled, to check the log
	// never shows one.
	secrets []string
}

func newEnv(t *testing.T, driver string, tune func(*Options)) *env {
	t.Helper()
	st := teststore.Open(t, driver)
	e := &env{repo: st.Auth(), clock: newFakeClock(), log: &syncBuffer{}}
	opts := Options{
		Logger:    hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: e.log}),
		Now:       e.clock.Now,
		AfterFunc: e.clock.AfterFunc,
	}
	if tune != nil {
		tune(&opts)
	}
	e.svc = New(e.repo, opts)
	t.Cleanup(func() {
		e.svc.Close()
		logged := e.log.String()
		for _, s := range e.secrets {
			if s != "" && strings.Contains(logged, s) {
				t.Errorf("a secret (%d characters) is in the log:\n%s", len(s), logged)
			}
		}
		if t.Failed() {
			t.Logf("service log:\n%s", logged)
		}
	})
	return e
}

// secret records s as one the log must never show.
func (e *env) secret(s ...string) { e.secrets = append(e.secrets, s...) }

const testPassword = "correct horse battery"

func (e *env) mustUser(t *testing.T, name string, role identity.Role) User {
	t.Helper()
	u, err := e.svc.CreateUser(ctx, name, testPassword+" "+name, role)
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	e.secret(testPassword + " " + name)
	return u
}

func (e *env) mustLogin(t *testing.T, name string) Session {
	t.Helper()
	ss, err := e.svc.Login(ctx, LoginRequest{Username: name, Password: testPassword + " " + name, ClientAddr: "192.0.2.1:5555"})
	if err != nil {
		t.Fatalf("Login(%s): %v", name, err)
	}
	e.secret(ss.Cookie, ss.CSRF)
	return ss
}

// mustToken makes a token of user name's role (logging in with a session
// to own it) and returns the token and its secret.
func (e *env) mustToken(t *testing.T, owner Principal, spec TokenSpec) (Token, string) {
	t.Helper()
	tok, plain, err := e.svc.CreateToken(ctx, owner, spec)
	if err != nil {
		t.Fatalf("CreateToken(%+v): %v", spec, err)
	}
	e.secret(plain, plain[len("qx_")+identity.TokenPrefixLen+1:])
	return tok, plain
}

func bearerRequest(method, token string) *http.Request {
	r := httptest.NewRequest(method, "/api/vms", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func cookieRequest(method string, ss Session, csrf bool) *http.Request {
	r := httptest.NewRequest(method, "/api/vms", nil)
	r.AddCookie(&http.Cookie{Name: CookieName, Value: ss.Cookie})
	if csrf {
		r.Header.Set(HeaderCSRF, ss.CSRF)
	}
	return r
}

// wantErr checks err is an *Error of kind whose message has every one of
// subs, and whose Field is field when field is set.
func wantErr(t *testing.T, what string, err error, kind Kind, field string, subs ...string) *Error {
	t.Helper()
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("%s: error %v (%T), want an *Error of kind %d", what, err, err, kind)
	}
	if ae.Kind != kind {
		t.Fatalf("%s: kind %d (%v), want %d", what, ae.Kind, err, kind)
	}
	if field != "" && ae.Field != field {
		t.Errorf("%s: field %q (%v), want %q", what, ae.Field, err, field)
	}
	for _, s := range subs {
		if !strings.Contains(ae.Message, s) {
			t.Errorf("%s: message %q does not say %q", what, ae.Message, s)
		}
	}
	return ae
}

// mustAuth authenticates r and fails t if it does not pass.
func (e *env) mustAuth(t *testing.T, r *http.Request) Principal {
	t.Helper()
	p, err := e.svc.Authenticate(ctx, r)
	if err != nil {
		t.Fatalf("Authenticate(%s %s): %v", r.Method, r.URL, err)
	}
	return p
}
