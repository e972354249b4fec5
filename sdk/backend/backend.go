// Package backend is what a Quantix hypervisor backend plugin implements and
// what the node agent calls: the Backend interface and its types, Serve for a
// plugin's main, and the gRPC client and server that carry it over go-plugin.
//
// A plugin's main is one line:
//
//	func main() { backend.Serve(mybackend.New()) }
//
// Errors returned by a Backend should be built with the sdk/plugin helpers
// (plugin.NotFound, plugin.InvalidArgument, plugin.Conflict,
// plugin.Unavailable) so that their kind survives the wire.
package backend

import (
	"context"
	"io"

	"github.com/quantixvm/quantix/sdk/plugin"
)

// APIVersion is the backend API version this SDK speaks.
// Version 2 adds direct kernel boot (VMSpec.Kernel, Initrd, Cmdline), the
// Console service and the Stats service; a plugin that negotiates 1 still
// works, without them.
const APIVersion = 2

// APIVersions lists every backend API version this SDK can serve.
var APIVersions = []int{1, APIVersion}

// MaxTailLines bounds TailLog's n.
const MaxTailLines = 100000

// Capabilities a backend may announce in its Info.
const (
	// CapEvents: WatchEvents delivers lifecycle events as they happen.
	CapEvents = "events"
	// CapLogs: TailLog and StreamLog read the VM's hypervisor log.
	CapLogs = "logs"
	// CapPause: PauseVM and ResumeVM are supported.
	CapPause = "pause"
	// CapDisks: CreateVM provisions disks.
	CapDisks = "disks"
	// CapConsole: the backend is a ConsoleOpener (API version 2). Serve
	// announces it on its own when the implementation has the interface.
	CapConsole = "console"
	// CapKernelBoot: CreateVM honours VMSpec.Kernel, Initrd and Cmdline
	// (direct kernel boot; API version 2 and later).
	CapKernelBoot = "kernel-boot"
)

// Backend drives one hypervisor host. Every method is safe for concurrent use.
type Backend interface {
	// Info says what the backend is; Configure takes its config block, before
	// any other operation but Info and again after every relaunch (the
	// contracts of plugin.Describer and plugin.Configurer).
	plugin.Base
	Inventory
	Provisioner
	PowerController
	LogReader
	EventWatcher
}

// Inventory reads what the host runs.
type Inventory interface {
	HostInfo(ctx context.Context) (*HostInfo, error)
	// ListVMs returns every VM on the host, Quantix's own and foreign ones.
	ListVMs(ctx context.Context) ([]*VM, error)
	// GetVM returns one VM by id; plugin.ErrNotFound when absent.
	GetVM(ctx context.Context, id string) (*VM, error)
}

// Provisioner creates and removes VMs.
type Provisioner interface {
	// CreateVM defines a stopped VM. A name in use is a conflict. On any error
	// nothing of the VM is left on the host.
	CreateVM(ctx context.Context, spec VMSpec) (*VM, error)
	// DeleteVM removes a stopped VM; a running one is a conflict unless
	// opts.Force. Deleting a VM that does not exist succeeds.
	DeleteVM(ctx context.Context, id string, opts DeleteOptions) error
}

// PowerController changes power states. Asking for the state a VM is already
// in succeeds and changes nothing; a transition that cannot happen from the
// current state is a conflict naming the state.
type PowerController interface {
	StartVM(ctx context.Context, id string) (*VM, error)
	StopVM(ctx context.Context, id string, opts StopOptions) (*VM, error)
	RebootVM(ctx context.Context, id string) (*VM, error)
	PauseVM(ctx context.Context, id string) (*VM, error)
	ResumeVM(ctx context.Context, id string) (*VM, error)
}

// LogReader reads a VM's hypervisor log (the QEMU log for libvirt).
type LogReader interface {
	// TailLog returns the last n lines, 1 <= n <= MaxTailLines; other values
	// are invalid-argument errors naming "lines". A log that does not exist
	// yet is an empty tail with Exists false, not an error.
	TailLog(ctx context.Context, id string, n int) (*LogTail, error)
	// StreamLog follows the log from offset (negative: from the end), calling
	// fn for each line until ctx ends (returning nil) or fn returns an error
	// (returned as is). A log that does not exist yet is waited for. It keeps
	// following across truncation and rotation, marking the first line read
	// after either with Reopened. It ends with a not-found error once the VM
	// is deleted, after handing on the lines written before; a line written
	// after (by a new VM of the same name, which has another id, when the log
	// is named after the VM) is never handed on for this id.
	// logfile.FollowVM does all of this for a log file.
	StreamLog(ctx context.Context, id string, offset int64, fn func(LogLine) error) error
}

// LogResumer is an optional interface of a LogReader that resumes a log by
// the file an offset counts in. StreamLogFrom follows the log as StreamLog
// does from from.Offset, when from.File is empty or the file the log is now.
// When the log was rotated away from from.File, it hands on the rest of
// that file from from.Offset first, if the file is still there, then the
// files the log was rotated to after it, then the log as it is now, each
// from its start and its first line marked Reopened; when from.File is gone,
// the log as it is now from its start, its first line marked Reopened. No
// line is lost or handed on twice by a rotation while nobody followed.
// logfile.FollowVM does this for a log file.
type LogResumer interface {
	StreamLogFrom(ctx context.Context, id string, from LogPosition, fn func(LogLine) error) error
}

// EventWatcher streams lifecycle events.
type EventWatcher interface {
	// WatchEvents calls fn for each event until ctx ends (returning nil) or
	// fn returns an error. A backend that loses events (its hypervisor
	// connection dropped) sends an EventResync once it is back.
	WatchEvents(ctx context.Context, fn func(Event) error) error
}

// Closer is an optional interface: Serve calls Close when the plugin shuts
// down, and in-process hosts call it on shutdown.
type Closer interface {
	Close() error
}

// HealthChecker is an optional interface reporting whether the backend can
// reach its hypervisor right now.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// ConsoleOpener is an optional interface (API version 2, announced as
// CapConsole): it opens a VM's serial console.
//
// OpenConsole attaches to the serial console of VM id and returns it as a
// bidirectional byte stream: what is written goes to the guest's serial
// port, Read returns what the guest writes. ctx bounds the opening only; the
// console lives until it ends or is closed. Read returns io.EOF once the
// console ends on the host's side: the VM stopped or was deleted, or the
// hypervisor took the console away (another client forced it open), after
// handing on what the guest wrote before. Close releases the console and
// everything it holds (streams, goroutines) before it returns, unblocks a
// Read or Write in progress, and may be called more than once; Read and
// Write may run concurrently, each from one goroutine.
//
// Errors are plugin errors: plugin.NotFound when there is no VM id,
// plugin.Conflict when the VM is not running (naming its state),
// plugin.Unsupported when this host cannot give a console (no serial
// port), plugin.Unavailable when the hypervisor cannot be reached. A
// backend may allow one console per VM: opening a second one ends the first
// (its Read returns io.EOF), as the newest client wins.
type ConsoleOpener interface {
	OpenConsole(ctx context.Context, id string) (io.ReadWriteCloser, error)
}
