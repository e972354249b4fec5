package sim

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Defaults of the plugin's config block.
const (
	// DefaultCPUs is the number of CPUs HostInfo reports by default.
	DefaultCPUs = 16
	// DefaultMemoryMiB is the host memory HostInfo reports by default.
	DefaultMemoryMiB = 65536
	// DefaultSeed seeds the choices made when VMs are pre-populated.
	DefaultSeed = 1
)

// Values of VMsConfig.State besides the single power states.
const (
	// PopulateMixed gives pre-populated VMs a deterministic mix of states:
	// about 70% running, 20% stopped, 5% paused and 5% crashed.
	PopulateMixed = "mixed"
)

// populateStates are the single states VMsConfig.State accepts, in any case.
var populateStates = []backend.PowerState{
	backend.StateRunning, backend.StateStopped, backend.StatePaused,
	backend.StateCrashed, backend.StateSuspended,
}

// Config is the plugin's `config {}` block. Every attribute is optional.
type Config struct {
	// Hostname is the name HostInfo reports and the seed of the UUIDs of
	// pre-populated VMs. Default: the machine's hostname.
	Hostname string `json:"hostname"`
	// CPUs and MemoryMiB are the host's size as HostInfo reports it.
	CPUs      int    `json:"cpus"`
	MemoryMiB uint64 `json:"memory_mib"`
	// VMs pre-populates the host; by default it starts empty.
	VMs VMsConfig `json:"vms"`
	// Seed makes the pre-populated VMs' states and sizes reproducible: the
	// same seed and hostname give the same host.
	Seed int64 `json:"seed"`
	// LogDir holds each VM's log, <log_dir>/<name>.log, which TailLog and
	// StreamLog read. Default: a temporary directory removed by Close.
	LogDir string `json:"log_dir"`
	// LogEvents appends a line to a VM's log at each of its state changes,
	// as QEMU does at start and stop. Default true.
	LogEvents *bool `json:"log_events,omitempty"`
	// StateFile, when set, keeps the inventory across restarts: it is read
	// by the first Configure (instead of pre-populating) and rewritten after
	// every change, so that a relaunched plugin process finds the VMs it
	// had. Every change then costs a write of the whole inventory.
	StateFile string `json:"state_file"`
	// Latency delays every Backend call but Info, Configure, Health,
	// WatchEvents and the scripting methods, as a Go duration ("0s" by
	// default).
	Latency string `json:"latency"`
	// ControlSocket, when set, is the absolute path of a unix socket on
	// which the plugin process takes scripting requests from other
	// processes (see ControlRequest). Default: none.
	ControlSocket string `json:"control_socket"`
}

// VMsConfig pre-populates a host with VMs named <prefix>-<i>, i from 0 to
// Count-1, whose UUIDs derive from the hostname and i (see PopulatedID).
type VMsConfig struct {
	// Count is the number of VMs.
	Count int `json:"count"`
	// Prefix starts their names. Default: the hostname.
	Prefix string `json:"prefix"`
	// State is "mixed" (default) or one power state for all of them:
	// "running", "stopped", "paused", "crashed" or "suspended".
	State string `json:"state"`
	// Managed marks them as created through Quantix. Default false: they
	// are foreign VMs, as on a host Quantix has just been pointed at.
	Managed bool `json:"managed"`
}

// settings is a validated Config with its values resolved.
type settings struct {
	cfg       Config
	hostname  string
	logDir    string
	logEvents bool
	stateFile string
	control   string
	latency   time.Duration
	prefix    string
	// state is "" for a mixed population.
	state backend.PowerState
}

// DefaultConfig returns the configuration used for attributes not set,
// except LogDir, which is a fresh temporary directory when left empty.
func DefaultConfig() Config {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "sim"
	}
	return Config{
		Hostname:  host,
		CPUs:      DefaultCPUs,
		MemoryMiB: DefaultMemoryMiB,
		VMs:       VMsConfig{State: PopulateMixed},
		Seed:      DefaultSeed,
		Latency:   "0s",
	}
}

// ParseConfig decodes a config block over the defaults and validates it.
// Errors are invalid-argument errors naming the attribute.
func ParseConfig(raw []byte) (Config, error) {
	s, err := parseSettings(raw)
	if err != nil {
		return Config{}, err
	}
	return s.cfg, nil
}

// parseSettings decodes, validates and resolves a config block.
func parseSettings(raw []byte) (*settings, error) {
	cfg := DefaultConfig()
	if err := plugin.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	return cfg.resolve()
}

// Settings returns the config as the settings map of a plugin block, for
// pluginhost.InProcess and pluginhost.Config.Settings. Zero attributes are
// left out, so they take their defaults.
func (c Config) Settings() map[string]any {
	out := map[string]any{}
	set := func(k string, v any, zero bool) {
		if !zero {
			out[k] = v
		}
	}
	set("hostname", c.Hostname, c.Hostname == "")
	set("cpus", c.CPUs, c.CPUs == 0)
	set("memory_mib", c.MemoryMiB, c.MemoryMiB == 0)
	set("seed", c.Seed, c.Seed == 0)
	set("log_dir", c.LogDir, c.LogDir == "")
	set("latency", c.Latency, c.Latency == "")
	set("state_file", c.StateFile, c.StateFile == "")
	set("control_socket", c.ControlSocket, c.ControlSocket == "")
	if c.LogEvents != nil {
		out["log_events"] = *c.LogEvents
	}
	vms := map[string]any{}
	if c.VMs.Count != 0 {
		vms["count"] = c.VMs.Count
	}
	if c.VMs.Prefix != "" {
		vms["prefix"] = c.VMs.Prefix
	}
	if c.VMs.State != "" {
		vms["state"] = c.VMs.State
	}
	if c.VMs.Managed {
		vms["managed"] = true
	}
	if len(vms) > 0 {
		out["vms"] = vms
	}
	return out
}

// resolve validates c and resolves its values.
func (c Config) resolve() (*settings, error) {
	s := &settings{cfg: c, hostname: strings.TrimSpace(c.Hostname), logEvents: c.LogEvents == nil || *c.LogEvents}
	if s.hostname == "" || strings.ContainsAny(s.hostname, " \t\r\n/") {
		return nil, plugin.InvalidArgument("hostname", "config: attribute \"hostname\" is %q, want a host name without spaces or slashes", c.Hostname)
	}
	if c.CPUs < 1 {
		return nil, plugin.InvalidArgument("cpus", "config: attribute \"cpus\" is %d, want at least 1", c.CPUs)
	}
	if c.MemoryMiB < 1 {
		return nil, plugin.InvalidArgument("memory_mib", "config: attribute \"memory_mib\" is 0, want the host's memory in MiB")
	}
	d, err := time.ParseDuration(c.Latency)
	if err != nil || d < 0 {
		return nil, plugin.InvalidArgument("latency", "config: attribute \"latency\" is %q, want a duration such as \"0s\" or \"2ms\"", c.Latency)
	}
	s.latency = d
	if c.LogDir != "" {
		if !filepath.IsAbs(c.LogDir) {
			return nil, plugin.InvalidArgument("log_dir", "config: attribute \"log_dir\" must be an absolute path, not %q", c.LogDir)
		}
		s.logDir = filepath.Clean(c.LogDir)
	}
	if c.StateFile != "" {
		if !filepath.IsAbs(c.StateFile) {
			return nil, plugin.InvalidArgument("state_file", "config: attribute \"state_file\" must be an absolute path, not %q", c.StateFile)
		}
		s.stateFile = filepath.Clean(c.StateFile)
	}
	if c.ControlSocket != "" {
		if !filepath.IsAbs(c.ControlSocket) {
			return nil, plugin.InvalidArgument("control_socket", "config: attribute \"control_socket\" must be an absolute path, not %q", c.ControlSocket)
		}
		s.control = filepath.Clean(c.ControlSocket)
	}
	if err := s.resolveVMs(c.VMs); err != nil {
		return nil, err
	}
	return s, nil
}

// resolveVMs validates the vms block.
func (s *settings) resolveVMs(v VMsConfig) error {
	if v.Count < 0 {
		return plugin.InvalidArgument("vms.count", "config: attribute \"vms.count\" is %d, want 0 or more", v.Count)
	}
	switch st := strings.ToUpper(v.State); {
	case v.State == "" || strings.EqualFold(v.State, PopulateMixed):
	case slices.Contains(populateStates, backend.PowerState(st)):
		s.state = backend.PowerState(st)
	default:
		return plugin.InvalidArgument("vms.state", "config: attribute \"vms.state\" is %q, want mixed, running, stopped, paused, crashed or suspended", v.State)
	}
	s.prefix = v.Prefix
	if s.prefix == "" {
		s.prefix = s.hostname
	}
	if v.Count > 0 {
		last := populatedName(s.prefix, v.Count-1)
		if err := backend.ValidateName("vms.prefix", last); err != nil {
			return plugin.InvalidArgument("vms.prefix", "config: attribute \"vms.prefix\" %q gives VM names such as %q that are not valid: %s", s.prefix, last, err)
		}
	}
	return nil
}

// samePopulation reports whether two configs pre-populate the same VMs.
func (s *settings) samePopulation(o *settings) bool {
	return s.hostname == o.hostname && s.prefix == o.prefix && s.state == o.state && s.stateFile == o.stateFile && s.control == o.control &&
		s.cfg.VMs.Count == o.cfg.VMs.Count && s.cfg.VMs.Managed == o.cfg.VMs.Managed && s.cfg.Seed == o.cfg.Seed
}
