package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/core/store"
)

// Bounds of what Authenticate reads from a request.
const (
	// maxAuthorizationLen bounds the Authorization header: "Bearer " and
	// a token (identity.TokenLen) with room for extra spaces.
	maxAuthorizationLen = 256
	// secretLen is the length of a session cookie's secret and of a CSRF
	// token: 32 random bytes in unpadded base64url.
	secretLen   = 43
	secretBytes = 32
)

// secretEncoding encodes session secrets and CSRF tokens.
var secretEncoding = base64.RawURLEncoding.Strict()

const (
	hintCredentials = "send Authorization: Bearer <token> or log in with POST /api/auth/login"
	hintBearer      = "want one header Authorization: Bearer <token>"
)

// errNoCredentials: the request carries neither a bearer token nor a
// session cookie.
func errNoCredentials() error {
	return errorf(KindUnauthenticated, "no credentials: %s", hintCredentials)
}

// parseBearer reads the Authorization header values of a request. No
// header is ("", false, nil). Exactly one header of the form
// "Bearer <token>" (scheme in any case, one or more spaces, one token of
// the form identity.ParseToken accepts, at most maxAuthorizationLen bytes
// in all) returns the token's prefix and secret; anything else is a
// KindUnauthenticated error naming the expected form that never repeats the
// header.
func parseBearer(values []string) (prefix, secret string, ok bool, err error) {
	if len(values) == 0 {
		return "", "", false, nil
	}
	bad := func(format string, args ...any) (string, string, bool, error) {
		return "", "", true, errorf(KindUnauthenticated, "malformed Authorization header: %s; %s", fmt.Sprintf(format, args...), hintBearer)
	}
	if len(values) > 1 {
		return bad("%d headers", len(values))
	}
	v := values[0]
	if len(v) > maxAuthorizationLen {
		return bad("%d bytes long, at most %d", len(v), maxAuthorizationLen)
	}
	scheme, rest, found := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		if strings.TrimSpace(v) == "" {
			return bad("empty")
		}
		return bad("the scheme is not Bearer")
	}
	if !found {
		return bad("no token after Bearer")
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" {
		return bad("no token after Bearer")
	}
	if strings.ContainsAny(token, " \t") {
		return bad("more than one token")
	}
	prefix, secret, perr := identity.ParseToken(token)
	if perr != nil {
		return "", "", true, &Error{Kind: KindUnauthenticated, Err: perr,
			Message: fmt.Sprintf("malformed API token in the Authorization header: %v", perr)}
	}
	return prefix, secret, true, nil
}

// parseSessionCookie finds the CookieName cookie in the Cookie header
// values of a request. None is ("", false, nil). One, with a value of
// exactly secretLen base64url characters, returns the value; a second one
// or a malformed value is a KindUnauthenticated error that never repeats
// the value.
func parseSessionCookie(headers []string) (string, bool, error) {
	var (
		value string
		n     int
	)
	for _, h := range headers {
		for part := range strings.SplitSeq(h, ";") {
			name, val, found := strings.Cut(strings.TrimSpace(part), "=")
			if !found || strings.TrimSpace(name) != CookieName {
				continue
			}
			n++
			value = strings.TrimSpace(val)
		}
	}
	switch {
	case n == 0:
		return "", false, nil
	case n > 1:
		return "", true, errorf(KindUnauthenticated, "%d %s cookies: send one (log in again to get a fresh one)", n, CookieName)
	}
	if !validSecret(value) {
		return "", true, errorf(KindUnauthenticated, "malformed %s cookie: want the value login set, %d characters of base64url; log in again", CookieName, secretLen)
	}
	return value, true, nil
}

// validSecret reports whether s has the form of a session secret or CSRF
// token.
func validSecret(s string) bool {
	if len(s) != secretLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	_, err := secretEncoding.DecodeString(s)
	return err == nil
}

// safeMethod reports whether method changes nothing, so that a
// cookie-authenticated request needs no CSRF token.
func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// checkCSRF checks the HeaderCSRF values of a cookie-authenticated request
// against the SHA-256 of the session's CSRF token, in constant time. A
// missing, repeated, malformed or wrong header is a KindForbidden error
// naming the header.
func checkCSRF(values []string, want []byte) error {
	switch len(values) {
	case 0:
		return errorf(KindForbidden, "missing %s header: a request authenticated by the %s cookie must send the CSRF token login returned to change anything", HeaderCSRF, CookieName)
	case 1:
	default:
		return errorf(KindForbidden, "%d %s headers: send one, the CSRF token login returned", len(values), HeaderCSRF)
	}
	v := values[0]
	if !validSecret(v) {
		return errorf(KindForbidden, "malformed %s header: want the CSRF token login returned, %d characters of base64url", HeaderCSRF, secretLen)
	}
	got := sha256.Sum256([]byte(v))
	if len(want) != sha256.Size || subtle.ConstantTimeCompare(got[:], want) != 1 {
		return errorf(KindForbidden, "wrong %s header: send the CSRF token login returned with this session", HeaderCSRF)
	}
	return nil
}

// Authenticate returns who r is: the API token in its Authorization header
// (Bearer) or, without one, the session of its CookieName cookie. A
// request authenticated by the cookie whose method is not GET, HEAD or
// OPTIONS must carry the session's CSRF token in HeaderCSRF (KindForbidden
// naming the header otherwise). No credentials, malformed, unknown, wrong,
// expired or revoked ones are KindUnauthenticated with a message naming
// what is missing or wrong.
//
// Verified credentials are cached by the hash of their secret: a request
// with a known credential costs no database read and no argon2id. A token's
// use is recorded at most once per TouchInterval, off the request path.
func (s *Service) Authenticate(ctx context.Context, r *http.Request) (Principal, error) {
	prefix, secret, bearer, err := parseBearer(r.Header.Values("Authorization"))
	if err != nil {
		return Principal{}, err
	}
	if bearer {
		return s.authenticateToken(ctx, prefix, secret)
	}
	cookie, ok, err := parseSessionCookie(r.Header.Values("Cookie"))
	if err != nil {
		return Principal{}, err
	}
	if !ok {
		return Principal{}, errNoCredentials()
	}
	p, csrf, err := s.authenticateSession(ctx, cookie)
	if err != nil {
		return Principal{}, err
	}
	if !safeMethod(r.Method) {
		if err := checkCSRF(r.Header.Values(HeaderCSRF), csrf[:]); err != nil {
			return Principal{}, err
		}
	}
	return p, nil
}

// cacheEntry is a verified credential.
type cacheEntry struct {
	p Principal
	// csrf is the SHA-256 of a session's CSRF token.
	csrf [sha256.Size]byte
	// checked is when the entry was read from the store.
	checked time.Time
	// touched is when a token's use was last recorded (Unix nanoseconds).
	touched atomic.Int64
}

// credCache maps the SHA-256 of a credential's secret to the verified
// credential. gen counts invalidations: a credential read from the store
// is only added if none happened since the read began, so that a change
// racing with the read cannot leave a stale entry.
type credCache struct {
	mu      sync.RWMutex
	entries map[[sha256.Size]byte]*cacheEntry
	gen     uint64
	max     int
}

func (c *credCache) init(max int) {
	c.entries = make(map[[sha256.Size]byte]*cacheEntry)
	c.max = max
}

func (c *credCache) get(k [sha256.Size]byte) (*cacheEntry, uint64) {
	c.mu.RLock()
	e, gen := c.entries[k], c.gen
	c.mu.RUnlock()
	return e, gen
}

// put adds e under k unless the cache was invalidated since gen.
func (c *credCache) put(k [sha256.Size]byte, e *cacheEntry, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		for key, old := range c.entries {
			if !old.p.ExpiresAt.IsZero() && !now.Before(old.p.ExpiresAt) {
				delete(c.entries, key)
			}
		}
		for key := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, key)
		}
	}
	c.entries[k] = e
}

// remove drops the entry under k if it is still e.
func (c *credCache) remove(k [sha256.Size]byte, e *cacheEntry) {
	c.mu.Lock()
	if c.entries[k] == e {
		delete(c.entries, k)
	}
	c.mu.Unlock()
}

// drop removes every entry match selects and counts an invalidation.
func (c *credCache) drop(match func(*cacheEntry) bool) {
	c.mu.Lock()
	c.gen++
	for k, e := range c.entries {
		if match(e) {
			delete(c.entries, k)
		}
	}
	c.mu.Unlock()
}

// fresh reports whether e can be used at now without reading the store.
func (s *Service) fresh(e *cacheEntry, now time.Time) bool {
	return now.Sub(e.checked) < s.opts.CacheRefresh && now.After(e.checked.Add(-time.Minute))
}

// The errors of credentials that are not (or no longer) valid. Each call
// makes a new *Error, so that a caller may change what it gets.
func errTokenUnknown() error {
	return errorf(KindUnauthenticated, "unknown API token: it does not exist or its user was deleted; create a new one")
}

func errTokenWrong() error {
	return errorf(KindUnauthenticated, "wrong API token: the secret does not match; check the token or create a new one")
}

func errSessionGone() error {
	return errorf(KindUnauthenticated, "unknown session: it ended, expired or was never made; log in again")
}

func (s *Service) authenticateToken(ctx context.Context, prefix, secret string) (Principal, error) {
	key := sha256.Sum256([]byte(secret))
	now := s.now()
	e, gen := s.cache.get(key)
	if e != nil && e.p.Via == MethodToken && e.p.TokenPrefix == prefix && s.fresh(e, now) {
		if !e.p.ExpiresAt.IsZero() && !now.Before(e.p.ExpiresAt) {
			s.cache.remove(key, e)
			return Principal{}, tokenExpired(e.p.TokenPrefix, e.p.ExpiresAt)
		}
		s.touch(e, now)
		return e.p, nil
	}
	t, err := s.repo.GetTokenByPrefix(ctx, prefix)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, errTokenUnknown()
	}
	if err != nil {
		return Principal{}, internal(err, "reading API token %s", prefix)
	}
	if !identity.CheckToken(secret, t.Hash) {
		return Principal{}, errTokenWrong()
	}
	if t.RevokedAt != nil {
		return Principal{}, errorf(KindUnauthenticated, "API token %s was revoked at %s; create a new one", prefix, t.RevokedAt.UTC().Format(time.RFC3339))
	}
	if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
		return Principal{}, tokenExpired(prefix, *t.ExpiresAt)
	}
	u, err := s.repo.GetUser(ctx, t.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, errTokenUnknown()
	}
	if err != nil {
		return Principal{}, internal(err, "reading the owner of API token %s", prefix)
	}
	p := Principal{Via: MethodToken, UserID: u.ID, User: u.Name, Role: effectiveRole(t.Role, u.Role),
		TokenID: t.ID, TokenPrefix: t.Prefix}
	if t.ExpiresAt != nil {
		p.ExpiresAt = *t.ExpiresAt
	}
	ne := &cacheEntry{p: p, checked: now}
	if t.LastUsedAt != nil {
		ne.touched.Store(t.LastUsedAt.UnixNano())
	}
	s.cache.put(key, ne, gen, now)
	s.touch(ne, now)
	return p, nil
}

func tokenExpired(prefix string, at time.Time) error {
	return errorf(KindUnauthenticated, "API token %s expired at %s; create a new one", prefix, at.UTC().Format(time.RFC3339))
}

func (s *Service) authenticateSession(ctx context.Context, cookie string) (Principal, [sha256.Size]byte, error) {
	key := sha256.Sum256([]byte(cookie))
	now := s.now()
	e, gen := s.cache.get(key)
	if e != nil && e.p.Via == MethodSession && s.fresh(e, now) {
		if !now.Before(e.p.ExpiresAt) {
			s.cache.remove(key, e)
			return Principal{}, e.csrf, sessionExpired(e.p.ExpiresAt)
		}
		return e.p, e.csrf, nil
	}
	var csrf [sha256.Size]byte
	ss, err := s.repo.GetSessionByHash(ctx, key[:])
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, csrf, errSessionGone()
	}
	if err != nil {
		return Principal{}, csrf, internal(err, "reading a session")
	}
	if !now.Before(ss.ExpiresAt) {
		return Principal{}, csrf, sessionExpired(ss.ExpiresAt)
	}
	u, err := s.repo.GetUser(ctx, ss.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, csrf, errSessionGone()
	}
	if err != nil {
		return Principal{}, csrf, internal(err, "reading the user of session %s", ss.ID)
	}
	copy(csrf[:], ss.CSRFHash)
	p := Principal{Via: MethodSession, UserID: u.ID, User: u.Name, Role: u.Role, SessionID: ss.ID, ExpiresAt: ss.ExpiresAt}
	s.cache.put(key, &cacheEntry{p: p, csrf: csrf, checked: now}, gen, now)
	return p, csrf, nil
}

func sessionExpired(at time.Time) error {
	return errorf(KindUnauthenticated, "session expired at %s; log in again", at.UTC().Format(time.RFC3339))
}

// touch records a use of e's token at now if the last one recorded is
// TouchInterval old: it queues the write for the writer goroutine.
func (s *Service) touch(e *cacheEntry, now time.Time) {
	last := e.touched.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < s.opts.TouchInterval {
		return
	}
	if !e.touched.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	s.touchMu.Lock()
	defer s.touchMu.Unlock()
	if s.touchClosed {
		return
	}
	if at, ok := s.touchPending[e.p.TokenID]; !ok || now.After(at) {
		s.touchPending[e.p.TokenID] = now
	}
	if !s.touchRunning {
		s.touchRunning = true
		go s.writeTouches()
	}
}

// touchWriteTimeout bounds one write of a token's last use.
const touchWriteTimeout = 10 * time.Second

// writeTouches writes queued token uses until none is left.
func (s *Service) writeTouches() {
	for {
		s.touchMu.Lock()
		if len(s.touchPending) == 0 {
			s.touchRunning = false
			s.touchDone.Broadcast()
			s.touchMu.Unlock()
			return
		}
		batch := s.touchPending
		s.touchPending = make(map[string]time.Time)
		s.touchMu.Unlock()
		for id, at := range batch {
			ctx, cancel := context.WithTimeout(context.Background(), touchWriteTimeout)
			if err := s.repo.TouchToken(ctx, id, at); err != nil {
				s.log.Warn("could not record the use of an API token", "token_id", id, "error", err)
			}
			cancel()
		}
	}
}
