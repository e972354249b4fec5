// Package libvirt is Quantix's default hypervisor backend: it drives QEMU/KVM
// (or libvirt's test driver) through libvirt. VMs it creates carry a Quantix
// metadata element; every other domain on the host is listed as foreign.
package libvirt

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/backend/eventhub"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// Name is the plugin's short name.
const Name = "libvirt"

// Version is the plugin's release version, set at build time with
// -ldflags "-X github.com/quantixvm/quantix/plugins/libvirt.Version=...".
var Version = "dev"

var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.Closer        = (*Backend)(nil)
	_ backend.HealthChecker = (*Backend)(nil)
)

// Backend drives one host through libvirt. Create it with New; it is safe for
// concurrent use once configured.
type Backend struct {
	log    hclog.Logger
	hub    *eventhub.Hub
	events *dispatcher
	locks  *keyedMutex
	parsed *parseCache
	// pollInterval is how often a graceful stop checks the VM's state.
	pollInterval time.Duration

	mu     sync.RWMutex
	rt     *session
	closed bool
}

// session is what Configure sets up: the connection and what it resolved.
type session struct {
	cfg        Config
	conn       *connection
	domainType string
	// testDriver is true on libvirt's test driver.
	testDriver bool
	// rebootGrace is how long RebootVM waits for the guest to act on the
	// ACPI reboot request before it resets the VM.
	rebootGrace time.Duration
	kvm         bool
	arch        string
	pool        string
}

// Option tunes New.
type Option func(*Backend)

// WithLogger sets the logger; by default the backend logs JSON to stderr,
// which go-plugin relays to the host.
func WithLogger(l hclog.Logger) Option {
	return func(b *Backend) { b.log = l }
}

// New returns an unconfigured backend. It also starts libvirt's event loop,
// which must run before any connection is opened.
func New(opts ...Option) *Backend {
	b := &Backend{
		log: hclog.New(&hclog.LoggerOptions{
			Name:       "libvirt",
			Level:      hclog.Info,
			Output:     os.Stderr,
			JSONFormat: true,
		}),
		hub:          eventhub.New(eventhub.DefaultBuffer),
		parsed:       newParseCache(),
		locks:        newKeyedMutex(),
		pollInterval: 100 * time.Millisecond,
	}
	for _, o := range opts {
		o(b)
	}
	b.events = newDispatcher(b.hub)
	b.events.created = b.fillCreated
	if err := startEventLoop(); err != nil {
		b.log.Error("libvirt event loop not started", "error", err)
	}
	b.events.start()
	return b
}

// Info describes the plugin.
func (b *Backend) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{
		Name:         Name,
		Type:         plugin.TypeBackend,
		Version:      Version,
		APIVersions:  backend.APIVersions,
		Capabilities: []string{backend.CapEvents, backend.CapLogs, backend.CapPause, backend.CapDisks, backend.CapConsole, backend.CapKernelBoot},
	}, nil
}

// Configure validates the config block, opens the libvirt connection,
// resolves the domain type and makes sure the image pool exists. Calling it
// again replaces the previous connection.
func (b *Backend) Configure(ctx context.Context, raw []byte, apiVersion int) error {
	if apiVersion != 0 && !slices.Contains(backend.APIVersions, apiVersion) {
		return plugin.InvalidArgument("api_version", "configure: api version %d is not supported, want one of %v", apiVersion, backend.APIVersions)
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		return err
	}
	if err := startEventLoop(); err != nil {
		return plugin.Unavailable("configure: %w", err)
	}
	rt, err := b.setup(ctx, cfg)
	if err != nil {
		return err
	}
	b.mu.Lock()
	old := b.rt
	if b.closed {
		b.mu.Unlock()
		_ = rt.conn.close()
		return plugin.Unavailable("configure: backend is closed")
	}
	b.rt = rt
	b.mu.Unlock()
	if old != nil {
		_ = old.conn.close()
	}
	b.log.Info("configured", "config", cfg.String(), "domain_type", rt.domainType, "pool", rt.pool)
	return nil
}

func (b *Backend) setup(ctx context.Context, cfg Config) (*session, error) {
	conn, err := dial(cfg.URI, b.log, connHooks{event: b.events.push, reconnected: b.events.resync})
	if err != nil {
		// The message says what libvirt said in its own words; err stays
		// the cause.
		return nil, &plugin.Error{Kind: plugin.KindUnavailable, Message: "configure: " + lowerFirst(describe(err)) + daemonHint(cfg.URI), Err: err}
	}
	grace, _ := cfg.rebootGrace()
	rt := &session{cfg: cfg, conn: conn, rebootGrace: grace}
	if err := b.inspect(ctx, rt); err != nil {
		_ = conn.close()
		return nil, err
	}
	return rt, nil
}

// daemonHint is what to check when the connection to uri cannot be opened:
// that libvirtd runs, unless uri names the test driver, which runs in the
// plugin's own process.
func daemonHint(uri string) string {
	if strings.HasPrefix(uri, "test:") {
		return ""
	}
	return " (is libvirtd running? `make deps` installs and starts it)"
}

// inspect resolves the domain type from the host capabilities and prepares
// the storage pool.
func (b *Backend) inspect(_ context.Context, rt *session) error {
	c, release, err := rt.conn.acquire()
	if err != nil {
		return err
	}
	defer release()
	driver, err := c.GetType()
	if err != nil {
		return fmt.Errorf("configure: reading the driver type of %s: %w", rt.cfg.URI, err)
	}
	caps, err := readCaps(c)
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	rt.arch, rt.kvm, rt.testDriver = hostArch(caps), hasKVM(caps), strings.EqualFold(driver, "test")
	if rt.domainType, err = resolveDomainType(rt.cfg.DomainType, driver, rt.kvm); err != nil {
		return err
	}
	if rt.pool, err = ensurePool(c, rt.cfg.ImageDir); err != nil {
		return fmt.Errorf("configure: image_dir %s: %w", rt.cfg.ImageDir, err)
	}
	return nil
}

// resolveDomainType turns the domain_type attribute into the domain type
// new VMs get. The test driver runs only "test" domains, and only it does.
func resolveDomainType(want, driver string, kvm bool) (string, error) {
	isTest := strings.EqualFold(driver, "test")
	switch {
	case want == DomainTypeAuto && isTest:
		return "test", nil
	case want == DomainTypeAuto && kvm:
		return "kvm", nil
	case want == DomainTypeAuto:
		return "qemu", nil
	case isTest != (want == "test"):
		return "", plugin.InvalidArgument("domain_type", "config: attribute \"domain_type\" is %s but the %s driver does not run %s domains", want, driver, want)
	case want == "kvm" && !kvm:
		return "", plugin.InvalidArgument("domain_type", "config: attribute \"domain_type\" is kvm but the host offers no kvm domain")
	}
	return want, nil
}

func readCaps(c *libvirt.Connect) (*libvirtxml.Caps, error) {
	doc, err := c.GetCapabilities()
	if err != nil {
		return nil, fmt.Errorf("reading host capabilities: %w", err)
	}
	var caps libvirtxml.Caps
	if err := caps.Unmarshal(doc); err != nil {
		return nil, fmt.Errorf("parsing host capabilities: %w", err)
	}
	return &caps, nil
}

func hostArch(caps *libvirtxml.Caps) string {
	if caps.Host.CPU != nil {
		return caps.Host.CPU.Arch
	}
	return ""
}

// hasKVM reports whether the capabilities list a kvm domain for an hvm guest
// of the host's architecture.
func hasKVM(caps *libvirtxml.Caps) bool {
	arch := hostArch(caps)
	for _, g := range caps.Guests {
		if g.OSType != "hvm" || (arch != "" && g.Arch.Name != arch) {
			continue
		}
		for _, d := range g.Arch.Domains {
			if d.Type == "kvm" {
				return true
			}
		}
	}
	return false
}

// current returns the configured session.
func (b *Backend) current() (*session, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, plugin.Unavailable("backend is closed")
	}
	if b.rt == nil {
		return nil, plugin.Unavailable("backend is not configured")
	}
	return b.rt, nil
}

// withConn runs fn with a referenced live connection. Errors saying the
// connection broke make it reconnect.
func (b *Backend) withConn(fn func(rt *session, c *libvirt.Connect) error) error {
	rt, err := b.current()
	if err != nil {
		return err
	}
	c, release, err := rt.conn.acquire()
	if err != nil {
		return err
	}
	defer release()
	err = fn(rt, c)
	rt.conn.check(c, err)
	return err
}

// Health reports whether libvirtd answers right now.
func (b *Backend) Health(context.Context) error {
	return b.withConn(func(rt *session, c *libvirt.Connect) error {
		if _, err := c.GetLibVersion(); err != nil {
			return classify(err, "health: %s", rt.cfg.URI)
		}
		if _, err := c.GetHostname(); err != nil {
			return classify(err, "health: %s", rt.cfg.URI)
		}
		return nil
	})
}

// Close closes the libvirt connection and stops event delivery.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	rt := b.rt
	b.rt = nil
	b.mu.Unlock()
	b.events.stop()
	b.hub.Close()
	if rt != nil {
		return rt.conn.close()
	}
	return nil
}
