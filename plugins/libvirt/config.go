package libvirt

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// Defaults of the plugin's config block.
const (
	// DefaultURI is the libvirt connection URI used when none is configured.
	DefaultURI = "qemu:///system"
	// DefaultImageDir is where VM disk volumes live by default.
	DefaultImageDir = "/var/lib/quantix/images"
	// DefaultQEMULogDir is where libvirt's QEMU driver writes per-VM logs.
	DefaultQEMULogDir = "/var/log/libvirt/qemu"
	// DefaultRebootTimeout is how long RebootVM waits for the guest to act
	// on an ACPI reboot request before it resets the VM.
	DefaultRebootTimeout = 30 * time.Second
	// DomainTypeAuto picks the domain type from the connection: "test" on
	// the test driver, "kvm" when the host can run KVM guests, else "qemu".
	DomainTypeAuto = "auto"
)

// domainTypes are the values the domain_type attribute accepts.
var domainTypes = []string{DomainTypeAuto, "kvm", "qemu", "test"}

// Config is the plugin's `config {}` block.
type Config struct {
	// URI is the libvirt connection URI, qemu:///system by default.
	URI string `json:"uri"`
	// ImageDir is the directory of the libvirt dir storage pool holding the
	// volumes the plugin creates; the pool is defined when missing.
	ImageDir string `json:"image_dir"`
	// QEMULogDir is where the per-VM QEMU logs (<name>.log) are read from.
	QEMULogDir string `json:"qemu_log_dir"`
	// DomainType is "auto", "kvm", "qemu" or "test".
	DomainType string `json:"domain_type"`
	// RebootTimeout is how long RebootVM waits for the guest to act on an
	// ACPI reboot request before it resets the VM, as a Go duration
	// ("30s" by default).
	RebootTimeout string `json:"reboot_timeout"`
}

// DefaultConfig returns the configuration used for attributes not set.
func DefaultConfig() Config {
	return Config{
		URI:           DefaultURI,
		ImageDir:      DefaultImageDir,
		QEMULogDir:    DefaultQEMULogDir,
		DomainType:    DomainTypeAuto,
		RebootTimeout: DefaultRebootTimeout.String(),
	}
}

// ParseConfig decodes a config block over the defaults and validates it.
// Errors are invalid-argument errors naming the attribute.
func ParseConfig(raw []byte) (Config, error) {
	cfg := DefaultConfig()
	if err := plugin.DecodeConfig(raw, &cfg); err != nil {
		return Config{}, err
	}
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	cfg.ImageDir = filepath.Clean(cfg.ImageDir)
	cfg.QEMULogDir = filepath.Clean(cfg.QEMULogDir)
	return cfg, nil
}

func (c Config) validate() error {
	if strings.TrimSpace(c.URI) == "" {
		return plugin.InvalidArgument("uri", "config: attribute \"uri\" must not be empty")
	}
	if err := absPath("image_dir", c.ImageDir); err != nil {
		return err
	}
	if err := absPath("qemu_log_dir", c.QEMULogDir); err != nil {
		return err
	}
	if _, err := c.rebootGrace(); err != nil {
		return err
	}
	for _, t := range domainTypes {
		if c.DomainType == t {
			return nil
		}
	}
	return plugin.InvalidArgument("domain_type", "config: attribute \"domain_type\" is %q, want one of %s",
		c.DomainType, strings.Join(domainTypes, ", "))
}

// rebootGrace parses RebootTimeout.
func (c Config) rebootGrace() (time.Duration, error) {
	d, err := time.ParseDuration(c.RebootTimeout)
	if err != nil || d <= 0 {
		return 0, plugin.InvalidArgument("reboot_timeout", "config: attribute \"reboot_timeout\" is %q, want a positive duration such as \"30s\"", c.RebootTimeout)
	}
	return d, nil
}

func absPath(attr, p string) error {
	if p == "" || !filepath.IsAbs(p) {
		return plugin.InvalidArgument(attr, "config: attribute %q must be an absolute path, not %q", attr, p)
	}
	return nil
}

// String describes the configuration for logs.
func (c Config) String() string {
	return fmt.Sprintf("uri=%s image_dir=%s qemu_log_dir=%s domain_type=%s reboot_timeout=%s",
		c.URI, c.ImageDir, c.QEMULogDir, c.DomainType, c.RebootTimeout)
}
