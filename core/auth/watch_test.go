package auth

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/internal/wait"
)

// wantEnded checks that wctx has ended with an *Error of kind saying subs.
func wantEnded(t *testing.T, what string, wctx context.Context, kind Kind, subs ...string) {
	t.Helper()
	select {
	case <-wctx.Done():
	default:
		t.Fatalf("%s: the watch is still open", what)
	}
	wantErr(t, what+": cause", context.Cause(wctx), kind, "", subs...)
}

func wantOpen(t *testing.T, what string, wctx context.Context) {
	t.Helper()
	if err := wctx.Err(); err != nil {
		t.Fatalf("%s: the watch ended: %v", what, context.Cause(wctx))
	}
}

func (e *env) watchers() int {
	e.svc.watchMu.Lock()
	defer e.svc.watchMu.Unlock()
	return len(e.svc.watchers)
}

// TestWatch: a watch ends at once when its token is revoked, its session
// logged out, its user deleted or given another password, its role
// changed, or it expires; other watches stay open; cancel releases it.
func TestWatch(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "root", identity.RoleAdmin)
	e.mustUser(t, "ann", identity.RoleOperator)
	rootSS := e.mustLogin(t, "root")
	rootP := e.mustAuth(t, cookieRequest(http.MethodGet, rootSS, false))
	rootW, rootCancel := e.svc.Watch(ctx, rootP)
	defer rootCancel()

	annSS := e.mustLogin(t, "ann")
	annP := e.mustAuth(t, cookieRequest(http.MethodGet, annSS, false))
	tok, plain := e.mustToken(t, annP, TokenSpec{Name: "stream"})
	tokP := e.mustAuth(t, bearerRequest(http.MethodGet, plain))

	t.Run("revocation", func(t *testing.T) {
		w, cancel := e.svc.Watch(ctx, tokP)
		defer cancel()
		wantOpen(t, "before", w)
		if err := e.svc.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		wantEnded(t, "after revocation", w, KindUnauthenticated, "token "+tok.Prefix+" was revoked")
	})
	t.Run("already revoked when the watch starts", func(t *testing.T) {
		w, cancel := e.svc.Watch(ctx, tokP)
		defer cancel()
		wantEnded(t, "a revoked token's watch", w, KindUnauthenticated, "revoked")
	})
	t.Run("expiry", func(t *testing.T) {
		_, short := e.mustToken(t, annP, TokenSpec{Name: "short", TTL: time.Minute})
		p := e.mustAuth(t, bearerRequest(http.MethodGet, short))
		w, cancel := e.svc.Watch(ctx, p)
		defer cancel()
		e.clock.Advance(time.Minute - time.Second)
		wantOpen(t, "before expiry", w)
		e.clock.Advance(time.Second)
		wantEnded(t, "at expiry", w, KindUnauthenticated, "expired at")
		past, cancel2 := e.svc.Watch(ctx, p)
		defer cancel2()
		wantEnded(t, "watching an expired principal", past, KindUnauthenticated, "expired")
	})
	t.Run("role change", func(t *testing.T) {
		_, viewer := e.mustToken(t, annP, TokenSpec{Name: "viewer", Role: identity.RoleViewer})
		_, ops := e.mustToken(t, annP, TokenSpec{Name: "ops"})
		vw, c1 := e.svc.Watch(ctx, e.mustAuth(t, bearerRequest(http.MethodGet, viewer)))
		defer c1()
		ow, c2 := e.svc.Watch(ctx, e.mustAuth(t, bearerRequest(http.MethodGet, ops)))
		defer c2()
		sw, c3 := e.svc.Watch(ctx, annP)
		defer c3()
		if _, err := e.svc.SetRole(ctx, "ann", identity.RoleViewer); err != nil {
			t.Fatal(err)
		}
		wantEnded(t, "the session", sw, KindForbidden, `the role of user "ann" changed to viewer`)
		wantEnded(t, "the operator token", ow, KindForbidden, "changed")
		wantOpen(t, "the viewer token, whose role stays viewer", vw)
		// Watching the old principal again sees the change in the store.
		old, c4 := e.svc.Watch(ctx, annP)
		defer c4()
		wantEnded(t, "a stale principal", old, KindForbidden, "changed to viewer")
		if _, err := e.svc.SetRole(ctx, "ann", identity.RoleOperator); err != nil {
			t.Fatal(err)
		}
		annP = e.mustAuth(t, cookieRequest(http.MethodGet, annSS, false))
	})
	t.Run("token role change", func(t *testing.T) {
		tk, pl := e.mustToken(t, annP, TokenSpec{Name: "tr"})
		w, cancel := e.svc.Watch(ctx, e.mustAuth(t, bearerRequest(http.MethodGet, pl)))
		defer cancel()
		if _, err := e.svc.SetTokenRole(ctx, tk.ID, identity.RoleOperator); err != nil {
			t.Fatal(err)
		}
		wantOpen(t, "the same role again", w)
		if _, err := e.svc.SetTokenRole(ctx, tk.ID, identity.RoleViewer); err != nil {
			t.Fatal(err)
		}
		wantEnded(t, "a new role", w, KindForbidden, "changed to viewer")
	})
	t.Run("password change", func(t *testing.T) {
		_, pl := e.mustToken(t, annP, TokenSpec{Name: "pw"})
		tw, c1 := e.svc.Watch(ctx, e.mustAuth(t, bearerRequest(http.MethodGet, pl)))
		defer c1()
		sw, c2 := e.svc.Watch(ctx, annP)
		defer c2()
		const pw = "a brand new password"
		e.secret(pw)
		if _, err := e.svc.SetPassword(ctx, "ann", pw); err != nil {
			t.Fatal(err)
		}
		wantEnded(t, "the session", sw, KindUnauthenticated, "password", "log in again")
		wantOpen(t, "the token", tw)
		ss, err := e.svc.Login(ctx, LoginRequest{Username: "ann", Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		e.secret(ss.Cookie, ss.CSRF)
		annP = e.mustAuth(t, cookieRequest(http.MethodGet, ss, false))
	})
	t.Run("logout", func(t *testing.T) {
		w, cancel := e.svc.Watch(ctx, annP)
		defer cancel()
		if err := e.svc.Logout(ctx, annP); err != nil {
			t.Fatal(err)
		}
		wantEnded(t, "after logout", w, KindUnauthenticated, "logged out")
	})
	t.Run("user deletion", func(t *testing.T) {
		_, pl := e.mustToken(t, annP, TokenSpec{Name: "del"})
		w, cancel := e.svc.Watch(ctx, e.mustAuth(t, bearerRequest(http.MethodGet, pl)))
		defer cancel()
		if err := e.svc.DeleteUser(ctx, "ann"); err != nil {
			t.Fatal(err)
		}
		wantEnded(t, "after deletion", w, KindUnauthenticated, `user "ann" was deleted`)
	})
	wantOpen(t, "another user's watch", rootW)

	// Ended and cancelled watches are released.
	rootCancel()
	if !errors.Is(context.Cause(rootW), context.Canceled) {
		t.Errorf("cancelled watch cause %v", context.Cause(rootW))
	}
	wait.Until(t, 5*time.Second, "every watch released", func() bool { return e.watchers() == 0 })
	e.svc.watchMu.Lock()
	defer e.svc.watchMu.Unlock()
	e.clock.mu.Lock()
	defer e.clock.mu.Unlock()
	for _, tm := range e.clock.timers {
		if !tm.stopped {
			t.Errorf("an expiry timer at %v outlives its watch", tm.at)
		}
	}
}

// TestWatchParent: a watch ends with its parent context.
func TestWatchParent(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	e.mustUser(t, "root", identity.RoleAdmin)
	p := e.mustAuth(t, cookieRequest(http.MethodGet, e.mustLogin(t, "root"), false))
	parent, cancelParent := context.WithCancel(ctx)
	w, cancel := e.svc.Watch(parent, p)
	defer cancel()
	wantOpen(t, "before", w)
	cancelParent()
	<-w.Done()
	wait.Until(t, 5*time.Second, "the watch released", func() bool { return e.watchers() == 0 })
}
