package nodeapi

import (
	"context"
	"errors"
	"io"
)

// Console is a VM's serial console as a byte stream: Write sends bytes to
// the guest's serial port, Read returns what the guest writes. Read returns
// io.EOF when the console ends: the VM stopped, the node's session ended,
// another client took the console over, or Close was called; End (when the
// implementation is a ConsoleEnder, as those of the agent server and the
// control plane are) then says why. Close ends the console and releases
// everything it holds on the server, the agent and the plugin; it may be
// called more than once and concurrently with Read and Write. Read and Write
// may run concurrently with each other, each from one goroutine.
type Console interface {
	io.ReadWriteCloser
}

// ConsoleOpener is an optional interface of an Executor: it opens the
// serial console of VM vmID (its hypervisor UUID) on node nodeID. Errors
// keep the backend's kinds (sdk/plugin): not found when the host has no
// such VM, conflict when the VM is not running, unsupported when the node's
// backend has no console (an older plugin); a node no agent serves is
// ErrNodeUnavailable. ctx bounds the opening only, not the console.
type ConsoleOpener interface {
	OpenConsole(ctx context.Context, nodeID, vmID string) (Console, error)
}

// ConsoleEndCause classifies why a console ended.
type ConsoleEndCause string

// Why a console ends.
const (
	// ConsoleClosed: the client closed it (Close on this side).
	ConsoleClosed ConsoleEndCause = "closed"
	// ConsoleVMStopped: the VM stopped (or was deleted), so its serial
	// port went away.
	ConsoleVMStopped ConsoleEndCause = "vm-stopped"
	// ConsoleTakenOver: another client opened the console with force.
	ConsoleTakenOver ConsoleEndCause = "taken-over"
	// ConsoleNodeGone: the node's agent session ended (the agent stopped,
	// lost its connection, or its backend plugin went away).
	ConsoleNodeGone ConsoleEndCause = "node-unavailable"
	// ConsoleServerShutdown: the server carrying the console is shutting
	// down.
	ConsoleServerShutdown ConsoleEndCause = "server-shutdown"
	// ConsoleFailed: anything else; the reason says what.
	ConsoleFailed ConsoleEndCause = "error"
)

// ConsoleEnd says why a console ended: a cause to act on and a reason to
// show, such as `taken over by "alice"` or `vm "web" stopped`.
type ConsoleEnd struct {
	Cause  ConsoleEndCause `json:"cause"`
	Reason string          `json:"reason"`
}

// ConsoleEnder is an optional interface of a Console: once Read has
// returned io.EOF (or Close was called), End says why the console ended;
// before, it returns the zero ConsoleEnd.
type ConsoleEnder interface {
	End() ConsoleEnd
}

// EndOf returns why console c ended: c's End when it is a ConsoleEnder,
// else a ConsoleClosed end.
func EndOf(c Console) ConsoleEnd {
	if e, ok := c.(ConsoleEnder); ok {
		if end := e.End(); end.Cause != "" {
			return end
		}
	}
	return ConsoleEnd{Cause: ConsoleClosed, Reason: "console closed"}
}

// ErrConsoleClosed is what Write returns on a console that has ended.
var ErrConsoleClosed = errors.New("console closed")
