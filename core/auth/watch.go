package auth

import (
	"context"
	"errors"
	"time"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/core/store"
)

// watcher is an open stream of a principal.
type watcher struct {
	p         Principal
	tokenRole identity.Role
	cancel    context.CancelCauseFunc
	stop      func() bool
}

// Watch returns a context derived from ctx that ends when p stops being
// valid as it is: when it expires, its token is revoked or its session
// ended, its user is deleted or gets another password (sessions), or its
// role changes. context.Cause of the ended context is an *Error saying
// which (KindUnauthenticated, or KindForbidden for a role change). Changes
// made by this Service end it at once, without polling; cancel releases
// the watch.
//
// p must come from Authenticate. Watch reads p's credential once from the
// store, so that a change made between Authenticate and Watch is not
// missed.
func (s *Service) Watch(ctx context.Context, p Principal) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancelCause(ctx)
	w := &watcher{p: p, cancel: cancel}
	s.watchMu.Lock()
	s.watchers[w] = struct{}{}
	s.watchMu.Unlock()
	context.AfterFunc(wctx, func() { s.unwatch(w) })

	if !p.ExpiresAt.IsZero() {
		d := p.ExpiresAt.Sub(s.now())
		if d <= 0 {
			cancel(s.expired(p))
			return wctx, func() { cancel(context.Canceled) }
		}
		stop := s.afterFunc(d, func() { cancel(s.expired(p)) })
		s.watchMu.Lock()
		w.stop = stop
		s.watchMu.Unlock()
		if wctx.Err() != nil {
			stop()
		}
	}
	tokenRole, err := s.current(ctx, p)
	if err != nil {
		cancel(err)
	} else {
		s.watchMu.Lock()
		w.tokenRole = tokenRole
		s.watchMu.Unlock()
	}
	return wctx, func() { cancel(context.Canceled) }
}

func (s *Service) unwatch(w *watcher) {
	s.watchMu.Lock()
	delete(s.watchers, w)
	stop := w.stop
	s.watchMu.Unlock()
	if stop != nil {
		stop()
	}
}

func (s *Service) expired(p Principal) *Error {
	what := "the session"
	if p.Via == MethodToken {
		what = "API token " + p.TokenPrefix
	}
	return errorf(KindUnauthenticated, "%s expired at %s", what, p.ExpiresAt.UTC().Format(time.RFC3339))
}

// endWatches ends every watch match selects, with an *Error of the kind
// it returns saying why.
func (s *Service) endWatches(match func(p Principal, tokenRole identity.Role) (bool, Kind), why string) {
	s.watchMu.Lock()
	var ended []*watcher
	var kinds []Kind
	for w := range s.watchers {
		if ok, kind := match(w.p, w.tokenRole); ok {
			ended = append(ended, w)
			kinds = append(kinds, kind)
		}
	}
	s.watchMu.Unlock()
	for i, w := range ended {
		w.cancel(errorf(kinds[i], "%s", why))
	}
}

// current reads p's credential from the store and returns an *Error if it
// is no longer valid as p has it; for a token it returns the token's own
// role. A store fault leaves the watch open (and is logged): it is not
// evidence that p changed.
func (s *Service) current(ctx context.Context, p Principal) (identity.Role, error) {
	gone := func(format string, args ...any) (identity.Role, error) {
		return "", errorf(KindUnauthenticated, format, args...)
	}
	fault := func(err error) (identity.Role, error) {
		if ctx.Err() != nil {
			// The stream ended before the check: nothing to report.
			return "", nil
		}
		s.log.Warn("could not check a credential for an open stream", "user", p.User, "credential", p.CredentialID(), "error", err)
		return "", nil
	}
	u, err := s.repo.GetUser(ctx, p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return gone("user %q was deleted", p.User)
	}
	if err != nil {
		return fault(err)
	}
	switch p.Via {
	case MethodToken:
		t, err := s.repo.GetToken(ctx, p.TokenID)
		if errors.Is(err, store.ErrNotFound) {
			return gone("API token %s no longer exists", p.TokenPrefix)
		}
		if err != nil {
			return fault(err)
		}
		if t.RevokedAt != nil {
			return gone("token %s was revoked", p.TokenPrefix)
		}
		if r := effectiveRole(t.Role, u.Role); r != p.Role {
			return "", errorf(KindForbidden, "the role of token %s changed to %s", p.TokenPrefix, r)
		}
		return t.Role, nil
	case MethodSession:
		if _, err := s.repo.GetSession(ctx, p.SessionID); errors.Is(err, store.ErrNotFound) {
			return gone("the session ended")
		} else if err != nil {
			return fault(err)
		}
		if u.Role != p.Role {
			return "", errorf(KindForbidden, "the role of user %q changed to %s", p.User, u.Role)
		}
		return "", nil
	}
	return gone("no credentials: %s", hintCredentials)
}
