package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	goplugin "github.com/hashicorp/go-plugin"
)

// checksumPrefix is the only algorithm a plugin checksum may name.
const checksumPrefix = "sha256:"

// ParseChecksum parses a plugin block's `checksum = "sha256:<hex>"`. The
// empty string means no checksum (nil, nil).
func ParseChecksum(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	const form = `expected "sha256:" followed by 64 hex digits, as printed by "sha256sum <binary>"`
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), checksumPrefix)
	if !ok {
		return nil, fmt.Errorf("checksum %q: %s", s, form)
	}
	sum, err := hex.DecodeString(rest)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("checksum %q: %s", s, form)
	}
	return sum, nil
}

// FormatChecksum renders a sha256 digest the way ParseChecksum reads it.
func FormatChecksum(sum []byte) string {
	return checksumPrefix + hex.EncodeToString(sum)
}

// FileChecksum returns the sha256 digest of the file at path.
func FileChecksum(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("computing checksum of %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("computing checksum of %s: %w", path, err)
	}
	return h.Sum(nil), nil
}

// secureConfig is what go-plugin checks the binary against before it runs
// it, or nil without a checksum. The hash is stateful: one per launch.
func secureConfig(sum []byte) *goplugin.SecureConfig {
	if len(sum) == 0 {
		return nil
	}
	return &goplugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
}

// checksumMismatch explains a refused binary with both digests.
func checksumMismatch(name, path string, want []byte) error {
	var got string
	if sum, err := FileChecksum(path); err == nil {
		got = FormatChecksum(sum)
	} else {
		got = err.Error()
	}
	return fmt.Errorf("plugin %q: checksum mismatch for %s: expected %s, actual %s; refusing to run it: reinstall the plugin you trust or update checksum in the plugin %q block",
		name, path, FormatChecksum(want), got, name)
}
