package file

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// Defaults of the plugin's config block.
const (
	// DefaultMaxSize is the size past which the file is rotated.
	DefaultMaxSize = "100MiB"
	// DefaultMaxFiles is how many rotated files are kept.
	DefaultMaxFiles = 5
	// MaxMaxFiles bounds max_files.
	MaxMaxFiles = 1000
)

// Config is the plugin's `config {}` block.
type Config struct {
	// Path is the file entries are appended to, one JSON object per line.
	// Required, absolute; its directory is created when missing. Rotated
	// files are Path.1 (the newest) to Path.<MaxFiles> (the oldest).
	Path string `json:"path"`
	// MaxSize is the size past which the file is rotated, a number with an
	// optional unit: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB
	// (powers of 1024), e.g. "10MiB"; "100MiB" by default. A line longer
	// than MaxSize gets a file of its own.
	MaxSize string `json:"max_size"`
	// MaxFiles is how many rotated files are kept, 0 to 1000; 5 by default.
	// With 0 the file is removed when it is rotated.
	MaxFiles int `json:"max_files"`
	// Fsync syncs the file to disk before a Write reports its entries
	// delivered, so that they survive a power loss. Off by default: entries
	// are in the operating system's cache when reported delivered and
	// survive a crash of the plugin or of the daemon, not of the machine.
	Fsync bool `json:"fsync"`
}

// DefaultConfig returns the configuration used for attributes not set.
func DefaultConfig() Config {
	return Config{MaxSize: DefaultMaxSize, MaxFiles: DefaultMaxFiles}
}

// settings is a checked Config.
type settings struct {
	path     string
	maxSize  int64
	maxFiles int
	fsync    bool
}

// ParseConfig decodes a config block over the defaults and checks it.
// Errors are invalid-argument errors naming the attribute.
func ParseConfig(raw []byte) (Config, error) {
	_, cfg, err := parseSettings(raw)
	return cfg, err
}

func parseSettings(raw []byte) (settings, Config, error) {
	cfg := DefaultConfig()
	if err := plugin.DecodeConfig(raw, &cfg); err != nil {
		return settings{}, Config{}, err
	}
	if strings.TrimSpace(cfg.Path) == "" {
		return settings{}, Config{}, plugin.InvalidArgument("path", "config: attribute \"path\" is required: the file to append entries to")
	}
	if !filepath.IsAbs(cfg.Path) {
		return settings{}, Config{}, plugin.InvalidArgument("path", "config: attribute \"path\" must be an absolute path, not %q", cfg.Path)
	}
	size, err := ParseSize(cfg.MaxSize)
	if err != nil {
		return settings{}, Config{}, plugin.InvalidArgument("max_size", "config: attribute \"max_size\": %v", err)
	}
	if cfg.MaxFiles < 0 || cfg.MaxFiles > MaxMaxFiles {
		return settings{}, Config{}, plugin.InvalidArgument("max_files", "config: attribute \"max_files\" is %d, want 0 to %d", cfg.MaxFiles, MaxMaxFiles)
	}
	cfg.Path = filepath.Clean(cfg.Path)
	return settings{path: cfg.Path, maxSize: size, maxFiles: cfg.MaxFiles, fsync: cfg.Fsync}, cfg, nil
}

// sizeUnits maps the units ParseSize accepts to their number of bytes.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1000, "mb": 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// ParseSize parses a size such as "10MiB", "500KB" or "4096" (bytes). Units
// are case-insensitive; the size must be positive.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if i == 0 || !ok || err != nil {
		return 0, fmt.Errorf("%q is not a size; write a number with an optional unit B, KB, MB, GB, KiB, MiB or GiB, e.g. \"10MiB\"", s)
	}
	if n <= 0 {
		return 0, fmt.Errorf("%q must be more than 0 bytes", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}
