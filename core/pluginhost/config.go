package pluginhost

import (
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Config describes one plugin to load: a backend from a `plugin "<name>" {}`
// block of the daemon's configuration, or a log sink from a
// `log_sink "<name>" {}` block (LaunchLogSink).
type Config struct {
	// Name is the plugin's name, the label of its plugin block, e.g.
	// "libvirt". The binary looked up is quantix-backend-<Name>, or
	// quantix-logsink-<Name> for a log sink.
	Name string
	// Dir is plugin_dir, the directory binaries are looked up in when Path
	// is empty.
	Dir string
	// Path is the plugin block's `path`: an explicit binary, overriding Dir.
	Path string
	// Checksum is the plugin block's optional `checksum = "sha256:<hex>"`.
	// When set, the binary is refused unless its digest matches, checked
	// before every launch.
	Checksum string
	// Settings is the plugin's `config {}` block, decoded from HCL. It is
	// passed to the plugin's Configure as a JSON object (plugin.EncodeConfig)
	// and validated by the plugin.
	Settings map[string]any
	// Logger is the host's logger. The plugin's log lines are re-logged under
	// Logger.Named("plugin.<Name>"). Nil discards them.
	Logger hclog.Logger
	// Supervision tunes relaunching; zero fields take the defaults.
	Supervision Supervision
	// Metrics counts the plugin's launches, exits and relaunches and times
	// a backend's calls (NewMetrics); nil keeps no metrics.
	Metrics *Metrics
}

// Supervision tunes how a plugin is watched and relaunched.
type Supervision struct {
	// PollInterval is how often the plugin process is checked for having
	// exited. Default 100ms.
	PollInterval time.Duration
	// InitialBackoff is the wait before the first relaunch after a crash; it
	// doubles after each failed relaunch or quick crash. Default 100ms.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait between relaunches. Default 15s.
	MaxBackoff time.Duration
	// StableAfter is how long a plugin must stay up for the backoff to start
	// again from InitialBackoff after its next crash. Default 1m.
	StableAfter time.Duration
	// StartTimeout bounds starting the process and its Info and Configure
	// calls. Default 30s.
	StartTimeout time.Duration
}

// Defaults of Supervision.
const (
	DefaultPollInterval   = 100 * time.Millisecond
	DefaultInitialBackoff = 100 * time.Millisecond
	DefaultMaxBackoff     = 15 * time.Second
	DefaultStableAfter    = time.Minute
	DefaultStartTimeout   = 30 * time.Second
)

func (s Supervision) withDefaults() Supervision {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&s.PollInterval, DefaultPollInterval)
	def(&s.InitialBackoff, DefaultInitialBackoff)
	def(&s.MaxBackoff, DefaultMaxBackoff)
	def(&s.StableAfter, DefaultStableAfter)
	def(&s.StartTimeout, DefaultStartTimeout)
	if s.MaxBackoff < s.InitialBackoff {
		s.MaxBackoff = s.InitialBackoff
	}
	return s
}

// validate checks what can be checked before touching the disk.
func (c Config) validate() error {
	if c.Name == "" {
		return fmt.Errorf("backend plugin: the plugin has no name; give its block a name, e.g. plugin %q {}", "libvirt")
	}
	if _, err := ParseChecksum(c.Checksum); err != nil {
		return fmt.Errorf("plugin %q: %w", c.Name, err)
	}
	return nil
}
