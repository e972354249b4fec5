package backendtest

import (
	"io"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
)

// Default timeouts, used when the matching Harness field is zero.
const (
	// DefaultOpTimeout bounds one Backend call.
	DefaultOpTimeout = 60 * time.Second
	// DefaultEventTimeout is how long the suite waits for an event or a
	// followed log line to arrive.
	DefaultEventTimeout = 10 * time.Second
	// DefaultGracefulStopTimeout is the timeout the suite passes to a
	// graceful StopVM.
	DefaultGracefulStopTimeout = 2 * time.Second
	// DefaultGracefulStopSlack is how much longer than its timeout a
	// graceful StopVM may take before the suite calls it a failure.
	DefaultGracefulStopSlack = 15 * time.Second
	// DefaultNamePrefix starts the name of every VM the suite creates.
	DefaultNamePrefix = "qx-conf-"
)

// Harness tells the suite how to reach and drive the backend under test.
// Backend and Spec are required; LogPath is required when the backend
// announces the "logs" capability. Zero durations take the defaults above.
type Harness struct {
	// Backend returns the Backend under test, already configured (Configure
	// called with a working config). Run calls it once and serves the result
	// over go-plugin's gRPC transport (see Serve), so every call of the suite
	// crosses the wire. A Backend that is already a *backend.GRPCClient (a
	// plugin the caller launched out of process) is used as is; the checks
	// that the plugin side of a cancelled stream returns are then skipped.
	// Close the Backend, if it needs closing, in a t.Cleanup registered here:
	// the suite does not.
	Backend func(t *testing.T) backend.Backend

	// Spec returns a minimal spec the backend accepts, named name; the suite
	// chooses unique names that start with NamePrefix. The spec should boot
	// on the backend's hypervisor (a guest that cannot boot is fine as long as
	// the hypervisor reports it RUNNING after StartVM). The suite changes
	// single fields of it (vcpus, memory, name, NICs, boot list, disks) to
	// build invalid specs and specs with disks.
	Spec func(name string) backend.VMSpec

	// LogPath returns the path of the hypervisor log file that TailLog and
	// StreamLog read for vm (for libvirt: <qemu log dir>/<name>.log). The
	// suite creates, appends to, truncates, rotates (renames to LogPath+".1")
	// and removes that file for VMs it never starts, and puts back or removes
	// every file it touched when the subtest ends. Required when the backend
	// announces backend.CapLogs: nil then fails the log subtests.
	LogPath func(vm *backend.VM) string

	// Relaunch ends the plugin under test the way its process ends when it
	// crashes or is upgraded, leaving the VMs it runs on the host, and
	// starts it again configured as before. It returns the new Backend,
	// which the suite uses (served over gRPC as Backend's is) for every
	// subtest after Relaunch. For a plugin linked into the test: Close the
	// Backend and make a new one; for a plugin process: end the process
	// and launch a new one. t is the test Run was given: register the new
	// Backend's cleanup on it. Relaunch runs in a subtest's goroutine, so
	// it reports a failure by returning an error, not through t. Required
	// unless CannotRelaunch is set.
	Relaunch func(t *testing.T) (backend.Backend, error)

	// CannotRelaunch says why the backend under test cannot find its VMs
	// again after a relaunch (nothing outside its plugin process keeps
	// them); the Relaunch subtest is then skipped with that reason. A
	// backend that stands in for real hosts should keep its VMs instead.
	CannotRelaunch string

	// Crash makes the hypervisor process of the running VM vm die behind the
	// backend's back, as when it crashes on its own (for QEMU: SIGKILL to
	// the VM's QEMU process). The Crash subtest then waits for the backend
	// to report the VM CRASHED, with a state_changed event. nil skips that
	// subtest, saying so.
	Crash func(t *testing.T, vm *backend.VM) error

	// Config describes the backend's config block for the Config subtest,
	// which checks that bad attributes are refused with invalid-argument
	// errors naming them. nil skips that subtest, saying so.
	Config *ConfigCheck

	// NamePrefix starts every VM name the suite creates; DefaultNamePrefix
	// when empty. At most 20 characters of [A-Za-z0-9._-].
	NamePrefix string

	// OpTimeout bounds every single Backend call; DefaultOpTimeout when zero.
	OpTimeout time.Duration

	// EventTimeout is how long the suite waits for an expected event or
	// followed log line; DefaultEventTimeout when zero.
	EventTimeout time.Duration

	// GracefulStopTimeout is the timeout of the graceful StopVM the suite
	// asks for (the backend destroys the VM when it passes);
	// DefaultGracefulStopTimeout when zero.
	GracefulStopTimeout time.Duration

	// GracefulStopSlack is how much longer than GracefulStopTimeout a
	// graceful StopVM may take; DefaultGracefulStopSlack when zero.
	GracefulStopSlack time.Duration

	// ConsoleExchange, when set, checks a VM's open console (a backend
	// announcing backend.CapConsole): it writes to c and reads back what
	// the backend's guest answers (for a simulated guest that echoes, the
	// bytes written), failing t when the answer is wrong. Nil only checks
	// that a write is taken, for a guest that may say nothing (a
	// firmware-only VM). It must not close c.
	ConsoleExchange func(t *testing.T, c io.ReadWriter)

	// Sequential runs the subtests one after the other instead of in
	// parallel. Leave it false unless the backend under test cannot run
	// several VMs at once.
	Sequential bool
}

func (h Harness) opTimeout() time.Duration {
	return orDefault(h.OpTimeout, DefaultOpTimeout)
}

func (h Harness) eventTimeout() time.Duration {
	return orDefault(h.EventTimeout, DefaultEventTimeout)
}

func (h Harness) gracefulStopTimeout() time.Duration {
	return orDefault(h.GracefulStopTimeout, DefaultGracefulStopTimeout)
}

func (h Harness) gracefulStopSlack() time.Duration {
	return orDefault(h.GracefulStopSlack, DefaultGracefulStopSlack)
}

func (h Harness) namePrefix() string {
	if h.NamePrefix == "" {
		return DefaultNamePrefix
	}
	return h.NamePrefix
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// ConfigCheck is what the Config subtest needs to configure a fresh backend
// with bad config blocks.
type ConfigCheck struct {
	// New returns a Backend of the kind under test that is not configured
	// yet. The subtest serves it over gRPC like Backend's and calls
	// Configure on it, with every block of Invalid, with Valid plus an
	// unknown attribute, and last with Valid. Close it, if it needs
	// closing, in a t.Cleanup registered here. Required.
	New func(t *testing.T) backend.Backend

	// Valid is a config block the backend accepts (the object the plugin's
	// `config {}` block becomes, as in plugin.EncodeConfig). After the
	// refusals, Configure with Valid must succeed: a refused config leaves
	// the backend configurable.
	Valid map[string]any

	// Invalid lists config blocks that are each wrong in one attribute.
	Invalid []BadConfig
}

// BadConfig is a config block wrong in one attribute.
type BadConfig struct {
	// Config is the whole block.
	Config map[string]any
	// Attribute is the wrong attribute, as the error must name it: its
	// field (plugin.FieldOf) and a part of its message. Attributes of
	// nested blocks are joined with dots, "vms.count".
	Attribute string
}
