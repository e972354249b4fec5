package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/fsutil"
)

// Bootstrap files, under the data directory.
const (
	// AdminUser is the user Bootstrap creates.
	AdminUser = "admin"
	// BootstrapTokenName names the admin token Bootstrap creates.
	BootstrapTokenName = "bootstrap"
	// PasswordFileName and TokenFileName hold the first admin's password
	// and token, mode 0600.
	PasswordFileName = "admin-password"
	TokenFileName    = "admin-token"
)

// bootstrapPasswordChars is the length of the generated admin password:
// 24 characters of base32 (120 random bits).
const bootstrapPasswordChars = 24

// BootstrapResult says what Bootstrap did.
type BootstrapResult struct {
	// Created is set when there was no user and Bootstrap made the admin.
	Created bool
	// PasswordFile and TokenFile are where the admin's password and token
	// were written (set when Created).
	PasswordFile string
	TokenFile    string
}

// Bootstrap makes the first user when there is none: user AdminUser with a
// random password and an admin token named BootstrapTokenName, written to
// <dataDir>/admin-password and <dataDir>/admin-token (mode 0600, each
// written atomically, one line). It logs once where they are, never what
// they hold. With users present it does nothing (Created false); of
// processes sharing a database, one bootstraps it.
func (s *Service) Bootstrap(ctx context.Context, dataDir string) (BootstrapResult, error) {
	if dataDir == "" {
		return BootstrapResult{}, invalid("data_dir", "data_dir is required: the bootstrap files are written there")
	}
	n, err := s.repo.CountUsers(ctx)
	if err != nil {
		return BootstrapResult{}, internal(err, "counting users")
	}
	if n > 0 {
		return BootstrapResult{}, nil
	}
	password, err := randomPassword()
	if err != nil {
		return BootstrapResult{}, internal(err, "making the admin password")
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return BootstrapResult{}, err
	}
	plain, prefix, tokenHash, err := identity.NewToken()
	if err != nil {
		return BootstrapResult{}, internal(err, "making the admin token")
	}
	now := s.now()
	u := &store.AuthUser{ID: uuid.NewString(), Name: AdminUser, Role: identity.RoleAdmin, PasswordHash: hash, CreatedAt: now}
	t := &store.AuthToken{ID: uuid.NewString(), Prefix: prefix, Hash: tokenHash, Name: BootstrapTokenName,
		Role: identity.RoleAdmin, UserID: u.ID, CreatedAt: now}

	// The files are written before the user exists, so that a failure
	// never leaves an admin whose password nobody has; they are removed
	// again if the user cannot be made.
	res := BootstrapResult{
		PasswordFile: filepath.Join(dataDir, PasswordFileName),
		TokenFile:    filepath.Join(dataDir, TokenFileName),
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return BootstrapResult{}, internal(err, "creating data_dir %s", dataDir)
	}
	files := []struct{ path, content string }{{res.PasswordFile, password + "\n"}, {res.TokenFile, plain + "\n"}}
	undo := func() {
		for _, f := range files {
			// Remove only what this call wrote.
			if b, err := os.ReadFile(f.path); err == nil && bytes.Equal(b, []byte(f.content)) {
				_ = os.Remove(f.path)
			}
		}
	}
	for _, f := range files {
		if err := fsutil.WriteFileAtomicMode(f.path, []byte(f.content), 0o600); err != nil {
			undo()
			return BootstrapResult{}, internal(err, "writing the bootstrap files under data_dir %s", dataDir)
		}
	}
	created, err := s.repo.CreateFirstUser(ctx, u, t)
	if err != nil || !created {
		undo()
		if err != nil {
			return BootstrapResult{}, internal(err, "creating user %s", AdminUser)
		}
		return BootstrapResult{}, nil
	}
	res.Created = true
	s.log.Info("created the first user; its password and an admin API token are in these files (mode 0600)",
		"user", AdminUser, "password_file", res.PasswordFile, "token_file", res.TokenFile, "token_prefix", prefix)
	return res, nil
}

// randomPassword makes a password of bootstrapPasswordChars characters
// that identity.ValidatePassword accepts.
func randomPassword() (string, error) {
	b := make([]byte, bootstrapPasswordChars*5/8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	pw := tokenAlphabetEncoding.EncodeToString(b)
	if err := identity.ValidatePassword(pw); err != nil {
		return "", errors.Join(errors.New("the generated password breaks the password rules"), err)
	}
	return pw, nil
}

// tokenAlphabetEncoding is lower-case base32 without padding: letters and
// the digits 2-7, so no 0/O or 1/l to mistake when copying.
var tokenAlphabetEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
