package wire

import (
	"slices"
	"sync"

	"github.com/quantixvm/quantix/core/nodeapi"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// ConsoleChunk bounds the bytes of one console frame.
const ConsoleChunk = 32 << 10

// ConsoleQueue bounds the frames a console holds each way before its
// writer waits (see FrameConsole).
const ConsoleQueue = 16

// ConsoleErrorToProto is err, the failure to open a console, on the wire.
func ConsoleErrorToProto(err error) *agentv1.ConsoleError {
	return &agentv1.ConsoleError{Kind: plugin.KindOf(err).String(), Message: err.Error()}
}

// ConsoleErrorFromProto is the plugin error p carries, of its kind.
func ConsoleErrorFromProto(p *agentv1.ConsoleError) error {
	kind := plugin.KindInternal
	for _, k := range []plugin.Kind{plugin.KindNotFound, plugin.KindInvalidArgument, plugin.KindConflict, plugin.KindUnavailable, plugin.KindUnsupported} {
		if k.String() == p.GetKind() {
			kind = k
		}
	}
	return &plugin.Error{Kind: kind, Message: p.GetMessage()}
}

// ConsoleEndToProto and ConsoleEndFromProto carry why a console ended.
func ConsoleEndToProto(e nodeapi.ConsoleEnd) *agentv1.ConsoleEnd {
	return &agentv1.ConsoleEnd{Cause: string(e.Cause), Reason: e.Reason}
}

func ConsoleEndFromProto(p *agentv1.ConsoleEnd) nodeapi.ConsoleEnd {
	return nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleEndCause(p.GetCause()), Reason: p.GetReason()}
}

// FrameStream is one side of a call carrying ConsoleFrames.
type FrameStream interface {
	Send(*agentv1.ConsoleFrame) error
	Recv() (*agentv1.ConsoleFrame, error)
}

// FrameConsole is a nodeapi.Console over a FrameStream whose call its
// owner runs: Pump moves frames between the stream and the console's
// bounded queues (ConsoleQueue frames each way), so that a reader of the
// console that falls behind holds up this call's flow control only, and
// Close returns at once whatever the stream does. Reads return io.EOF once
// the console ended, after the data received before; End says why.
type FrameConsole struct {
	in   chan []byte // Write → the stream
	out  chan []byte // the stream → Read
	done chan struct{}
	once sync.Once

	mu  sync.Mutex
	end nodeapi.ConsoleEnd
	// onClose runs once, when the console ends.
	onClose func()

	// reader reads out until done, draining it first.
	reader *backend.ChanReader
}

var (
	_ nodeapi.Console      = (*FrameConsole)(nil)
	_ nodeapi.ConsoleEnder = (*FrameConsole)(nil)
)

// NewFrameConsole returns a console whose frames Pump carries; onClose,
// when set, runs once when the console ends, however it ends.
func NewFrameConsole(onClose func()) *FrameConsole {
	c := &FrameConsole{
		in:      make(chan []byte, ConsoleQueue),
		out:     make(chan []byte, ConsoleQueue),
		done:    make(chan struct{}),
		onClose: onClose,
	}
	c.reader = backend.NewChanReader(c.out, c.done)
	return c
}

// Finish ends the console for why, unless it ended already; the first end
// sticks.
func (c *FrameConsole) Finish(why nodeapi.ConsoleEnd) {
	c.mu.Lock()
	if c.end.Cause == "" {
		c.end = why
	}
	c.mu.Unlock()
	c.once.Do(func() {
		close(c.done)
		if c.onClose != nil {
			c.onClose()
		}
	})
}

// Done closes when the console ended.
func (c *FrameConsole) Done() <-chan struct{} { return c.done }

// End says why the console ended; zero while it runs.
func (c *FrameConsole) End() nodeapi.ConsoleEnd {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.end
}

// Read returns console bytes; io.EOF once the console ended and what came
// before was read.
func (c *FrameConsole) Read(p []byte) (int, error) { return c.reader.Read(p) }

// Write queues p for the stream, in frames of at most ConsoleChunk bytes;
// it waits while the queue is full, and fails once the console ended.
func (c *FrameConsole) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), ConsoleChunk)
		select {
		case <-c.done:
			return written, nodeapi.ErrConsoleClosed
		default:
		}
		select {
		case c.in <- slices.Clone(p[:n]):
		case <-c.done:
			return written, nodeapi.ErrConsoleClosed
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// Close ends the console as closed by its client.
func (c *FrameConsole) Close() error {
	c.Finish(nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleClosed, Reason: "console closed by its client"})
	return nil
}

// SendLoop sends what Write queued until the console ends or Send fails;
// a failed Send ends the console with onErr's end.
func (c *FrameConsole) SendLoop(s FrameStream, onErr func(error) nodeapi.ConsoleEnd) {
	for {
		select {
		case <-c.done:
			return
		case b := <-c.in:
			if err := s.Send(&agentv1.ConsoleFrame{Data: b}); err != nil {
				c.Finish(onErr(err))
				return
			}
		}
	}
}

// RecvLoop hands what the stream brings to Read until the stream ends: a
// frame carrying end ends the console with it, a failed Recv with onErr's
// end.
func (c *FrameConsole) RecvLoop(s FrameStream, onErr func(error) nodeapi.ConsoleEnd) {
	for {
		f, err := s.Recv()
		if err != nil {
			c.Finish(onErr(err))
			return
		}
		if len(f.GetData()) > 0 {
			select {
			case c.out <- f.GetData():
			case <-c.done:
				return
			}
		}
		if f.GetEnd() != nil {
			c.Finish(ConsoleEndFromProto(f.GetEnd()))
			return
		}
	}
}
