package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/core/store"
)

// sessionSweepInterval: expired sessions are removed from the store at
// most this often, by a login.
const sessionSweepInterval = time.Hour

// errWrongLogin is the one answer to a wrong user name or password: it
// does not say which was wrong.
func errWrongLogin() error { return errorf(KindUnauthenticated, "wrong user name or password") }

// Login checks a user's password and opens a browser session, which works
// for SessionTTL. Failures are throttled per user name and per client
// address (KindThrottled with RetryAfter), logged as "login failed" with
// the user and address (never the password) and passed to
// Options.LoginFailed. A wrong user name and a wrong password get the same
// answer in about the same time.
func (s *Service) Login(ctx context.Context, req LoginRequest) (Session, error) {
	u, err := s.checkLogin(ctx, req)
	if err != nil {
		return Session{}, err
	}
	cookie, cookieHash, err := newSecret()
	if err != nil {
		return Session{}, internal(err, "making a session")
	}
	csrf, csrfHash, err := newSecret()
	if err != nil {
		return Session{}, internal(err, "making a session")
	}
	now := s.now()
	ss := &store.AuthSession{ID: uuid.NewString(), Hash: cookieHash, CSRFHash: csrfHash, UserID: u.ID,
		CreatedAt: now, ExpiresAt: now.Add(s.opts.SessionTTL)}
	if err := s.repo.CreateSession(ctx, ss); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Session{}, errWrongLogin()
		}
		return Session{}, internal(err, "storing a session of user %q", u.Name)
	}
	s.sweepSessions(ctx, now)
	s.log.Info("user logged in", "user", u.Name, "address", req.ClientAddr, "session_id", ss.ID)
	return Session{ID: ss.ID, Cookie: cookie, CSRF: csrf, UserID: u.ID, User: u.Name, Role: u.Role, ExpiresAt: ss.ExpiresAt}, nil
}

// LoginToken checks a user's password as Login does and makes a personal
// API token of the user's role named name ("login" when empty), which
// works for LoginTokenTTL: what a command-line login keeps.
func (s *Service) LoginToken(ctx context.Context, req LoginRequest, name string) (Token, string, error) {
	if name == "" {
		name = "login"
	}
	if err := validateTokenName(name); err != nil {
		err.Field, err.Message = "token_name", "token_"+err.Message
		return Token{}, "", err
	}
	u, err := s.checkLogin(ctx, req)
	if err != nil {
		return Token{}, "", err
	}
	t, plain, err := s.newToken(ctx, u, name, u.Role, s.opts.LoginTokenTTL)
	if err != nil {
		return Token{}, "", err
	}
	s.log.Info("user logged in", "user", u.Name, "address", req.ClientAddr, "token_id", t.ID)
	return t, plain, nil
}

// Logout ends p's session, or revokes the token p used. Either stops
// working at once and its open streams end.
func (s *Service) Logout(ctx context.Context, p Principal) error {
	switch p.Via {
	case MethodSession:
		err := s.repo.DeleteSession(ctx, p.SessionID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return internal(err, "ending session %s", p.SessionID)
		}
		s.sessionGone(p.SessionID, "the session was logged out")
		s.log.Info("user logged out", "user", p.User, "session_id", p.SessionID)
		return nil
	case MethodToken:
		if err := s.RevokeToken(ctx, p.TokenID); err != nil && KindOf(err) != KindNotFound {
			return err
		}
		s.log.Info("user logged out", "user", p.User, "token_id", p.TokenID)
		return nil
	}
	return errorf(KindUnauthenticated, "no credentials to log out: %s", hintCredentials)
}

// newSecret returns 256 random bits in unpadded base64url and their
// SHA-256.
func newSecret() (string, []byte, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("reading random bytes: %w", err)
	}
	v := secretEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(v))
	return v, h[:], nil
}

// sweepSessions removes expired sessions, at most once per
// sessionSweepInterval.
func (s *Service) sweepSessions(ctx context.Context, now time.Time) {
	s.sweepMu.Lock()
	due := now.Sub(s.lastSweep) >= sessionSweepInterval
	if due {
		s.lastSweep = now
	}
	s.sweepMu.Unlock()
	if !due {
		return
	}
	if _, err := s.repo.DeleteExpiredSessions(ctx, now); err != nil {
		s.log.Warn("could not remove expired sessions", "error", err)
	}
}

// checkLogin verifies req's password within the throttle and the bound on
// concurrent argon2id computations and returns the user.
func (s *Service) checkLogin(ctx context.Context, req LoginRequest) (*store.AuthUser, error) {
	if req.Username == "" {
		return nil, invalid("username", "username is required")
	}
	if req.Password == "" {
		return nil, invalid("password", "password is required")
	}
	if len(req.Username) > MaxUserNameLen {
		return nil, invalid("username", "username is %d bytes long: at most %d", len(req.Username), MaxUserNameLen)
	}
	if len(req.Password) > identity.MaxPasswordBytes {
		return nil, invalid("password", "password is %d bytes long: at most %d", len(req.Password), identity.MaxPasswordBytes)
	}
	userKey, addrKey := req.Username, addressKey(req.ClientAddr)
	if wait, why := s.throttle.check(s.now(), userKey, addrKey); wait > 0 {
		return nil, s.refuse(ctx, req, why, wait)
	}
	if err := s.acquireHasher(ctx); err != nil {
		if KindOf(err) == KindThrottled {
			return nil, s.refuse(ctx, req, "too many logins in progress", time.Second)
		}
		return nil, err
	}
	u, ok, reason, err := s.verify(ctx, req)
	s.releaseHasher()
	if err != nil {
		return nil, err
	}
	if !ok {
		s.throttle.fail(s.now(), userKey, addrKey)
		s.log.Warn("login failed", "user", req.Username, "address", req.ClientAddr, "reason", reason)
		if s.opts.LoginFailed != nil {
			s.opts.LoginFailed(ctx, LoginFailure{User: req.Username, ClientAddr: req.ClientAddr, Reason: reason})
		}
		return nil, errWrongLogin()
	}
	s.throttle.succeed(userKey)
	return u, nil
}

// verify checks the password of req's user. An unknown user costs an
// argon2id computation all the same, so that timing does not tell which
// names exist.
func (s *Service) verify(ctx context.Context, req LoginRequest) (*store.AuthUser, bool, string, error) {
	u, err := s.repo.GetUserByName(ctx, req.Username)
	if errors.Is(err, store.ErrNotFound) {
		_, _ = identity.VerifyPassword(s.dummy(), req.Password)
		return nil, false, "unknown user", nil
	}
	if err != nil {
		return nil, false, "", internal(err, "reading user %q", req.Username)
	}
	ok, err := identity.VerifyPassword(u.PasswordHash, req.Password)
	if err != nil {
		s.log.Error("the stored password hash of a user is malformed; set a new password", "user", u.Name, "error", err)
		return nil, false, "", internal(err, "checking the password of user %q", u.Name)
	}
	if !ok {
		return nil, false, "wrong password", nil
	}
	return u, true, "", nil
}

// dummy is a hash with the current parameters, checked against for unknown
// users.
func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		pw, _, err := newSecret()
		if err == nil {
			s.dummyHash, err = identity.HashPassword(pw)
		}
		if err != nil {
			s.log.Error("could not make the hash checked for unknown users", "error", err)
		}
	})
	return s.dummyHash
}

// refuse logs and reports a throttled login.
func (s *Service) refuse(ctx context.Context, req LoginRequest, why string, wait time.Duration) error {
	wait = wait.Round(time.Second)
	if wait < time.Second {
		wait = time.Second
	}
	s.log.Warn("login throttled", "user", req.Username, "address", req.ClientAddr, "reason", why, "retry_after", wait)
	if s.opts.LoginFailed != nil {
		s.opts.LoginFailed(ctx, LoginFailure{User: req.Username, ClientAddr: req.ClientAddr, Throttled: true, RetryAfter: wait, Reason: why})
	}
	return &Error{Kind: KindThrottled, RetryAfter: wait, Message: fmt.Sprintf("%s: try again in %v", why, wait)}
}

// addressKey is what failed logins from addr are counted under: the IP
// address without the port, an IPv6 address's /64 network (one host's
// usual allocation), or addr itself when it is no IP address.
func addressKey(addr string) string {
	if addr == "" {
		return ""
	}
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if len(addr) > 128 {
			addr = addr[:128]
		}
		return addr
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// ThrottleOptions tune login throttling. Zero fields take the defaults.
type ThrottleOptions struct {
	// Free is how many failures in a row a user name or address has
	// before it must wait (3).
	Free int
	// Base is the first delay (1s); each further failure doubles it, up
	// to Max (5m).
	Base, Max time.Duration
	// Forget: failures are forgotten this long after the last one (15m).
	Forget time.Duration
	// Entries bounds how many user names and how many addresses are
	// tracked (10000 each); past it the oldest are forgotten.
	Entries int
}

// throttle counts failed logins per user name and per address. From the
// Free-th failure on, each failure makes the key wait, Base at first,
// doubling with every further failure up to Max; a login during the wait
// is refused (KindThrottled) without checking the password. A success
// forgets the user name's failures, not the address's. Memory is bounded
// by Entries per kind of key.
type throttle struct {
	opts  ThrottleOptions
	mu    sync.Mutex
	users map[string]*strikes
	addrs map[string]*strikes
}

type strikes struct {
	failures int
	last     time.Time
	until    time.Time
}

func newThrottle(o ThrottleOptions) *throttle {
	if o.Free <= 0 {
		o.Free = 3
	}
	if o.Base <= 0 {
		o.Base = time.Second
	}
	if o.Max <= 0 {
		o.Max = 5 * time.Minute
	}
	if o.Forget <= 0 {
		o.Forget = 15 * time.Minute
	}
	if o.Entries <= 0 {
		o.Entries = 10000
	}
	return &throttle{opts: o, users: make(map[string]*strikes), addrs: make(map[string]*strikes)}
}

// stale reports whether st can be forgotten at now.
func (t *throttle) stale(st *strikes, now time.Time) bool {
	return !now.Before(st.until) && now.Sub(st.last) >= t.opts.Forget
}

// check returns how long a login for user from addr must wait, and why.
func (t *throttle) check(now time.Time, user, addr string) (time.Duration, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var (
		wait time.Duration
		why  string
	)
	for _, k := range []struct {
		m   map[string]*strikes
		key string
		why string
	}{{t.users, user, "too many failed logins for this user"}, {t.addrs, addr, "too many failed logins from this address"}} {
		if k.key == "" {
			continue
		}
		st := k.m[k.key]
		if st == nil {
			continue
		}
		if t.stale(st, now) {
			delete(k.m, k.key)
			continue
		}
		if d := st.until.Sub(now); d > wait {
			wait, why = d, k.why
		}
	}
	return wait, why
}

// fail counts a failed login for user from addr.
func (t *throttle) fail(now time.Time, user, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.strike(t.users, user, now)
	t.strike(t.addrs, addr, now)
}

func (t *throttle) strike(m map[string]*strikes, key string, now time.Time) {
	if key == "" {
		return
	}
	st := m[key]
	if st != nil && t.stale(st, now) {
		st = nil
	}
	if st == nil {
		t.makeRoom(m, now)
		st = &strikes{}
		m[key] = st
	}
	st.failures++
	st.last = now
	if n := st.failures - t.opts.Free + 1; n > 0 {
		d := t.opts.Max
		if n <= 30 {
			d = min(t.opts.Base<<(n-1), t.opts.Max)
		}
		st.until = now.Add(d)
	}
}

// makeRoom keeps m under Entries: it forgets stale keys, then the one
// whose last failure is oldest.
func (t *throttle) makeRoom(m map[string]*strikes, now time.Time) {
	if len(m) < t.opts.Entries {
		return
	}
	for k, st := range m {
		if t.stale(st, now) {
			delete(m, k)
		}
	}
	for len(m) >= t.opts.Entries {
		var (
			oldest string
			at     time.Time
		)
		for k, st := range m {
			if oldest == "" || st.last.Before(at) {
				oldest, at = k, st.last
			}
		}
		delete(m, oldest)
	}
}

// succeed forgets the failures of user: its password was right.
func (t *throttle) succeed(user string) {
	t.mu.Lock()
	delete(t.users, user)
	t.mu.Unlock()
}
