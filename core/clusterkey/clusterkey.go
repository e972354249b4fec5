// Package clusterkey derives the key that encrypts the secrets the servers
// of a cluster share in the database (the private keys of the cluster's
// CAs) from the cluster secret every server is configured with
// (server.cluster_secret).
//
// The key is argon2id(secret, salt) with a random salt and the parameters
// stored in the database (store.ClusterKey), set by the first server; each
// value is sealed with AES-256-GCM under a fresh random nonce, with the
// value's purpose (what it is, e.g. "cluster CA agents") as additional
// data, so that a sealed value moved to another place does not open there.
// The stored check value, a known text sealed with the key, tells a server
// whose secret differs from the cluster's before it uses anything.
package clusterkey

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/quantixvm/quantix/core/store"
)

// KDF is the key derivation this package makes keys with.
const KDF = "argon2id"

// ErrWrongSecret is the error of Open when the configured secret is not the
// one the cluster's database was set up with.
var ErrWrongSecret = errors.New("server.cluster_secret differs from the secret this cluster's database was set up with: give every server the same server.cluster_secret")

// ErrTampered is wrapped by the error of (*Key).Open when a sealed value
// does not open: it was altered, truncated, or moved from another place.
var ErrTampered = errors.New("sealed value does not open with the cluster key")

// Params are argon2id's parameters.
type Params struct {
	// MemoryKiB is the memory one derivation uses, in KiB.
	MemoryKiB uint32
	// Time is the number of passes.
	Time uint32
	// Threads is the number of lanes.
	Threads uint8
}

// DefaultParams are the parameters of a new cluster key: 64 MiB, one pass,
// two lanes (the memory-hard profile of RFC 9106 scaled to a small server,
// as for user passwords). A server derives the key once per start.
var DefaultParams = Params{MemoryKiB: 64 * 1024, Time: 1, Threads: 2}

// newKeyParams are the parameters a new cluster key is made with:
// DefaultParams (the package's tests lower them, to run quickly).
var newKeyParams = DefaultParams

// Bounds a stored parameter set must keep, so that a damaged or planted row
// cannot make a start take gigabytes or minutes.
const (
	maxMemoryKiB = 1024 * 1024
	maxTime      = 16
	maxThreads   = 16
	minSaltLen   = 16
	maxSaltLen   = 64
)

// String is the PHC notation of p: "m=65536,t=1,p=2".
func (p Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Time, p.Threads)
}

// ParseParams reads the notation of Params.String, within sane bounds.
func ParseParams(s string) (Params, error) {
	var p Params
	var threads uint32
	if n, err := fmt.Sscanf(s, "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &threads); err != nil || n != 3 {
		return Params{}, fmt.Errorf("argon2id parameters %q are not of the form m=<KiB>,t=<passes>,p=<lanes>", s)
	}
	if p.MemoryKiB < 8 || p.MemoryKiB > maxMemoryKiB || p.Time < 1 || p.Time > maxTime || threads < 1 || threads > maxThreads {
		return Params{}, fmt.Errorf("argon2id parameters %q are out of bounds (m 8..%d, t 1..%d, p 1..%d)", s, maxMemoryKiB, maxTime, maxThreads)
	}
	p.Threads = uint8(threads)
	if p.String() != s {
		return Params{}, fmt.Errorf("argon2id parameters %q are not of the form m=<KiB>,t=<passes>,p=<lanes>", s)
	}
	return p, nil
}

// keyLen is AES-256's key length.
const keyLen = 32

// sealVersion starts every sealed value: the format (AES-256-GCM, 12-byte
// nonce, then the ciphertext and its tag).
const sealVersion = 1

// checkPurpose and checkText make the check value.
const (
	checkPurpose = "cluster secret check"
	checkText    = "quantix cluster key"
)

// Key is the cluster key. It is safe for concurrent use.
type Key struct {
	aead cipher.AEAD
}

// Derive makes the key of secret under salt and p.
func Derive(secret string, salt []byte, p Params) (*Key, error) {
	if secret == "" {
		return nil, errors.New("clusterkey: the cluster secret is empty")
	}
	if len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return nil, fmt.Errorf("clusterkey: salt of %d bytes, want %d to %d", len(salt), minSaltLen, maxSaltLen)
	}
	k := argon2.IDKey([]byte(secret), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("clusterkey: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("clusterkey: %w", err)
	}
	return &Key{aead: aead}, nil
}

// Seal encrypts plaintext for purpose, which Open must be given the same.
func (k *Key) Seal(plaintext []byte, purpose string) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("clusterkey: reading a random nonce: %w", err)
	}
	out := append([]byte{sealVersion}, nonce...)
	return k.aead.Seal(out, nonce, plaintext, aad(purpose)), nil
}

// Open decrypts what Seal made for purpose. A value altered, truncated,
// sealed under another key or for another purpose is an error wrapping
// ErrTampered.
func (k *Key) Open(sealed []byte, purpose string) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < 1+ns+k.aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("clusterkey: %s: %w (not a sealed value of this version)", purpose, ErrTampered)
	}
	out, err := k.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad(purpose))
	if err != nil {
		return nil, fmt.Errorf("clusterkey: %s: %w", purpose, ErrTampered)
	}
	return out, nil
}

func aad(purpose string) []byte { return []byte("quantix " + purpose) }

// Open derives the cluster key from secret with the parameters stored in
// repo and checks it against the stored check value: ErrWrongSecret when
// it does not open it. A database without a cluster key gets one (a fresh
// salt, DefaultParams and the check value), race-safely: of servers
// starting at once, all end with the first one's. created reports whether
// this call stored it.
func Open(ctx context.Context, repo store.ClusterSecretRepo, secret string) (key *Key, created bool, err error) {
	stored, err := repo.Key(ctx)
	if errors.Is(err, store.ErrNotFound) {
		var mine *store.ClusterKey
		key, mine, err = newClusterKey(secret)
		if err != nil {
			return nil, false, err
		}
		if stored, err = repo.InitKey(ctx, mine); err != nil {
			return nil, false, err
		}
		if string(stored.Salt) == string(mine.Salt) && string(stored.Check) == string(mine.Check) {
			return key, true, nil
		}
		// Another server stored its key first: use that one.
	} else if err != nil {
		return nil, false, err
	}
	if stored.KDF != KDF {
		return nil, false, fmt.Errorf("the cluster key in the database is derived with %q, which this quantixd does not know (it knows %s): upgrade quantixd", stored.KDF, KDF)
	}
	p, err := ParseParams(stored.Params)
	if err != nil {
		return nil, false, fmt.Errorf("the cluster key in the database: %w", err)
	}
	if key, err = Derive(secret, stored.Salt, p); err != nil {
		return nil, false, err
	}
	check, err := key.Open(stored.Check, checkPurpose)
	if err != nil || string(check) != checkText {
		return nil, false, ErrWrongSecret
	}
	return key, false, nil
}

// newClusterKey derives the key of secret under a fresh salt and
// newKeyParams, and the row that records them.
func newClusterKey(secret string) (*Key, *store.ClusterKey, error) {
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, nil, fmt.Errorf("clusterkey: reading a random salt: %w", err)
	}
	key, err := Derive(secret, salt, newKeyParams)
	if err != nil {
		return nil, nil, err
	}
	check, err := key.Seal([]byte(checkText), checkPurpose)
	if err != nil {
		return nil, nil, err
	}
	return key, &store.ClusterKey{KDF: KDF, Params: newKeyParams.String(), Salt: salt, Check: check, CreatedAt: time.Now()}, nil
}
