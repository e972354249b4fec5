package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/quantixvm/quantix/internal/fsutil"
)

// The files quantix keeps under <user config dir>/quantix.
const (
	credentialsFile = "credentials.json"
	caDir           = "ca"
)

// credentials is credentials.json: the saved login of each API address.
type credentials struct {
	Servers map[string]savedLogin `json:"servers"`
}

// savedLogin is what `quantix login` keeps for one API address.
type savedLogin struct {
	User      string     `json:"user"`
	Role      string     `json:"role"`
	Token     string     `json:"token"`
	TokenID   string     `json:"token_id,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	SavedAt   time.Time  `json:"saved_at"`
}

// expired reports whether the saved token's expiry has passed.
func (l savedLogin) expired(at time.Time) bool {
	return l.ExpiresAt != nil && !at.Before(*l.ExpiresAt)
}

// store is the directory of quantix's own files in the user's
// configuration directory: credentials.json (mode 0600) and the CA
// certificates trusted at login (ca/<address>.crt). The directory has
// mode 0700.
type store struct{ dir string }

// userStore locates the store the way os.UserConfigDir does, from the
// environment the CLI was given: $XDG_CONFIG_HOME/quantix, else
// $HOME/.config/quantix on Unix systems.
func userStore(getenv func(string) string) (*store, error) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" || runtime.GOOS == "plan9" {
		d, err := os.UserConfigDir()
		if err != nil {
			return nil, err
		}
		return &store{dir: filepath.Join(d, "quantix")}, nil
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		if !filepath.IsAbs(x) {
			return nil, fmt.Errorf("XDG_CONFIG_HOME %q is not an absolute path", x)
		}
		return &store{dir: filepath.Join(x, "quantix")}, nil
	}
	if h := getenv("HOME"); h != "" {
		return &store{dir: filepath.Join(h, ".config", "quantix")}, nil
	}
	return nil, errors.New("neither $XDG_CONFIG_HOME nor $HOME is set: no configuration directory to keep the login in")
}

func (s *store) credentialsPath() string { return filepath.Join(s.dir, credentialsFile) }

// caPath is where the CA trusted for address (a normalized base URL) is
// kept.
func (s *store) caPath(address string) string {
	name := strings.TrimPrefix(strings.TrimPrefix(address, "https://"), "http://")
	name = strings.NewReplacer(":", "_", "/", "_", "[", "", "]", "", "\\", "_").Replace(name)
	return filepath.Join(s.dir, caDir, name+".crt")
}

// mkdir creates the store's directory with mode 0700, and makes an
// existing one 0700.
func (s *store) mkdir(sub string) error {
	dir := filepath.Join(s.dir, sub)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// load reads credentials.json; a missing file is no saved login. A file
// readable by group or others is refused: its tokens may have been seen.
func (s *store) load() (*credentials, error) {
	path := s.credentialsPath()
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &credentials{Servers: map[string]savedLogin{}}, nil
	}
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o, readable by others: its tokens may have leaked; revoke them (quantix token revoke), then run chmod 600 %s or remove it and log in again",
			path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s is not a quantix credentials file (%v): remove it and log in again", path, err)
	}
	if c.Servers == nil {
		c.Servers = map[string]savedLogin{}
	}
	return &c, nil
}

// save writes credentials.json atomically with mode 0600.
func (s *store) save(c *credentials) error {
	if err := s.mkdir(""); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomicMode(s.credentialsPath(), append(b, '\n'), 0o600)
}

// login returns the saved login of address, if any.
func (s *store) login(address string) (savedLogin, bool, error) {
	c, err := s.load()
	if err != nil {
		return savedLogin{}, false, err
	}
	l, ok := c.Servers[address]
	return l, ok, nil
}

// setLogin saves the login of address, replacing the one there was.
func (s *store) setLogin(address string, l savedLogin) error {
	c, err := s.load()
	if err != nil {
		return err
	}
	c.Servers[address] = l
	return s.save(c)
}

// forget removes the saved login of address; it reports whether there
// was one.
func (s *store) forget(address string) (bool, error) {
	c, err := s.load()
	if err != nil {
		return false, err
	}
	if _, ok := c.Servers[address]; !ok {
		return false, nil
	}
	delete(c.Servers, address)
	return true, s.save(c)
}

// saveCA keeps cert as the CA trusted for address.
func (s *store) saveCA(address string, cert *x509.Certificate) (string, error) {
	if err := s.mkdir(caDir); err != nil {
		return "", err
	}
	path := s.caPath(address)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if err := fsutil.WriteFileAtomicMode(path, pemBytes, 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// savedCA returns the path of the CA trusted for address at login, or ""
// when there is none.
func (s *store) savedCA(address string) (string, error) {
	path := s.caPath(address)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	return path, nil
}
