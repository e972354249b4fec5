package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// JoinToken is a stored join token: what a new agent presents, once, to
// receive its client certificate. Only the SHA-256 of its secret is kept.
type JoinToken struct {
	// ID is the visible part of the token, its lookup key.
	ID string
	// SecretHash is the SHA-256 of the token's secret (sha256.Size bytes).
	SecretHash []byte
	// Description says what the token is for; free text.
	Description string
	CreatedAt   time.Time
	// ExpiresAt is when the token stops being accepted.
	ExpiresAt time.Time
	// MaxUses is how many enrollments the token allows (at least 1);
	// Used how many it has counted.
	MaxUses int
	Used    int
	// RevokedAt is when the token was revoked; nil while it is not.
	RevokedAt *time.Time
}

// NodeCert is a client certificate issued to a node's agent.
type NodeCert struct {
	// Serial is the certificate's serial number as lowercase hex, without
	// leading zeros (big.Int.Text(16)).
	Serial string
	// NodeName is the node the certificate names (its subject's common
	// name).
	NodeName string
	IssuedAt time.Time
	NotAfter time.Time
	// RevokedAt is when the certificate was revoked; nil while it is not.
	RevokedAt *time.Time
	// JoinToken names the join token the node enrolled with when the
	// certificate was: the token's id, or "static" for server.join_token;
	// empty for a renewal. With PublicKeySHA256 and DER it lets a retry of
	// that enrollment, whose reply was lost, get the certificate again.
	JoinToken string
	// PublicKeySHA256 is the SHA-256 of the certificate's public key
	// (its DER SubjectPublicKeyInfo) as lowercase hex; empty when not
	// recorded.
	PublicKeySHA256 string
	// DER is the certificate itself; nil when not recorded.
	DER []byte
}

// JoinTokenRepo stores join tokens. Times are kept in UTC with microsecond
// precision.
type JoinTokenRepo interface {
	// Create stores t. An empty id, a hash that is not sha256.Size bytes,
	// MaxUses below 1, Used outside 0..MaxUses or a zero CreatedAt or
	// ExpiresAt is ErrInvalid; an id in use ErrConflict.
	Create(ctx context.Context, t *JoinToken) error
	// Get returns the token with id, or ErrNotFound.
	Get(ctx context.Context, id string) (*JoinToken, error)
	// List returns every token, oldest first (created_at, then id).
	List(ctx context.Context) ([]*JoinToken, error)
	// Revoke sets the revocation time of token id to at unless it is set
	// already (revoking twice keeps the first time) and returns the token
	// as stored; ErrNotFound if there is no such token.
	Revoke(ctx context.Context, id string, at time.Time) (*JoinToken, error)
	// Use counts one use of token id if it has one left at now: not
	// revoked, expiring after now, used fewer times than it allows. The
	// check and the count are one conditional UPDATE, so that of callers
	// racing for the last use exactly one gets it. It reports whether the
	// use was counted; false (and no error) for a token that is unknown or
	// has no use left.
	Use(ctx context.Context, id string, now time.Time) (bool, error)
}

// NodeCertRepo stores the client certificates issued to nodes.
type NodeCertRepo interface {
	// Record stores c. An empty serial or node name, or a zero IssuedAt or
	// NotAfter, is ErrInvalid; a serial recorded before ErrConflict.
	Record(ctx context.Context, c *NodeCert) error
	// Get returns the certificate with serial, or ErrNotFound.
	Get(ctx context.Context, serial string) (*NodeCert, error)
	// ListByNode returns the certificates of node name, newest first
	// (issued_at, then serial, descending).
	ListByNode(ctx context.Context, nodeName string) ([]*NodeCert, error)
	// RevokeNode sets the revocation time of every certificate of node name
	// that is not revoked to at, and returns how many it revoked.
	RevokeNode(ctx context.Context, nodeName string, at time.Time) (int64, error)
}

// JoinTokens returns the join token repository.
func (s *sqlStore) JoinTokens() JoinTokenRepo { return joinTokenRepo{s} }

// NodeCerts returns the node certificate repository.
func (s *sqlStore) NodeCerts() NodeCertRepo { return nodeCertRepo{s} }

// joinTokenRow is a row of join_tokens.
type joinTokenRow struct {
	ID          string  `gorm:"column:id;primaryKey"`
	SecretHash  []byte  `gorm:"column:secret_hash"`
	Description string  `gorm:"column:description"`
	CreatedAt   dbTime  `gorm:"column:created_at;autoCreateTime:false"`
	ExpiresAt   dbTime  `gorm:"column:expires_at"`
	MaxUses     int     `gorm:"column:max_uses"`
	Used        int     `gorm:"column:used"`
	RevokedAt   *dbTime `gorm:"column:revoked_at"`
}

// TableName is the table of joinTokenRow.
func (joinTokenRow) TableName() string { return "join_tokens" }

func (r *joinTokenRow) toJoinToken() *JoinToken {
	return &JoinToken{
		ID: r.ID, SecretHash: r.SecretHash, Description: r.Description,
		CreatedAt: time.Time(r.CreatedAt), ExpiresAt: time.Time(r.ExpiresAt),
		MaxUses: r.MaxUses, Used: r.Used, RevokedAt: fromDBTimePtr(r.RevokedAt),
	}
}

// nodeCertRow is a row of node_certs.
type nodeCertRow struct {
	Serial    string  `gorm:"column:serial;primaryKey"`
	NodeName  string  `gorm:"column:node_name"`
	IssuedAt  dbTime  `gorm:"column:issued_at"`
	NotAfter  dbTime  `gorm:"column:not_after"`
	RevokedAt *dbTime `gorm:"column:revoked_at"`
	JoinToken string  `gorm:"column:join_token"`
	KeySHA256 string  `gorm:"column:public_key_sha256"`
	DER       []byte  `gorm:"column:cert_der"`
}

// TableName is the table of nodeCertRow.
func (nodeCertRow) TableName() string { return "node_certs" }

func (r *nodeCertRow) toNodeCert() *NodeCert {
	return &NodeCert{
		Serial: r.Serial, NodeName: r.NodeName, IssuedAt: time.Time(r.IssuedAt),
		NotAfter: time.Time(r.NotAfter), RevokedAt: fromDBTimePtr(r.RevokedAt),
		JoinToken: r.JoinToken, PublicKeySHA256: r.KeySHA256, DER: r.DER,
	}
}

// joinTokenRepo is the JoinTokenRepo of a sqlStore.
type joinTokenRepo struct{ s *sqlStore }

// Create stores t, normalising its times as a read returns them.
func (r joinTokenRepo) Create(ctx context.Context, t *JoinToken) error {
	switch {
	case t == nil || t.ID == "":
		return fmt.Errorf("creating join token: %w: empty id", ErrInvalid)
	case len(t.SecretHash) != sha256.Size:
		return fmt.Errorf("creating join token %s: %w: the secret hash has %d bytes, want %d", t.ID, ErrInvalid, len(t.SecretHash), sha256.Size)
	case t.MaxUses < 1:
		return fmt.Errorf("creating join token %s: %w: max uses %d is below 1", t.ID, ErrInvalid, t.MaxUses)
	case t.Used < 0 || t.Used > t.MaxUses:
		return fmt.Errorf("creating join token %s: %w: used %d is outside 0..%d", t.ID, ErrInvalid, t.Used, t.MaxUses)
	case t.CreatedAt.IsZero() || t.ExpiresAt.IsZero():
		return fmt.Errorf("creating join token %s: %w: created_at and expires_at are required", t.ID, ErrInvalid)
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = normTime(t.CreatedAt), normTime(t.ExpiresAt), normTimePtr(t.RevokedAt)
	row := joinTokenRow{
		ID: t.ID, SecretHash: t.SecretHash, Description: t.Description,
		CreatedAt: dbTime(t.CreatedAt), ExpiresAt: dbTime(t.ExpiresAt),
		MaxUses: t.MaxUses, Used: t.Used, RevokedAt: toDBTimePtr(t.RevokedAt),
	}
	err := r.s.write(ctx, false, func(tx *gorm.DB) error { return tx.Create(&row).Error })
	if err != nil {
		return fmt.Errorf("creating join token %s: %w", t.ID, dbError(err))
	}
	return nil
}

// Get returns the token with id, or ErrNotFound.
func (r joinTokenRepo) Get(ctx context.Context, id string) (*JoinToken, error) {
	t, err := firstRow(r.s.read(ctx).Where("id = ?", id), (*joinTokenRow).toJoinToken)
	if err != nil {
		return nil, fmt.Errorf("getting join token %s: %w", id, err)
	}
	return t, nil
}

// List returns every token, oldest first.
func (r joinTokenRepo) List(ctx context.Context) ([]*JoinToken, error) {
	out, err := allRows(r.s.read(ctx).Order("created_at, id"), (*joinTokenRow).toJoinToken)
	if err != nil {
		return nil, fmt.Errorf("listing join tokens: %w", err)
	}
	return out, nil
}

// Revoke sets revoked_at of token id (once) and returns the token.
func (r joinTokenRepo) Revoke(ctx context.Context, id string, at time.Time) (*JoinToken, error) {
	var out *JoinToken
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		res := tx.Model(&joinTokenRow{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", dbTime(normTime(at)))
		if res.Error != nil {
			return res.Error
		}
		var err error
		out, err = firstRow(tx.Where("id = ?", id), (*joinTokenRow).toJoinToken)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("revoking join token %s: %w", id, dbError(err))
	}
	return out, nil
}

// useJoinTokenSQL counts one use of a token that has one left: the
// condition and the increment are one statement, so two callers can never
// both take the last use.
const useJoinTokenSQL = `UPDATE join_tokens SET used = used + 1
WHERE id = ? AND used < max_uses AND revoked_at IS NULL AND expires_at > ?`

// Use counts one use of token id if it has one left at now.
func (r joinTokenRepo) Use(ctx context.Context, id string, now time.Time) (bool, error) {
	var n int64
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		res := tx.Exec(useJoinTokenSQL, id, dbTime(normTime(now)))
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return false, fmt.Errorf("counting a use of join token %s: %w", id, dbError(err))
	}
	return n == 1, nil
}

// nodeCertRepo is the NodeCertRepo of a sqlStore.
type nodeCertRepo struct{ s *sqlStore }

// Record stores c, normalising its times as a read returns them.
func (r nodeCertRepo) Record(ctx context.Context, c *NodeCert) error {
	switch {
	case c == nil || c.Serial == "":
		return fmt.Errorf("recording node certificate: %w: empty serial", ErrInvalid)
	case c.NodeName == "":
		return fmt.Errorf("recording node certificate %s: %w: empty node name", c.Serial, ErrInvalid)
	case c.IssuedAt.IsZero() || c.NotAfter.IsZero():
		return fmt.Errorf("recording node certificate %s: %w: issued_at and not_after are required", c.Serial, ErrInvalid)
	}
	c.IssuedAt, c.NotAfter, c.RevokedAt = normTime(c.IssuedAt), normTime(c.NotAfter), normTimePtr(c.RevokedAt)
	row := nodeCertRow{
		Serial: c.Serial, NodeName: c.NodeName, IssuedAt: dbTime(c.IssuedAt),
		NotAfter: dbTime(c.NotAfter), RevokedAt: toDBTimePtr(c.RevokedAt),
		JoinToken: c.JoinToken, KeySHA256: c.PublicKeySHA256, DER: c.DER,
	}
	err := r.s.write(ctx, false, func(tx *gorm.DB) error { return tx.Create(&row).Error })
	if err != nil {
		return fmt.Errorf("recording certificate %s of node %q: %w", c.Serial, c.NodeName, dbError(err))
	}
	return nil
}

// Get returns the certificate with serial, or ErrNotFound.
func (r nodeCertRepo) Get(ctx context.Context, serial string) (*NodeCert, error) {
	c, err := firstRow(r.s.read(ctx).Where("serial = ?", serial), (*nodeCertRow).toNodeCert)
	if err != nil {
		return nil, fmt.Errorf("getting node certificate %s: %w", serial, err)
	}
	return c, nil
}

// ListByNode returns the certificates of node name, newest first.
func (r nodeCertRepo) ListByNode(ctx context.Context, nodeName string) ([]*NodeCert, error) {
	out, err := allRows(r.s.read(ctx).Where("node_name = ?", nodeName).Order("issued_at DESC, serial DESC"), (*nodeCertRow).toNodeCert)
	if err != nil {
		return nil, fmt.Errorf("listing the certificates of node %q: %w", nodeName, err)
	}
	return out, nil
}

// RevokeNode revokes every certificate of node name that is not revoked.
func (r nodeCertRepo) RevokeNode(ctx context.Context, nodeName string, at time.Time) (int64, error) {
	var n int64
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		res := tx.Model(&nodeCertRow{}).Where("node_name = ? AND revoked_at IS NULL", nodeName).Update("revoked_at", dbTime(normTime(at)))
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("revoking the certificates of node %q: %w", nodeName, dbError(err))
	}
	return n, nil
}
