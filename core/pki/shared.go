package pki

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/fsutil"
)

// Sealer encrypts the private key of a shared CA for the database and
// decrypts it back (clusterkey.Key). purpose binds a sealed value to what
// it is: a value sealed for one purpose does not open for another.
type Sealer interface {
	Seal(plaintext []byte, purpose string) ([]byte, error)
	Open(sealed []byte, purpose string) ([]byte, error)
}

// Origin says where LoadOrCreateSharedCA found a shared CA.
type Origin string

const (
	// FromDatabase: the database held the CA.
	FromDatabase Origin = "database"
	// Created: the database had none; a new CA was made and stored.
	Created Origin = "created"
	// Imported: the database had none; the CA kept under the directory
	// (by this server when it ran alone) was stored.
	Imported Origin = "imported"
)

// SharedCAOptions locate a CA the servers of a cluster share.
type SharedCAOptions struct {
	// Repo keeps the cluster's CAs; Key seals and opens their private
	// keys.
	Repo store.ClusterSecretRepo
	Key  Sealer
	// Name is the CA's name in the cluster ("agents", "api").
	Name string
	// CommonName is the subject of a CA made anew.
	CommonName string
	// Dir is this server's directory of the CA (<data_dir>/pki/<name>): a
	// CA kept there is imported when the database has none, the CA's
	// certificate is written there as ca.crt for clients to be given, and
	// the server certificates this server issues are kept there.
	Dir string
}

// sealPurpose is what a shared CA's sealed key is bound to.
func sealPurpose(name string) string { return "cluster CA " + name }

// LoadOrCreateSharedCA returns the cluster's CA called o.Name from the
// database, its private key opened with o.Key. When the database has none
// it stores one: the CA kept in o.Dir (ca.crt and ca.key, checked as
// LoadOrCreateCA does) if there is one, a new one otherwise; the insert is
// race-safe, and a server that loses the race takes the CA that won.
//
// o.Dir then holds the cluster CA's certificate as ca.crt; a CA pair there
// that is not the cluster's is refused (this data_dir was set up by a
// server running alone, whose certificates the cluster does not trust),
// never replaced. A key that does not open (the row was altered, or
// sealed for another CA) or does not match the certificate is an error
// naming the CA.
func LoadOrCreateSharedCA(ctx context.Context, o SharedCAOptions) (*CA, Origin, error) {
	if o.Repo == nil || o.Key == nil || o.Name == "" || o.Dir == "" {
		return nil, "", errors.New("pki: a shared CA needs a repository, a key, a name and a directory")
	}
	origin := FromDatabase
	row, err := o.Repo.CA(ctx, o.Name)
	if errors.Is(err, store.ErrNotFound) {
		var mine *CA
		if mine, origin, err = localOrNewCA(o); err != nil {
			return nil, "", err
		}
		if row, err = storeSharedCA(ctx, o, mine); err != nil {
			return nil, "", err
		}
		if !bytes.Equal(row.CertPEM, mine.certPEM) {
			origin = FromDatabase // another server stored its CA first
		}
	} else if err != nil {
		return nil, "", fmt.Errorf("pki: %w", err)
	}
	ca, err := openSharedCA(o, row)
	if err != nil {
		return nil, "", err
	}
	if err := keepSharedCert(o, ca); err != nil {
		return nil, "", err
	}
	ca.dir = o.Dir
	return ca, origin, nil
}

// localOrNewCA is the CA kept in o.Dir when there is a pair there, or a
// new one when there is neither file; half a pair is an error, as for
// LoadOrCreateCA. The directory's files are not changed.
func localOrNewCA(o SharedCAOptions) (*CA, Origin, error) {
	certExists, err := exists(filepath.Join(o.Dir, CACertFile))
	if err != nil {
		return nil, "", err
	}
	keyExists, err := exists(filepath.Join(o.Dir, CAKeyFile))
	if err != nil {
		return nil, "", err
	}
	certPath, keyPath := filepath.Join(o.Dir, CACertFile), filepath.Join(o.Dir, CAKeyFile)
	switch {
	case certExists && keyExists:
		ca, err := loadCA(o.Dir)
		if err != nil {
			return nil, "", err
		}
		return ca, Imported, nil
	case certExists:
		return nil, "", fmt.Errorf("pki: the database holds no cluster CA %q and %s exists without its key %s: restore the key to import that CA, or remove %s to have a new CA made (certificates it issued stop being trusted)", o.Name, certPath, keyPath, certPath)
	case keyExists:
		return nil, "", fmt.Errorf("pki: the database holds no cluster CA %q and %s exists without its certificate %s: restore the certificate to import that CA, or remove %s to have a new CA made", o.Name, keyPath, certPath, keyPath)
	}
	if o.CommonName == "" {
		return nil, "", errors.New("pki: CA common name is empty")
	}
	ca, err := generateCA(o.CommonName)
	if err != nil {
		return nil, "", err
	}
	return ca, Created, nil
}

// storeSharedCA seals ca's key and stores it under o.Name unless a CA of
// that name is there already; it returns the stored row.
func storeSharedCA(ctx context.Context, o SharedCAOptions, ca *CA) (*store.ClusterCA, error) {
	der, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: encoding the private key of CA %q: %w", o.Name, err)
	}
	sealed, err := o.Key.Seal(der, sealPurpose(o.Name))
	if err != nil {
		return nil, fmt.Errorf("pki: sealing the private key of CA %q: %w", o.Name, err)
	}
	row, err := o.Repo.AddCA(ctx, &store.ClusterCA{Name: o.Name, CertPEM: ca.certPEM, SealedKey: sealed, CreatedAt: time.Now()})
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return row, nil
}

// openSharedCA makes the CA of a stored row, checking it as loadCA checks
// a directory's.
func openSharedCA(o SharedCAOptions, row *store.ClusterCA) (*CA, error) {
	where := fmt.Sprintf("the cluster CA %q in the database", o.Name)
	cert, err := decodeCert(row.CertPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", where, err)
	}
	if err := checkCACert(cert); err != nil {
		return nil, fmt.Errorf("pki: %s %w", where, err)
	}
	der, err := o.Key.Open(row.SealedKey, sealPurpose(o.Name))
	if err != nil {
		return nil, fmt.Errorf("pki: the private key of %s does not open with the cluster key, though server.cluster_secret is right: the row was altered or damaged: %w", where, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("pki: the private key of %s: %w", where, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("pki: the private key of %s is %T, want ECDSA", where, k)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("pki: the private key of %s does not match its certificate: the row was altered or damaged", where)
	}
	return &CA{cert: cert, certPEM: bytes.Clone(row.CertPEM), key: key}, nil
}

// keepSharedCert makes o.Dir hold ca's certificate as ca.crt. A CA pair
// there is left as it is when it is ca, refused otherwise; a certificate
// alone (written by an earlier start) is brought up to date.
func keepSharedCert(o SharedCAOptions, ca *CA) error {
	certPath, keyPath := filepath.Join(o.Dir, CACertFile), filepath.Join(o.Dir, CAKeyFile)
	keyExists, err := exists(keyPath)
	if err != nil {
		return err
	}
	if keyExists {
		local, err := loadCA(o.Dir)
		if err != nil {
			return err
		}
		if local.Fingerprint() != ca.Fingerprint() {
			return fmt.Errorf("pki: %s holds a CA (sha256 %s) that is not the cluster's %q CA in the database (sha256 %s): "+
				"this data_dir was set up by a server running alone, and what that CA issued is not trusted in the cluster; "+
				"move %s aside and start again (its agents enroll anew with a join token)",
				o.Dir, local.Fingerprint(), o.Name, ca.Fingerprint(), o.Dir)
		}
		return nil
	}
	if cur, err := os.ReadFile(certPath); err == nil && bytes.Equal(cur, ca.certPEM) {
		return nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pki: %w", err)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return fmt.Errorf("pki: creating %s: %w", o.Dir, err)
	}
	if err := fsutil.WriteFileAtomicMode(certPath, ca.certPEM, 0o644); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}
