package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/core/store"
)

// Defaults of Options.
const (
	DefaultSessionTTL    = 12 * time.Hour
	DefaultLoginTokenTTL = 30 * 24 * time.Hour
	// DefaultCacheRefresh is how long a verified credential is used from
	// the cache before it is read from the store again. Changes made by
	// this process take effect at once; this bounds how long one made by
	// another process sharing the database takes.
	DefaultCacheRefresh = 30 * time.Second
	// DefaultCacheSize bounds how many verified credentials are cached.
	DefaultCacheSize = 10000
	// DefaultTouchInterval: a token's last-used time is written at most
	// this often.
	DefaultTouchInterval = time.Minute
	// DefaultPasswordHashers bounds how many argon2id computations (login,
	// password change) run at once: each holds 64 MiB and a core for tens
	// of milliseconds.
	DefaultPasswordHashers = 2
	// DefaultPasswordQueue bounds how many logins wait for a hasher; more
	// are refused as throttled.
	DefaultPasswordQueue = 64
)

// Name and secret bounds.
const (
	// MaxUserNameLen bounds a user name, in bytes.
	MaxUserNameLen = 64
	// MaxTokenNameLen bounds a token name, in bytes.
	MaxTokenNameLen = 64
	// MaxTokenTTL bounds the lifetime of a new token.
	MaxTokenTTL = 10 * 365 * 24 * time.Hour
)

// LoginFailure describes a failed or throttled login, for audit entries.
// It never holds the password.
type LoginFailure struct {
	// User is the user name tried (as sent, cut to MaxUserNameLen bytes).
	User string
	// ClientAddr is the client's address as the API saw it.
	ClientAddr string
	// Throttled is set when the login was refused without checking the
	// password; RetryAfter says when to try again.
	Throttled  bool
	RetryAfter time.Duration
	// Reason says why: "unknown user", "wrong password", "too many failed
	// logins", "too many logins in progress".
	Reason string
}

// Options configure a Service. Zero fields take the defaults.
type Options struct {
	// Logger receives failed and throttled logins (user and address,
	// never a secret) and store faults. nil discards.
	Logger hclog.Logger
	// SessionTTL is the absolute lifetime of a browser session
	// (DefaultSessionTTL).
	SessionTTL time.Duration
	// LoginTokenTTL is the lifetime of a token LoginToken makes
	// (DefaultLoginTokenTTL).
	LoginTokenTTL time.Duration
	// Now is the clock (time.Now); AfterFunc runs f after d on that clock
	// and returns a function that stops it (time.AfterFunc). Tests replace
	// both together.
	Now       func() time.Time
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	// CacheRefresh, CacheSize, TouchInterval: see the defaults.
	CacheRefresh  time.Duration
	CacheSize     int
	TouchInterval time.Duration
	// PasswordHashers and PasswordQueue: see the defaults.
	PasswordHashers int
	PasswordQueue   int
	// Throttle tunes login throttling.
	Throttle ThrottleOptions
	// LoginFailed, when set, is called for every failed or throttled
	// login (after it is logged), to make an audit entry of it.
	LoginFailed func(ctx context.Context, f LoginFailure)
}

// User is a user as the API shows it.
type User struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Role      identity.Role `json:"role"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// Token is an API token as the API shows it: never its secret.
type Token struct {
	ID     string        `json:"id"`
	Prefix string        `json:"prefix"`
	Name   string        `json:"name"`
	Role   identity.Role `json:"role"`
	// User is the owner's name; UserID its id.
	User       string     `json:"user"`
	UserID     string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// TokenSpec is what CreateToken makes.
type TokenSpec struct {
	// Name says what the token is for (1 to MaxTokenNameLen bytes of
	// printable text).
	Name string
	// Role is the token's role, at most its owner's; empty is the
	// owner's.
	Role identity.Role
	// TTL is how long the token works; 0 is until revoked.
	TTL time.Duration
}

// LoginRequest is a user's attempt to log in.
type LoginRequest struct {
	Username string
	Password string
	// ClientAddr is the client's address ("ip" or "ip:port"): failed
	// logins are throttled per address as well as per user.
	ClientAddr string
}

// Session is a browser session made by Login.
type Session struct {
	// ID names the session in logs and audit entries.
	ID string
	// Cookie is the value of the CookieName cookie: a secret, never
	// logged; only its hash is stored.
	Cookie string `json:"-"`
	// CSRF is the token a request authenticated by the cookie sends in
	// HeaderCSRF to change anything.
	CSRF      string `json:"-"`
	UserID    string
	User      string
	Role      identity.Role
	ExpiresAt time.Time
}

// Service authenticates requests and manages users, API tokens and
// sessions over a store.AuthRepo. It is safe for concurrent use. Changes
// it makes (revocation, role change, user deletion, password change) take
// effect at once for this process's Authenticate and Watch.
type Service struct {
	repo store.AuthRepo
	log  hclog.Logger
	opts Options

	now       func() time.Time
	afterFunc func(time.Duration, func()) func() bool

	cache credCache

	watchMu  sync.Mutex
	watchers map[*watcher]struct{}

	hashers  chan struct{}
	queued   atomic.Int64
	throttle *throttle

	dummyOnce sync.Once
	dummyHash string

	touchMu      sync.Mutex
	touchPending map[string]time.Time
	touchRunning bool
	touchClosed  bool
	touchDone    *sync.Cond

	sweepMu   sync.Mutex
	lastSweep time.Time
}

// New returns a Service over repo.
func New(repo store.AuthRepo, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.LoginTokenTTL <= 0 {
		opts.LoginTokenTTL = DefaultLoginTokenTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AfterFunc == nil {
		opts.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if opts.CacheRefresh <= 0 {
		opts.CacheRefresh = DefaultCacheRefresh
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.TouchInterval <= 0 {
		opts.TouchInterval = DefaultTouchInterval
	}
	if opts.PasswordHashers <= 0 {
		opts.PasswordHashers = DefaultPasswordHashers
	}
	if opts.PasswordQueue <= 0 {
		opts.PasswordQueue = DefaultPasswordQueue
	}
	s := &Service{
		repo:         repo,
		log:          opts.Logger.Named("auth"),
		opts:         opts,
		now:          opts.Now,
		afterFunc:    opts.AfterFunc,
		watchers:     make(map[*watcher]struct{}),
		hashers:      make(chan struct{}, opts.PasswordHashers),
		throttle:     newThrottle(opts.Throttle),
		touchPending: make(map[string]time.Time),
	}
	s.cache.init(opts.CacheSize)
	s.touchDone = sync.NewCond(&s.touchMu)
	return s
}

// Close writes the token uses not yet recorded and stops the writer. The
// Service must not be used afterwards.
func (s *Service) Close() error {
	s.touchMu.Lock()
	s.touchClosed = true
	for s.touchRunning {
		s.touchDone.Wait()
	}
	s.touchMu.Unlock()
	return nil
}

// invalid is a KindInvalid error naming field.
func invalid(field, format string, args ...any) *Error {
	e := errorf(KindInvalid, format, args...)
	e.Field = field
	return e
}

// internal is a KindInternal error for a store fault, with what failed.
func internal(err error, format string, args ...any) *Error {
	e := errorf(KindInternal, format, args...)
	e.Message += ": " + err.Error()
	e.Err = err
	return e
}

// validateUserName checks a new user's name: 1 to MaxUserNameLen bytes of
// lower-case letters, digits, '.', '_' and '-', starting with a letter or
// a digit.
func validateUserName(field, name string) *Error {
	if name == "" {
		return invalid(field, "%s is required", field)
	}
	if len(name) > MaxUserNameLen {
		return invalid(field, "%s is %d bytes long: at most %d", field, len(name), MaxUserNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == '_' || c == '-')
		if !ok {
			return invalid(field, "%s %q has %q at byte %d: use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit",
				field, name, string(rune(c)), i)
		}
	}
	return nil
}

// validateTokenName checks a token's name: 1 to MaxTokenNameLen bytes of
// printable UTF-8 text.
func validateTokenName(name string) *Error {
	if name == "" {
		return invalid("name", "name is required: say what the token is for")
	}
	if len(name) > MaxTokenNameLen {
		return invalid("name", "name is %d bytes long: at most %d", len(name), MaxTokenNameLen)
	}
	if !utf8.ValidString(name) {
		return invalid("name", "name is not valid UTF-8 text")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return invalid("name", "name has the non-printable character %U", r)
		}
	}
	return nil
}

// validateRole checks a role given in field.
func validateRole(field string, role identity.Role) *Error {
	if _, err := identity.ParseRole(string(role)); err != nil {
		return invalid(field, "%s: %v", field, err)
	}
	return nil
}

// roleRank orders roles; an invalid role is below every valid one.
func roleRank(r identity.Role) int {
	switch r {
	case identity.RoleAdmin:
		return 3
	case identity.RoleOperator:
		return 2
	case identity.RoleViewer:
		return 1
	}
	return 0
}

// effectiveRole is what a token may do: its own role, never above its
// owner's current one.
func effectiveRole(token, owner identity.Role) identity.Role {
	if roleRank(token) <= roleRank(owner) {
		return token
	}
	return owner
}

func toUser(u *store.AuthUser) User {
	return User{ID: u.ID, Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

func toToken(t *store.AuthToken) Token {
	return Token{ID: t.ID, Prefix: t.Prefix, Name: t.Name, Role: t.Role, User: t.UserName, UserID: t.UserID,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

// hashPassword hashes pw with argon2id within the bound on concurrent
// hashes.
func (s *Service) hashPassword(ctx context.Context, pw string) (string, error) {
	if err := s.acquireHasher(ctx); err != nil {
		return "", err
	}
	defer s.releaseHasher()
	h, err := identity.HashPassword(pw)
	if err != nil {
		return "", invalid("password", "%v", err)
	}
	return h, nil
}

// acquireHasher waits for one of the argon2id slots; with too many waiting
// already it refuses as throttled.
func (s *Service) acquireHasher(ctx context.Context) error {
	if s.queued.Add(1) > int64(s.opts.PasswordHashers+s.opts.PasswordQueue) {
		s.queued.Add(-1)
		return &Error{Kind: KindThrottled, RetryAfter: time.Second,
			Message: "too many password checks in progress: try again in 1s"}
	}
	select {
	case s.hashers <- struct{}{}:
		return nil
	case <-ctx.Done():
		s.queued.Add(-1)
		return internal(ctx.Err(), "waiting to check a password")
	}
}

func (s *Service) releaseHasher() {
	<-s.hashers
	s.queued.Add(-1)
}

// userByName returns the user called name, or KindNotFound.
func (s *Service) userByName(ctx context.Context, name string) (*store.AuthUser, error) {
	u, err := s.repo.GetUserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(KindNotFound, "no user named %q", name)
	}
	if err != nil {
		return nil, internal(err, "reading user %q", name)
	}
	return u, nil
}

// CreateUser makes a user. The name (field "name") must pass
// validateUserName's rules, the password (field "password")
// identity.ValidatePassword, the role (field "role") be valid. A taken name
// is KindConflict.
func (s *Service) CreateUser(ctx context.Context, name, password string, role identity.Role) (User, error) {
	if err := validateUserName("name", name); err != nil {
		return User{}, err
	}
	if err := identity.ValidatePassword(password); err != nil {
		return User{}, invalid("password", "%v", err)
	}
	if err := validateRole("role", role); err != nil {
		return User{}, err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return User{}, err
	}
	u := &store.AuthUser{ID: uuid.NewString(), Name: name, Role: role, PasswordHash: hash, CreatedAt: s.now()}
	if err := s.repo.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return User{}, &Error{Kind: KindConflict, Field: "name", Message: fmt.Sprintf("a user named %q exists", name), Err: err}
		}
		return User{}, internal(err, "creating user %q", name)
	}
	s.log.Info("user created", "user", name, "role", role)
	return toUser(u), nil
}

// Users lists every user, in name order.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	list, err := s.repo.ListUsers(ctx)
	if err != nil {
		return nil, internal(err, "listing users")
	}
	out := make([]User, len(list))
	for i, u := range list {
		out[i] = toUser(u)
	}
	return out, nil
}

// User returns the user called name, or KindNotFound.
func (s *Service) User(ctx context.Context, name string) (User, error) {
	u, err := s.userByName(ctx, name)
	if err != nil {
		return User{}, err
	}
	return toUser(u), nil
}

// SetRole changes the role of user name. Leaving no admin is KindConflict.
// The user's sessions, and tokens whose role it caps, get the new role at
// once; their open streams (Watch) end.
func (s *Service) SetRole(ctx context.Context, name string, role identity.Role) (User, error) {
	if err := validateRole("role", role); err != nil {
		return User{}, err
	}
	u, err := s.userByName(ctx, name)
	if err != nil {
		return User{}, err
	}
	nu, err := s.repo.SetUserRole(ctx, u.ID, role, s.now())
	switch {
	case errors.Is(err, store.ErrLastAdmin):
		return User{}, &Error{Kind: KindConflict, Field: "role",
			Message: fmt.Sprintf("user %q is the last admin: make another user admin first", name), Err: err}
	case errors.Is(err, store.ErrNotFound):
		return User{}, errorf(KindNotFound, "no user named %q", name)
	case err != nil:
		return User{}, internal(err, "changing the role of user %q", name)
	}
	s.userChanged(nu.ID, nu.Role, fmt.Sprintf("the role of user %q changed to %s", name, role))
	if u.Role != nu.Role {
		s.log.Info("user role changed", "user", name, "old_role", u.Role, "role", nu.Role)
	}
	return toUser(nu), nil
}

// SetPassword replaces the password of user name (field "password" must
// pass identity.ValidatePassword) and ends the user's sessions; tokens
// stay.
func (s *Service) SetPassword(ctx context.Context, name, password string) (User, error) {
	if err := identity.ValidatePassword(password); err != nil {
		return User{}, invalid("password", "%v", err)
	}
	u, err := s.userByName(ctx, name)
	if err != nil {
		return User{}, err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return User{}, err
	}
	nu, closed, err := s.repo.SetUserPassword(ctx, u.ID, hash, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return User{}, errorf(KindNotFound, "no user named %q", name)
	}
	if err != nil {
		return User{}, internal(err, "changing the password of user %q", name)
	}
	why := fmt.Sprintf("the password of user %q changed: log in again", name)
	s.cache.drop(func(e *cacheEntry) bool { return e.p.UserID == nu.ID && e.p.Via == MethodSession })
	s.endWatches(func(p Principal, tokenRole identity.Role) (bool, Kind) {
		return p.UserID == nu.ID && p.Via == MethodSession, KindUnauthenticated
	}, why)
	s.log.Info("user password changed", "user", name, "sessions_ended", len(closed))
	return toUser(nu), nil
}

// DeleteUser removes user name with its tokens and sessions, which stop
// working at once. Removing the last admin is KindConflict.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	u, err := s.userByName(ctx, name)
	if err != nil {
		return err
	}
	err = s.repo.DeleteUser(ctx, u.ID)
	switch {
	case errors.Is(err, store.ErrLastAdmin):
		return &Error{Kind: KindConflict, Message: fmt.Sprintf("user %q is the last admin: make another user admin first", name), Err: err}
	case errors.Is(err, store.ErrNotFound):
		return errorf(KindNotFound, "no user named %q", name)
	case err != nil:
		return internal(err, "deleting user %q", name)
	}
	s.cache.drop(func(e *cacheEntry) bool { return e.p.UserID == u.ID })
	s.endWatches(func(p Principal, tokenRole identity.Role) (bool, Kind) { return p.UserID == u.ID, KindUnauthenticated },
		fmt.Sprintf("user %q was deleted", name))
	s.log.Info("user deleted", "user", name)
	return nil
}

// userChanged brings cached credentials and open watches of user id up to
// its new role: sessions take it, tokens are capped by it.
func (s *Service) userChanged(id string, role identity.Role, why string) {
	s.cache.drop(func(e *cacheEntry) bool { return e.p.UserID == id })
	s.endWatches(func(p Principal, tokenRole identity.Role) (bool, Kind) {
		if p.UserID != id {
			return false, 0
		}
		now := role
		if p.Via == MethodToken {
			now = effectiveRole(tokenRole, role)
		}
		return now != p.Role, KindForbidden
	}, why)
}

// CreateToken makes an API token owned by owner's user and returns it with
// its secret, which is shown once and never stored. spec.Role (field
// "role") must not be above owner's role; spec.TTL (field "ttl") is 0 or
// positive, at most MaxTokenTTL.
func (s *Service) CreateToken(ctx context.Context, owner Principal, spec TokenSpec) (Token, string, error) {
	if owner.UserID == "" {
		return Token{}, "", errorf(KindUnauthenticated, "no caller to own the token: authenticate first")
	}
	if err := validateTokenName(spec.Name); err != nil {
		return Token{}, "", err
	}
	if spec.TTL < 0 || spec.TTL > MaxTokenTTL {
		return Token{}, "", invalid("ttl", "ttl %v is outside 0 (no expiry) to %v", spec.TTL, MaxTokenTTL)
	}
	u, err := s.repo.GetUser(ctx, owner.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return Token{}, "", errorf(KindUnauthenticated, "user %q no longer exists", owner.User)
	}
	if err != nil {
		return Token{}, "", internal(err, "reading user %q", owner.User)
	}
	ownerRole := owner.Role
	if roleRank(u.Role) < roleRank(ownerRole) {
		ownerRole = u.Role
	}
	role := spec.Role
	if role == "" {
		role = ownerRole
	}
	if err := validateRole("role", role); err != nil {
		return Token{}, "", err
	}
	if roleRank(role) > roleRank(ownerRole) {
		return Token{}, "", &Error{Kind: KindForbidden, Field: "role",
			Message: fmt.Sprintf("role %s is above the caller's role %s: a token's role is at most its owner's", role, ownerRole)}
	}
	return s.newToken(ctx, u, spec.Name, role, spec.TTL)
}

// newToken stores a new token of u, making a new one on a prefix clash.
func (s *Service) newToken(ctx context.Context, u *store.AuthUser, name string, role identity.Role, ttl time.Duration) (Token, string, error) {
	now := s.now()
	for attempt := 0; ; attempt++ {
		plain, prefix, hash, err := identity.NewToken()
		if err != nil {
			return Token{}, "", internal(err, "making a token")
		}
		t := &store.AuthToken{ID: uuid.NewString(), Prefix: prefix, Hash: hash, Name: name, Role: role, UserID: u.ID, CreatedAt: now}
		if ttl > 0 {
			exp := now.Add(ttl)
			t.ExpiresAt = &exp
		}
		err = s.repo.CreateToken(ctx, t)
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue
		}
		if errors.Is(err, store.ErrNotFound) {
			return Token{}, "", errorf(KindNotFound, "no user named %q", u.Name)
		}
		if err != nil {
			return Token{}, "", internal(err, "storing a token of user %q", u.Name)
		}
		s.log.Info("token created", "user", u.Name, "token_id", t.ID, "prefix", prefix, "role", role)
		return toToken(t), plain, nil
	}
}

// Tokens lists every token, revoked ones included, oldest first.
func (s *Service) Tokens(ctx context.Context) ([]Token, error) {
	list, err := s.repo.ListTokens(ctx)
	if err != nil {
		return nil, internal(err, "listing tokens")
	}
	out := make([]Token, len(list))
	for i, t := range list {
		out[i] = toToken(t)
	}
	return out, nil
}

// tokenByID returns token id, or KindNotFound.
func (s *Service) tokenByID(ctx context.Context, id string) (*store.AuthToken, error) {
	t, err := s.repo.GetToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(KindNotFound, "no token with id %q", id)
	}
	if err != nil {
		return nil, internal(err, "reading token %q", id)
	}
	return t, nil
}

// SetTokenRole changes the role of token id (field "role"); a role above
// its owner's current role is KindForbidden. Requests with the token get
// the new role at once; its open streams end.
func (s *Service) SetTokenRole(ctx context.Context, id string, role identity.Role) (Token, error) {
	if err := validateRole("role", role); err != nil {
		return Token{}, err
	}
	t, err := s.tokenByID(ctx, id)
	if err != nil {
		return Token{}, err
	}
	owner, err := s.repo.GetUser(ctx, t.UserID)
	if err != nil {
		return Token{}, internal(err, "reading the owner of token %q", id)
	}
	if roleRank(role) > roleRank(owner.Role) {
		return Token{}, &Error{Kind: KindForbidden, Field: "role",
			Message: fmt.Sprintf("role %s is above the role %s of the token's owner %q", role, owner.Role, owner.Name)}
	}
	nt, err := s.repo.SetTokenRole(ctx, id, role)
	if errors.Is(err, store.ErrNotFound) {
		return Token{}, errorf(KindNotFound, "no token with id %q", id)
	}
	if err != nil {
		return Token{}, internal(err, "changing the role of token %q", id)
	}
	s.cache.drop(func(e *cacheEntry) bool { return e.p.TokenID == id })
	s.endWatches(func(p Principal, tokenRole identity.Role) (bool, Kind) {
		return p.TokenID == id && effectiveRole(role, owner.Role) != p.Role, KindForbidden
	}, fmt.Sprintf("the role of token %s changed to %s", nt.Prefix, role))
	s.log.Info("token role changed", "token_id", id, "prefix", nt.Prefix, "role", role)
	return toToken(nt), nil
}

// RevokeToken revokes token id: it stops working at once, its open streams
// end. Revoking it again changes nothing.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	t, err := s.repo.RevokeToken(ctx, id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return errorf(KindNotFound, "no token with id %q", id)
	}
	if err != nil {
		return internal(err, "revoking token %q", id)
	}
	s.tokenGone(id, fmt.Sprintf("token %s was revoked", t.Prefix))
	s.log.Info("token revoked", "token_id", id, "prefix", t.Prefix, "user", t.UserName)
	return nil
}

// tokenGone drops token id from the cache and ends its watches.
func (s *Service) tokenGone(id, why string) {
	s.cache.drop(func(e *cacheEntry) bool { return e.p.TokenID == id })
	s.endWatches(func(p Principal, tokenRole identity.Role) (bool, Kind) { return p.TokenID == id, KindUnauthenticated }, why)
}

// sessionGone drops session id from the cache and ends its watches.
func (s *Service) sessionGone(id, why string) {
	s.cache.drop(func(e *cacheEntry) bool { return e.p.SessionID == id })
	s.endWatches(func(p Principal, tokenRole identity.Role) (bool, Kind) { return p.SessionID == id, KindUnauthenticated }, why)
}
