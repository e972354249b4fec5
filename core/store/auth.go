package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/quantixvm/quantix/core/identity"
)

// ErrLastAdmin: the change would leave no user with the admin role. It
// wraps ErrConflict.
var ErrLastAdmin = fmt.Errorf("%w: it would leave no user with the admin role", ErrConflict)

// AuthUser is a user who logs in with a password.
type AuthUser struct {
	ID   string
	Name string
	Role identity.Role
	// PasswordHash is the argon2id hash of the password in PHC format
	// (identity.HashPassword); the password itself is never stored.
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// AuthToken is an API token of a user.
type AuthToken struct {
	ID string
	// Prefix is the token's visible lookup key (unique).
	Prefix string
	// Hash is the SHA-256 of the token's secret (identity.TokenHash);
	// the secret itself is never stored.
	Hash []byte
	Name string
	// Role is the token's own role; what it may do is never above its
	// owner's current role, which the caller enforces.
	Role   identity.Role
	UserID string
	// UserName is the owner's name, filled in by reads; writes ignore it.
	UserName   string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// AuthSession is a browser session of a user.
type AuthSession struct {
	ID string
	// Hash is the SHA-256 of the cookie's secret (unique); CSRFHash that
	// of the session's CSRF token. Neither secret is stored.
	Hash      []byte
	CSRFHash  []byte
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuthRepo stores users, their API tokens and their sessions. Every
// secret is kept only as a hash. Times are kept in UTC with microsecond
// precision; records returned hold them so.
type AuthRepo interface {
	// CreateUser inserts u (ID set by the caller). A taken name or id is
	// ErrConflict; an empty id, name, role or hash ErrInvalid. A zero
	// CreatedAt is now, a zero UpdatedAt CreatedAt.
	CreateUser(ctx context.Context, u *AuthUser) error
	// CreateFirstUser inserts u and then t (a token of u) in one
	// transaction if there is no user at all, and reports whether it did;
	// with users present it writes nothing and returns false. Processes
	// sharing the database bootstrap it once.
	CreateFirstUser(ctx context.Context, u *AuthUser, t *AuthToken) (bool, error)
	// GetUser returns the user with id, or ErrNotFound.
	GetUser(ctx context.Context, id string) (*AuthUser, error)
	// GetUserByName returns the user called name, or ErrNotFound.
	GetUserByName(ctx context.Context, name string) (*AuthUser, error)
	// ListUsers returns every user, in name order.
	ListUsers(ctx context.Context) ([]*AuthUser, error)
	// CountUsers returns how many users there are.
	CountUsers(ctx context.Context) (int64, error)
	// SetUserRole changes the role of user id and returns the user as
	// stored. A change that would leave no admin is ErrLastAdmin and
	// writes nothing; no such user is ErrNotFound.
	SetUserRole(ctx context.Context, id string, role identity.Role, at time.Time) (*AuthUser, error)
	// SetUserPassword replaces the password hash of user id and deletes
	// the user's sessions in the same transaction; it returns the user as
	// stored and the ids of the sessions deleted.
	SetUserPassword(ctx context.Context, id, hash string, at time.Time) (*AuthUser, []string, error)
	// DeleteUser removes user id with its tokens and sessions. Removing
	// the last admin is ErrLastAdmin; no such user ErrNotFound.
	DeleteUser(ctx context.Context, id string) error

	// CreateToken inserts t (ID set by the caller). A taken prefix or id
	// is ErrConflict (make a new token), an owner that does not exist
	// ErrNotFound.
	CreateToken(ctx context.Context, t *AuthToken) error
	// GetToken returns the token with id, or ErrNotFound.
	GetToken(ctx context.Context, id string) (*AuthToken, error)
	// GetTokenByPrefix returns the token with prefix, or ErrNotFound.
	GetTokenByPrefix(ctx context.Context, prefix string) (*AuthToken, error)
	// ListTokens returns every token, revoked ones included, oldest
	// first.
	ListTokens(ctx context.Context) ([]*AuthToken, error)
	// SetTokenRole changes the role of token id and returns it as stored;
	// ErrNotFound if absent.
	SetTokenRole(ctx context.Context, id string, role identity.Role) (*AuthToken, error)
	// RevokeToken sets the revocation time of token id, unless it is
	// revoked already (the first time stays), and returns it as stored;
	// ErrNotFound if absent.
	RevokeToken(ctx context.Context, id string, at time.Time) (*AuthToken, error)
	// TouchToken records that token id was used at at; a use older than
	// the one recorded changes nothing. No such token is not an error.
	TouchToken(ctx context.Context, id string, at time.Time) error

	// CreateSession inserts s (ID set by the caller). A taken id or hash
	// is ErrConflict, an unknown user ErrNotFound.
	CreateSession(ctx context.Context, s *AuthSession) error
	// GetSession returns the session with id, or ErrNotFound.
	GetSession(ctx context.Context, id string) (*AuthSession, error)
	// GetSessionByHash returns the session whose cookie secret hashes to
	// hash, or ErrNotFound.
	GetSessionByHash(ctx context.Context, hash []byte) (*AuthSession, error)
	// DeleteSession removes session id; ErrNotFound if absent.
	DeleteSession(ctx context.Context, id string) error
	// DeleteExpiredSessions removes the sessions that expired before
	// before and returns how many.
	DeleteExpiredSessions(ctx context.Context, before time.Time) (int64, error)
}

// authLockKey is the PostgreSQL advisory lock that serialises changes to
// who is admin, so that two concurrent demotions cannot both see the other
// admin left ("qxadmin" in ASCII).
const authLockKey int64 = 0x7178_6164_6d69_6e

// userRow is a row of users.
type userRow struct {
	ID           string `gorm:"column:id;primaryKey"`
	Name         string `gorm:"column:name"`
	Role         string `gorm:"column:role"`
	PasswordHash string `gorm:"column:password_hash"`
	CreatedAt    dbTime `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt    dbTime `gorm:"column:updated_at;autoUpdateTime:false"`
}

// TableName is the table of userRow.
func (userRow) TableName() string { return "users" }

func (r *userRow) toUser() *AuthUser {
	return &AuthUser{
		ID:           r.ID,
		Name:         r.Name,
		Role:         identity.Role(r.Role),
		PasswordHash: r.PasswordHash,
		CreatedAt:    time.Time(r.CreatedAt),
		UpdatedAt:    time.Time(r.UpdatedAt),
	}
}

// tokenRow is a row of api_tokens, with its owner's name on reads.
type tokenRow struct {
	ID         string  `gorm:"column:id;primaryKey"`
	Prefix     string  `gorm:"column:prefix"`
	Hash       []byte  `gorm:"column:hash"`
	Name       string  `gorm:"column:name"`
	Role       string  `gorm:"column:role"`
	UserID     string  `gorm:"column:user_id"`
	UserName   string  `gorm:"column:user_name;->"`
	CreatedAt  dbTime  `gorm:"column:created_at;autoCreateTime:false"`
	ExpiresAt  *dbTime `gorm:"column:expires_at"`
	LastUsedAt *dbTime `gorm:"column:last_used_at"`
	RevokedAt  *dbTime `gorm:"column:revoked_at"`
}

// TableName is the table of tokenRow.
func (tokenRow) TableName() string { return "api_tokens" }

func (r *tokenRow) toToken() *AuthToken {
	return &AuthToken{
		ID:         r.ID,
		Prefix:     r.Prefix,
		Hash:       r.Hash,
		Name:       r.Name,
		Role:       identity.Role(r.Role),
		UserID:     r.UserID,
		UserName:   r.UserName,
		CreatedAt:  time.Time(r.CreatedAt),
		ExpiresAt:  fromDBTimePtr(r.ExpiresAt),
		LastUsedAt: fromDBTimePtr(r.LastUsedAt),
		RevokedAt:  fromDBTimePtr(r.RevokedAt),
	}
}

// sessionRow is a row of sessions.
type sessionRow struct {
	ID        string `gorm:"column:id;primaryKey"`
	Hash      []byte `gorm:"column:hash"`
	CSRFHash  []byte `gorm:"column:csrf_hash"`
	UserID    string `gorm:"column:user_id"`
	CreatedAt dbTime `gorm:"column:created_at;autoCreateTime:false"`
	ExpiresAt dbTime `gorm:"column:expires_at"`
}

// TableName is the table of sessionRow.
func (sessionRow) TableName() string { return "sessions" }

func (r *sessionRow) toSession() *AuthSession {
	return &AuthSession{
		ID:        r.ID,
		Hash:      r.Hash,
		CSRFHash:  r.CSRFHash,
		UserID:    r.UserID,
		CreatedAt: time.Time(r.CreatedAt),
		ExpiresAt: time.Time(r.ExpiresAt),
	}
}

// authRepo is the AuthRepo of a sqlStore.
type authRepo struct{ s *sqlStore }

// Auth returns the repository of users, tokens and sessions.
func (s *sqlStore) Auth() AuthRepo { return authRepo{s} }

// lockAdmins serialises changes to the set of admins within tx: on
// PostgreSQL an advisory lock held to the end of the transaction; SQLite's
// writer transactions are serialised already.
func (r authRepo) lockAdmins(tx *gorm.DB) error {
	if r.s.dialect != dialectPostgres {
		return nil
	}
	if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", authLockKey).Error; err != nil {
		return fmt.Errorf("taking the admin lock: %w", err)
	}
	return nil
}

func normUser(u *AuthUser) (AuthUser, error) {
	if u == nil || u.ID == "" {
		return AuthUser{}, fmt.Errorf("%w: empty id", ErrInvalid)
	}
	if u.Name == "" || u.Role == "" || u.PasswordHash == "" {
		return AuthUser{}, fmt.Errorf("%w: user %s lacks a name, role or password hash", ErrInvalid, u.ID)
	}
	nu := *u
	if nu.CreatedAt.IsZero() {
		nu.CreatedAt = time.Now()
	}
	nu.CreatedAt = normTime(nu.CreatedAt)
	if nu.UpdatedAt.IsZero() {
		nu.UpdatedAt = nu.CreatedAt
	}
	nu.UpdatedAt = normTime(nu.UpdatedAt)
	return nu, nil
}

func toUserRow(u *AuthUser) userRow {
	return userRow{ID: u.ID, Name: u.Name, Role: string(u.Role), PasswordHash: u.PasswordHash,
		CreatedAt: dbTime(u.CreatedAt), UpdatedAt: dbTime(u.UpdatedAt)}
}

func normToken(t *AuthToken) (AuthToken, error) {
	if t == nil || t.ID == "" {
		return AuthToken{}, fmt.Errorf("%w: empty id", ErrInvalid)
	}
	if t.Prefix == "" || t.Role == "" || t.UserID == "" || len(t.Hash) != sha256.Size {
		return AuthToken{}, fmt.Errorf("%w: token %s lacks a prefix, role, owner or SHA-256 hash", ErrInvalid, t.ID)
	}
	nt := *t
	nt.Hash = append([]byte(nil), t.Hash...)
	if nt.CreatedAt.IsZero() {
		nt.CreatedAt = time.Now()
	}
	nt.CreatedAt = normTime(nt.CreatedAt)
	nt.ExpiresAt = normTimePtr(nt.ExpiresAt)
	nt.LastUsedAt = normTimePtr(nt.LastUsedAt)
	nt.RevokedAt = normTimePtr(nt.RevokedAt)
	return nt, nil
}

func toTokenRow(t *AuthToken) tokenRow {
	return tokenRow{ID: t.ID, Prefix: t.Prefix, Hash: t.Hash, Name: t.Name, Role: string(t.Role), UserID: t.UserID,
		CreatedAt: dbTime(t.CreatedAt), ExpiresAt: toDBTimePtr(t.ExpiresAt),
		LastUsedAt: toDBTimePtr(t.LastUsedAt), RevokedAt: toDBTimePtr(t.RevokedAt)}
}

// CreateUser inserts u.
func (r authRepo) CreateUser(ctx context.Context, u *AuthUser) error {
	nu, err := normUser(u)
	if err != nil {
		return fmt.Errorf("creating user: %w", err)
	}
	row := toUserRow(&nu)
	if err := r.s.write(ctx, false, func(tx *gorm.DB) error { return tx.Create(&row).Error }); err != nil {
		return fmt.Errorf("creating user %q: %w", u.Name, dbError(err))
	}
	*u = nu
	return nil
}

// CreateFirstUser inserts u and t if there is no user.
func (r authRepo) CreateFirstUser(ctx context.Context, u *AuthUser, t *AuthToken) (bool, error) {
	nu, err := normUser(u)
	if err != nil {
		return false, fmt.Errorf("creating the first user: %w", err)
	}
	nt, err := normToken(t)
	if err != nil {
		return false, fmt.Errorf("creating the first user's token: %w", err)
	}
	if nt.UserID != nu.ID {
		return false, fmt.Errorf("creating the first user: %w: token %s belongs to user %s, not %s", ErrInvalid, nt.ID, nt.UserID, nu.ID)
	}
	created := false
	err = r.s.write(ctx, true, func(tx *gorm.DB) error {
		if err := r.lockAdmins(tx); err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&userRow{}).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		urow, trow := toUserRow(&nu), toTokenRow(&nt)
		if err := tx.Create(&urow).Error; err != nil {
			return err
		}
		if err := tx.Create(&trow).Error; err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("creating the first user %q: %w", u.Name, dbError(err))
	}
	if created {
		nt.UserName = nu.Name
		*u, *t = nu, nt
	}
	return created, nil
}

func (r authRepo) getUser(ctx context.Context, what, where string, arg any) (*AuthUser, error) {
	u, err := firstRow(r.s.read(ctx).Where(where, arg), (*userRow).toUser)
	if err != nil {
		return nil, fmt.Errorf("getting %s: %w", what, err)
	}
	return u, nil
}

// GetUser returns the user with id.
func (r authRepo) GetUser(ctx context.Context, id string) (*AuthUser, error) {
	return r.getUser(ctx, "user "+id, "id = ?", id)
}

// GetUserByName returns the user called name.
func (r authRepo) GetUserByName(ctx context.Context, name string) (*AuthUser, error) {
	return r.getUser(ctx, fmt.Sprintf("user named %q", name), "name = ?", name)
}

// ListUsers returns every user in name order.
func (r authRepo) ListUsers(ctx context.Context) ([]*AuthUser, error) {
	out, err := allRows(r.s.read(ctx).Order("name"), (*userRow).toUser)
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	return out, nil
}

// CountUsers returns how many users there are.
func (r authRepo) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := r.s.read(ctx).Model(&userRow{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("counting users: %w", err)
	}
	return n, nil
}

// otherAdmins counts the admins other than id, within tx.
func otherAdmins(tx *gorm.DB, id string) (int64, error) {
	var n int64
	err := tx.Model(&userRow{}).Where("role = ? AND id <> ?", string(identity.RoleAdmin), id).Count(&n).Error
	return n, err
}

// lockedUser reads user id within tx, or ErrNotFound.
func lockedUser(tx *gorm.DB, id string) (*userRow, error) {
	return firstRow(tx.Where("id = ?", id), func(u *userRow) *userRow { return u })
}

// SetUserRole changes the role of user id, refusing to leave no admin.
func (r authRepo) SetUserRole(ctx context.Context, id string, role identity.Role, at time.Time) (*AuthUser, error) {
	if role == "" {
		return nil, fmt.Errorf("setting role of user %s: %w: empty role", id, ErrInvalid)
	}
	var out *AuthUser
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		if err := r.lockAdmins(tx); err != nil {
			return err
		}
		row, err := lockedUser(tx, id)
		if err != nil {
			return err
		}
		if row.Role == string(identity.RoleAdmin) && role != identity.RoleAdmin {
			n, err := otherAdmins(tx, id)
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrLastAdmin
			}
		}
		row.Role, row.UpdatedAt = string(role), dbTime(normTime(at))
		if err := tx.Model(&userRow{}).Where("id = ?", id).Updates(map[string]any{
			"role": row.Role, "updated_at": row.UpdatedAt,
		}).Error; err != nil {
			return err
		}
		out = row.toUser()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("setting role of user %s: %w", id, dbError(err))
	}
	return out, nil
}

// SetUserPassword replaces the password hash of user id and ends its
// sessions.
func (r authRepo) SetUserPassword(ctx context.Context, id, hash string, at time.Time) (*AuthUser, []string, error) {
	if hash == "" {
		return nil, nil, fmt.Errorf("setting password of user %s: %w: empty hash", id, ErrInvalid)
	}
	var (
		out    *AuthUser
		closed []string
	)
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		row, err := lockedUser(tx, id)
		if err != nil {
			return err
		}
		row.PasswordHash, row.UpdatedAt = hash, dbTime(normTime(at))
		if err := tx.Model(&userRow{}).Where("id = ?", id).Updates(map[string]any{
			"password_hash": hash, "updated_at": row.UpdatedAt,
		}).Error; err != nil {
			return err
		}
		closed = nil
		if err := tx.Model(&sessionRow{}).Where("user_id = ?", id).Order("id").Pluck("id", &closed).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", id).Delete(&sessionRow{}).Error; err != nil {
			return err
		}
		out = row.toUser()
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("setting password of user %s: %w", id, dbError(err))
	}
	return out, closed, nil
}

// DeleteUser removes user id with its tokens and sessions, refusing the
// last admin.
func (r authRepo) DeleteUser(ctx context.Context, id string) error {
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		if err := r.lockAdmins(tx); err != nil {
			return err
		}
		row, err := lockedUser(tx, id)
		if err != nil {
			return err
		}
		if row.Role == string(identity.RoleAdmin) {
			n, err := otherAdmins(tx, id)
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrLastAdmin
			}
		}
		// The foreign keys cascade; deleting explicitly as well keeps
		// this independent of SQLite's foreign_keys pragma.
		if err := tx.Where("user_id = ?", id).Delete(&tokenRow{}).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", id).Delete(&sessionRow{}).Error; err != nil {
			return err
		}
		return tx.Where("id = ?", id).Delete(&userRow{}).Error
	})
	if err != nil {
		return fmt.Errorf("deleting user %s: %w", id, dbError(err))
	}
	return nil
}

// CreateToken inserts t.
func (r authRepo) CreateToken(ctx context.Context, t *AuthToken) error {
	nt, err := normToken(t)
	if err != nil {
		return fmt.Errorf("creating token: %w", err)
	}
	row := toTokenRow(&nt)
	var owner string
	err = r.s.write(ctx, true, func(tx *gorm.DB) error {
		u, err := lockedUser(tx, nt.UserID)
		if err != nil {
			return fmt.Errorf("owner %s: %w", nt.UserID, err)
		}
		owner = u.Name
		return tx.Create(&row).Error
	})
	if err != nil {
		return fmt.Errorf("creating token %s: %w", t.ID, dbError(err))
	}
	nt.UserName = owner
	*t = nt
	return nil
}

// tokens is the query of tokens with their owner's name.
func (r authRepo) tokens(ctx context.Context) *gorm.DB {
	return r.s.read(ctx).Model(&tokenRow{}).
		Select("api_tokens.*, users.name AS user_name").
		Joins("JOIN users ON users.id = api_tokens.user_id")
}

func (r authRepo) getToken(ctx context.Context, what, where string, arg any) (*AuthToken, error) {
	t, err := firstRow(r.tokens(ctx).Where(where, arg), (*tokenRow).toToken)
	if err != nil {
		return nil, fmt.Errorf("getting %s: %w", what, err)
	}
	return t, nil
}

// GetToken returns the token with id.
func (r authRepo) GetToken(ctx context.Context, id string) (*AuthToken, error) {
	return r.getToken(ctx, "token "+id, "api_tokens.id = ?", id)
}

// GetTokenByPrefix returns the token with prefix.
func (r authRepo) GetTokenByPrefix(ctx context.Context, prefix string) (*AuthToken, error) {
	return r.getToken(ctx, fmt.Sprintf("token with prefix %q", prefix), "api_tokens.prefix = ?", prefix)
}

// ListTokens returns every token, oldest first.
func (r authRepo) ListTokens(ctx context.Context) ([]*AuthToken, error) {
	out, err := allRows(r.tokens(ctx).Order("api_tokens.created_at, api_tokens.id"), (*tokenRow).toToken)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	return out, nil
}

// updateToken applies fields to token id (when set) and reads it back.
func (r authRepo) updateToken(ctx context.Context, what, id string, update func(tx *gorm.DB) error) (*AuthToken, error) {
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&tokenRow{}).Where("id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		return update(tx)
	})
	if err != nil {
		return nil, fmt.Errorf("%s token %s: %w", what, id, dbError(err))
	}
	t, err := r.s.Auth().GetToken(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%s token %s: %w", what, id, err)
	}
	return t, nil
}

// SetTokenRole changes the role of token id.
func (r authRepo) SetTokenRole(ctx context.Context, id string, role identity.Role) (*AuthToken, error) {
	if role == "" {
		return nil, fmt.Errorf("setting role of token %s: %w: empty role", id, ErrInvalid)
	}
	return r.updateToken(ctx, "setting role of", id, func(tx *gorm.DB) error {
		return tx.Model(&tokenRow{}).Where("id = ?", id).Update("role", string(role)).Error
	})
}

// RevokeToken marks token id revoked at at, keeping an earlier revocation.
func (r authRepo) RevokeToken(ctx context.Context, id string, at time.Time) (*AuthToken, error) {
	return r.updateToken(ctx, "revoking", id, func(tx *gorm.DB) error {
		return tx.Model(&tokenRow{}).Where("id = ? AND revoked_at IS NULL", id).
			Update("revoked_at", dbTime(normTime(at))).Error
	})
}

// TouchToken records a use of token id at at.
func (r authRepo) TouchToken(ctx context.Context, id string, at time.Time) error {
	d := dbTime(normTime(at))
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		return tx.Model(&tokenRow{}).Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", id, d).
			Update("last_used_at", d).Error
	})
	if err != nil {
		return fmt.Errorf("recording use of token %s: %w", id, dbError(err))
	}
	return nil
}

// CreateSession inserts s.
func (r authRepo) CreateSession(ctx context.Context, s *AuthSession) error {
	if s == nil || s.ID == "" {
		return fmt.Errorf("creating session: %w: empty id", ErrInvalid)
	}
	if s.UserID == "" || len(s.Hash) != sha256.Size || len(s.CSRFHash) != sha256.Size || s.ExpiresAt.IsZero() {
		return fmt.Errorf("creating session %s: %w: it lacks a user, an expiry or SHA-256 hashes", s.ID, ErrInvalid)
	}
	ns := *s
	ns.Hash = append([]byte(nil), s.Hash...)
	ns.CSRFHash = append([]byte(nil), s.CSRFHash...)
	if ns.CreatedAt.IsZero() {
		ns.CreatedAt = time.Now()
	}
	ns.CreatedAt, ns.ExpiresAt = normTime(ns.CreatedAt), normTime(ns.ExpiresAt)
	row := sessionRow{ID: ns.ID, Hash: ns.Hash, CSRFHash: ns.CSRFHash, UserID: ns.UserID,
		CreatedAt: dbTime(ns.CreatedAt), ExpiresAt: dbTime(ns.ExpiresAt)}
	if err := r.s.write(ctx, false, func(tx *gorm.DB) error { return tx.Create(&row).Error }); err != nil {
		return fmt.Errorf("creating session %s: %w", s.ID, dbError(err))
	}
	*s = ns
	return nil
}

func (r authRepo) getSession(ctx context.Context, what, where string, arg any) (*AuthSession, error) {
	s, err := firstRow(r.s.read(ctx).Where(where, arg), (*sessionRow).toSession)
	if err != nil {
		return nil, fmt.Errorf("getting %s: %w", what, err)
	}
	return s, nil
}

// GetSession returns the session with id.
func (r authRepo) GetSession(ctx context.Context, id string) (*AuthSession, error) {
	return r.getSession(ctx, "session "+id, "id = ?", id)
}

// GetSessionByHash returns the session whose secret hashes to hash.
func (r authRepo) GetSessionByHash(ctx context.Context, hash []byte) (*AuthSession, error) {
	if len(hash) != sha256.Size {
		return nil, fmt.Errorf("getting session by hash: %w: the hash is %d bytes, not %d", ErrInvalid, len(hash), sha256.Size)
	}
	return r.getSession(ctx, "session by hash", "hash = ?", hash)
}

// DeleteSession removes session id.
func (r authRepo) DeleteSession(ctx context.Context, id string) error {
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		res := tx.Where("id = ?", id).Delete(&sessionRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting session %s: %w", id, dbError(err))
	}
	return nil
}

// DeleteExpiredSessions removes the sessions that expired before before.
func (r authRepo) DeleteExpiredSessions(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		res := tx.Where("expires_at < ?", dbTime(normTime(before))).Delete(&sessionRow{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("deleting expired sessions: %w", dbError(err))
	}
	return n, nil
}
