package webhook

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// Defaults of the plugin's config block.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultMaxRetries = 3
	DefaultBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
	// MaxMaxRetries bounds max_retries.
	MaxMaxRetries = 10
)

// reservedHeaders are set by the sink; the headers attribute may not set
// them.
var reservedHeaders = []string{"Content-Type", "Content-Length", "Content-Encoding", "Host", "Transfer-Encoding", SignatureHeader}

// Config is the plugin's `config {}` block.
type Config struct {
	// URL receives the batches as JSON POSTs; an http or https URL,
	// required.
	URL string `json:"url"`
	// Timeout bounds one POST, answer included, as a Go duration; "10s" by
	// default.
	Timeout string `json:"timeout"`
	// Headers are added to every request, e.g. Authorization; they may not
	// set Content-Type, Content-Length, Content-Encoding, Host,
	// Transfer-Encoding or X-Quantix-Signature.
	Headers map[string]string `json:"headers"`
	// Secret, when set, signs every request: the X-Quantix-Signature
	// header is "sha256=" and the hex HMAC-SHA256 of the body keyed with
	// Secret.
	Secret string `json:"secret"`
	// MaxRetries is how many times a POST that failed for a reason that
	// may pass (a timeout, no connection, an answer 5xx, 408 or 429) is
	// sent again within one Write before its entries are answered
	// retryable; 0 to 10, 3 by default.
	MaxRetries int `json:"max_retries"`
	// Backoff is the wait before the first retry, as a Go duration,
	// doubled before each next one up to MaxBackoff; "500ms" by default.
	Backoff string `json:"backoff"`
	// MaxBackoff caps the wait between two tries, a Retry-After answer
	// included, as a Go duration; "10s" by default.
	MaxBackoff string `json:"max_backoff"`
}

// DefaultConfig returns the configuration used for attributes not set.
func DefaultConfig() Config {
	return Config{
		Timeout:    DefaultTimeout.String(),
		MaxRetries: DefaultMaxRetries,
		Backoff:    DefaultBackoff.String(),
		MaxBackoff: DefaultMaxBackoff.String(),
	}
}

// settings is a checked Config.
type settings struct {
	url        string
	timeout    time.Duration
	headers    http.Header
	secret     []byte
	maxRetries int
	backoff    time.Duration
	maxBackoff time.Duration
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
	s := settings{secret: []byte(cfg.Secret), maxRetries: cfg.MaxRetries, headers: http.Header{}}
	if cfg.URL == "" {
		return settings{}, Config{}, plugin.InvalidArgument("url", "config: attribute \"url\" is required: where to POST the entries")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return settings{}, Config{}, plugin.InvalidArgument("url", "config: attribute \"url\" is %q, want an http or https URL", cfg.URL)
	}
	s.url = u.String()
	durations := []struct {
		attr string
		v    string
		dst  *time.Duration
	}{
		{"timeout", cfg.Timeout, &s.timeout},
		{"backoff", cfg.Backoff, &s.backoff},
		{"max_backoff", cfg.MaxBackoff, &s.maxBackoff},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(d.v)
		if err != nil || v <= 0 {
			return settings{}, Config{}, plugin.InvalidArgument(d.attr, "config: attribute %q is %q, want a positive duration such as \"500ms\"", d.attr, d.v)
		}
		*d.dst = v
	}
	if s.maxBackoff < s.backoff {
		return settings{}, Config{}, plugin.InvalidArgument("max_backoff", "config: attribute \"max_backoff\" (%s) is less than backoff (%s)", s.maxBackoff, s.backoff)
	}
	if cfg.MaxRetries < 0 || cfg.MaxRetries > MaxMaxRetries {
		return settings{}, Config{}, plugin.InvalidArgument("max_retries", "config: attribute \"max_retries\" is %d, want 0 to %d", cfg.MaxRetries, MaxMaxRetries)
	}
	for name, value := range cfg.Headers {
		attr := "headers." + name
		if !validHeaderName(name) {
			return settings{}, Config{}, plugin.InvalidArgument(attr, "config: attribute \"headers\": %q is not a valid header name", name)
		}
		if slices.ContainsFunc(reservedHeaders, func(r string) bool { return strings.EqualFold(r, name) }) {
			return settings{}, Config{}, plugin.InvalidArgument(attr, "config: attribute \"headers\": %s is set by the sink and may not be configured", http.CanonicalHeaderKey(name))
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return settings{}, Config{}, plugin.InvalidArgument(attr, "config: attribute \"headers\": the value of %s may not hold line breaks or NUL", name)
		}
		s.headers.Set(name, value)
	}
	return s, cfg, nil
}

// validHeaderName reports whether name is an HTTP token (RFC 9110 section
// 5.6.2).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
