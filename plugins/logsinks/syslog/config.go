package syslog

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// Networks the network attribute accepts.
const (
	// NetworkUDP sends one datagram per message.
	NetworkUDP = "udp"
	// NetworkTCP sends messages on a stream with octet-counting framing
	// (RFC 6587 section 3.4.1).
	NetworkTCP = "tcp"
	// NetworkUnix sends one datagram per message on a unix datagram
	// socket, such as /dev/log.
	NetworkUnix = "unix"
)

// Defaults of the plugin's config block.
const (
	DefaultNetwork  = NetworkUDP
	DefaultFacility = "local0"
	DefaultAppName  = "quantix"
	DefaultTimeout  = 10 * time.Second
	// DefaultPort is used when a udp or tcp address has none.
	DefaultPort = "514"
	// DefaultSocket is the unix address when none is set.
	DefaultSocket = "/dev/log"
)

// RFC 5424 limits of header fields.
const (
	maxHostname = 255
	maxAppName  = 48
)

// facilities maps facility names to their codes (RFC 5424 section 6.2.1).
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// Config is the plugin's `config {}` block.
type Config struct {
	// Network is how messages travel: "udp" (the default), "tcp" or
	// "unix" (a unix datagram socket).
	Network string `json:"network"`
	// Address is host:port for udp and tcp (port 514 when it has none,
	// required) and the socket path for unix ("/dev/log" by default).
	Address string `json:"address"`
	// Facility is the syslog facility of every message: kern, user, mail,
	// daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp or local0
	// to local7; "local0" by default.
	Facility string `json:"facility"`
	// Hostname is the HOSTNAME of every message, printable ASCII without
	// spaces, at most 255 characters; this machine's name by default.
	Hostname string `json:"hostname"`
	// AppName is the APP-NAME of every message, printable ASCII without
	// spaces, at most 48 characters; "quantix" by default.
	AppName string `json:"app_name"`
	// Timeout bounds connecting and sending one batch, as a Go duration;
	// "10s" by default.
	Timeout string `json:"timeout"`
}

// DefaultConfig returns the configuration used for attributes not set. The
// hostname is left empty: it is this machine's when the config sets none.
func DefaultConfig() Config {
	return Config{Network: DefaultNetwork, Facility: DefaultFacility, AppName: DefaultAppName, Timeout: DefaultTimeout.String()}
}

// settings is a checked Config.
type settings struct {
	network  string // as net.Dial takes it: udp, tcp or unixgram
	address  string
	facility int
	hostname string
	appName  string
	timeout  time.Duration
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
	var s settings
	switch cfg.Network {
	case NetworkUDP, NetworkTCP:
		s.network = cfg.Network
		if strings.TrimSpace(cfg.Address) == "" {
			return settings{}, Config{}, plugin.InvalidArgument("address", "config: attribute \"address\" is required for network %q: the syslog server as host:port", cfg.Network)
		}
		if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
			if strings.Count(cfg.Address, ":") > 1 && !strings.HasPrefix(cfg.Address, "[") {
				return settings{}, Config{}, plugin.InvalidArgument("address", "config: attribute \"address\" %q: write an IPv6 address as [addr]:port", cfg.Address)
			}
			cfg.Address = net.JoinHostPort(strings.Trim(cfg.Address, "[]"), DefaultPort)
		}
		s.address = cfg.Address
	case NetworkUnix:
		s.network = "unixgram"
		if cfg.Address == "" {
			cfg.Address = DefaultSocket
		}
		if !filepath.IsAbs(cfg.Address) {
			return settings{}, Config{}, plugin.InvalidArgument("address", "config: attribute \"address\" must be the absolute path of a unix datagram socket, not %q", cfg.Address)
		}
		s.address = cfg.Address
	default:
		return settings{}, Config{}, plugin.InvalidArgument("network", "config: attribute \"network\" is %q, want udp, tcp or unix", cfg.Network)
	}
	code, ok := facilities[cfg.Facility]
	if !ok {
		names := make([]string, 0, len(facilities))
		for n := range facilities {
			names = append(names, n)
		}
		slices.SortFunc(names, func(a, b string) int { return facilities[a] - facilities[b] })
		return settings{}, Config{}, plugin.InvalidArgument("facility", "config: attribute \"facility\" is %q, want one of %s", cfg.Facility, strings.Join(names, ", "))
	}
	s.facility = code
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return settings{}, Config{}, plugin.InvalidArgument("hostname", "config: attribute \"hostname\" is not set and this machine's name is unknown (%v); set it", err)
		}
		cfg.Hostname = h
	}
	if err := headerField("hostname", cfg.Hostname, maxHostname); err != nil {
		return settings{}, Config{}, err
	}
	if err := headerField("app_name", cfg.AppName, maxAppName); err != nil {
		return settings{}, Config{}, err
	}
	s.hostname, s.appName = cfg.Hostname, cfg.AppName
	d, err := time.ParseDuration(cfg.Timeout)
	if err != nil || d <= 0 {
		return settings{}, Config{}, plugin.InvalidArgument("timeout", "config: attribute \"timeout\" is %q, want a positive duration such as \"10s\"", cfg.Timeout)
	}
	s.timeout = d
	return s, cfg, nil
}

// headerField checks a HOSTNAME or APP-NAME: 1 to max printable US-ASCII
// characters (RFC 5424 PRINTUSASCII, no space), and not the NILVALUE "-".
func headerField(attr, v string, maxLen int) error {
	if v == "" || v == "-" || len(v) > maxLen {
		return plugin.InvalidArgument(attr, "config: attribute %q is %q, want 1 to %d printable ASCII characters", attr, v, maxLen)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 33 || v[i] > 126 {
			return plugin.InvalidArgument(attr, "config: attribute %q is %q, want printable ASCII without spaces", attr, v)
		}
	}
	return nil
}
