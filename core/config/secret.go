package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// Bounds of the cluster secret (server.cluster_secret), in characters
// (Unicode code points) and bytes.
const (
	// MinClusterSecretChars is the least length of a cluster secret: the
	// 44 characters of `openssl rand -base64 32` pass, a word does not.
	MinClusterSecretChars = 32
	// MaxClusterSecretBytes bounds it, so that a file of the wrong kind
	// (an image, a log) is refused rather than taken as the secret.
	MaxClusterSecretBytes = 1024
)

// GenerateSecretHint says how to make a cluster secret.
const GenerateSecretHint = "generate one with `openssl rand -base64 32` and give the same value to every server of the cluster"

// ClusterSecret returns the cluster secret: server.cluster_secret, or the
// content of server.cluster_secret_file, without surrounding white space
// (the final newline of a file, say); "" when neither is set. The error of
// a file that cannot be read names the key and the file; no error ever
// contains the secret.
func (c *Config) ClusterSecret() (string, error) {
	s := c.Server
	if s.ClusterSecretFile == "" {
		return strings.TrimSpace(s.ClusterSecret), nil
	}
	data, err := os.ReadFile(s.ClusterSecretFile)
	if err != nil {
		return "", fmt.Errorf("server.cluster_secret_file: reading the cluster secret: %w", err)
	}
	if len(data) > MaxClusterSecretBytes {
		return "", fmt.Errorf("server.cluster_secret_file: %s has %d bytes, more than a cluster secret's %d; it must hold only the secret (%s)",
			s.ClusterSecretFile, len(data), MaxClusterSecretBytes, GenerateSecretHint)
	}
	return strings.TrimSpace(string(data)), nil
}

// clusterSecret checks server.cluster_secret and server.cluster_secret_file:
// at most one of them, and a secret of MinClusterSecretChars to
// MaxClusterSecretBytes of UTF-8 text. Errors never quote the secret.
func (v *validator) clusterSecret(c *Config) {
	s := c.Server
	path := "server.cluster_secret"
	if s.ClusterSecretFile != "" {
		path = "server.cluster_secret_file"
		if s.ClusterSecret != "" {
			v.fail("server.cluster_secret", "and server.cluster_secret_file are both set; set one of them")
			return
		}
	} else if s.ClusterSecret == "" {
		return
	}
	secret, err := c.ClusterSecret()
	if err != nil {
		v.errs = append(v.errs, errors.New(v.at(path)+err.Error()))
		return
	}
	where := ""
	if s.ClusterSecretFile != "" {
		where = " in " + s.ClusterSecretFile
	}
	switch n := utf8.RuneCountInString(secret); {
	case !utf8.ValidString(secret):
		v.fail(path, "holds a secret%s that is not UTF-8 text; %s", where, GenerateSecretHint)
	case len(secret) > MaxClusterSecretBytes:
		v.fail(path, "holds a secret%s of %d bytes; must be at most %d (%s)", where, len(secret), MaxClusterSecretBytes, GenerateSecretHint)
	case n < MinClusterSecretChars:
		v.fail(path, "holds a secret%s of %d characters; must be at least %d: %s", where, n, MinClusterSecretChars, GenerateSecretHint)
	}
}
