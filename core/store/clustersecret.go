package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ClusterKey says how the key that encrypts the cluster's secrets is
// derived from server.cluster_secret, and holds a value sealed with that
// key so that a server can tell whether its secret is the cluster's. It
// never holds the secret nor the key.
type ClusterKey struct {
	// KDF names the derivation ("argon2id"); Params its parameters in the
	// KDF's own notation ("m=65536,t=1,p=2").
	KDF    string
	Params string
	// Salt is the derivation's random salt.
	Salt []byte
	// Check is a known value sealed with the derived key.
	Check     []byte
	CreatedAt time.Time
}

// ClusterCA is a certificate authority the servers of a cluster share:
// its certificate in clear and its private key sealed with the cluster
// key.
type ClusterCA struct {
	// Name identifies the CA in the cluster: "agents", "api".
	Name string
	// CertPEM is the CA certificate, PEM-encoded.
	CertPEM []byte
	// SealedKey is the CA's private key, encrypted with the cluster key.
	SealedKey []byte
	CreatedAt time.Time
}

// ClusterSecretRepo keeps the cluster key's parameters and the cluster's
// CAs. Both are written once, by whichever server gets there first: every
// other server, racing or later, reads what that one wrote. Times are kept
// in UTC with microsecond precision.
type ClusterSecretRepo interface {
	// InitKey stores k unless the cluster has a key already, and returns
	// the key stored: k, or the one stored before (by another server that
	// got there first). The insert and the read are one transaction's, so
	// that of servers racing all end with the same key. An empty KDF,
	// Params, Salt or Check, or a zero CreatedAt, is ErrInvalid.
	InitKey(ctx context.Context, k *ClusterKey) (*ClusterKey, error)
	// Key returns the cluster's key parameters, or ErrNotFound when none
	// were stored yet.
	Key(ctx context.Context) (*ClusterKey, error)
	// AddCA stores ca unless a CA of that name is stored already, and
	// returns the CA stored under the name: ca, or the one stored before.
	// Like InitKey it is safe to race. An empty name, certificate or
	// sealed key, or a zero CreatedAt, is ErrInvalid.
	AddCA(ctx context.Context, ca *ClusterCA) (*ClusterCA, error)
	// CA returns the CA called name, or ErrNotFound.
	CA(ctx context.Context, name string) (*ClusterCA, error)
	// CAs returns every CA, by name.
	CAs(ctx context.Context) ([]*ClusterCA, error)
}

// ClusterSecrets returns the cluster key and CA repository.
func (s *sqlStore) ClusterSecrets() ClusterSecretRepo { return clusterSecretRepo{s} }

// clusterKeyRow is the one row of cluster_secret.
type clusterKeyRow struct {
	ID         int    `gorm:"column:id;primaryKey;autoIncrement:false"`
	KDF        string `gorm:"column:kdf"`
	KDFParams  string `gorm:"column:kdf_params"`
	Salt       []byte `gorm:"column:salt"`
	CheckValue []byte `gorm:"column:check_value"`
	CreatedAt  dbTime `gorm:"column:created_at;autoCreateTime:false"`
}

// TableName is the table of clusterKeyRow.
func (clusterKeyRow) TableName() string { return "cluster_secret" }

func (r *clusterKeyRow) toClusterKey() *ClusterKey {
	return &ClusterKey{KDF: r.KDF, Params: r.KDFParams, Salt: r.Salt, Check: r.CheckValue, CreatedAt: time.Time(r.CreatedAt)}
}

// clusterCARow is a row of cluster_cas.
type clusterCARow struct {
	Name      string `gorm:"column:name;primaryKey"`
	CertPEM   string `gorm:"column:cert_pem"`
	KeySealed []byte `gorm:"column:key_sealed"`
	CreatedAt dbTime `gorm:"column:created_at;autoCreateTime:false"`
}

// TableName is the table of clusterCARow.
func (clusterCARow) TableName() string { return "cluster_cas" }

func (r *clusterCARow) toClusterCA() *ClusterCA {
	return &ClusterCA{Name: r.Name, CertPEM: []byte(r.CertPEM), SealedKey: r.KeySealed, CreatedAt: time.Time(r.CreatedAt)}
}

// clusterSecretRepo is the ClusterSecretRepo of a sqlStore.
type clusterSecretRepo struct{ s *sqlStore }

// InitKey inserts k if cluster_secret is empty (INSERT ... ON CONFLICT DO
// NOTHING) and reads back the row.
func (r clusterSecretRepo) InitKey(ctx context.Context, k *ClusterKey) (*ClusterKey, error) {
	switch {
	case k == nil || k.KDF == "" || k.Params == "":
		return nil, fmt.Errorf("storing the cluster key: %w: the key derivation and its parameters are required", ErrInvalid)
	case len(k.Salt) == 0 || len(k.Check) == 0:
		return nil, fmt.Errorf("storing the cluster key: %w: the salt and the check value are required", ErrInvalid)
	case k.CreatedAt.IsZero():
		return nil, fmt.Errorf("storing the cluster key: %w: created_at is required", ErrInvalid)
	}
	row := clusterKeyRow{ID: 1, KDF: k.KDF, KDFParams: k.Params, Salt: k.Salt, CheckValue: k.Check, CreatedAt: dbTime(normTime(k.CreatedAt))}
	var out *ClusterKey
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
			return err
		}
		var rows []clusterKeyRow
		if err := tx.Where("id = 1").Limit(1).Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("the row just inserted is missing")
		}
		out = rows[0].toClusterKey()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storing the cluster key: %w", dbError(err))
	}
	return out, nil
}

// Key returns the row of cluster_secret, or ErrNotFound.
func (r clusterSecretRepo) Key(ctx context.Context) (*ClusterKey, error) {
	var rows []clusterKeyRow
	if err := r.s.read(ctx).Where("id = 1").Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("reading the cluster key: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("reading the cluster key: %w", ErrNotFound)
	}
	return rows[0].toClusterKey(), nil
}

// AddCA inserts ca if no CA has its name (INSERT ... ON CONFLICT DO
// NOTHING) and reads back the CA of that name.
func (r clusterSecretRepo) AddCA(ctx context.Context, ca *ClusterCA) (*ClusterCA, error) {
	switch {
	case ca == nil || ca.Name == "":
		return nil, fmt.Errorf("storing a cluster CA: %w: empty name", ErrInvalid)
	case len(ca.CertPEM) == 0 || len(ca.SealedKey) == 0:
		return nil, fmt.Errorf("storing cluster CA %q: %w: the certificate and the sealed key are required", ca.Name, ErrInvalid)
	case ca.CreatedAt.IsZero():
		return nil, fmt.Errorf("storing cluster CA %q: %w: created_at is required", ca.Name, ErrInvalid)
	}
	row := clusterCARow{Name: ca.Name, CertPEM: string(ca.CertPEM), KeySealed: ca.SealedKey, CreatedAt: dbTime(normTime(ca.CreatedAt))}
	var out *ClusterCA
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
			return err
		}
		var rows []clusterCARow
		if err := tx.Where("name = ?", ca.Name).Limit(1).Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("the row just inserted is missing")
		}
		out = rows[0].toClusterCA()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storing cluster CA %q: %w", ca.Name, dbError(err))
	}
	return out, nil
}

// CA returns the CA called name, or ErrNotFound.
func (r clusterSecretRepo) CA(ctx context.Context, name string) (*ClusterCA, error) {
	var rows []clusterCARow
	if err := r.s.read(ctx).Where("name = ?", name).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("reading cluster CA %q: %w", name, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("reading cluster CA %q: %w", name, ErrNotFound)
	}
	return rows[0].toClusterCA(), nil
}

// CAs returns every CA, by name.
func (r clusterSecretRepo) CAs(ctx context.Context) ([]*ClusterCA, error) {
	var rows []clusterCARow
	if err := r.s.read(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing cluster CAs: %w", err)
	}
	out := make([]*ClusterCA, len(rows))
	for i := range rows {
		out[i] = rows[i].toClusterCA()
	}
	return out, nil
}
