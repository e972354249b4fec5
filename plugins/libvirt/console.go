package libvirt

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

var _ backend.ConsoleOpener = (*Backend)(nil)

// Console buffering: what the guest wrote waits in at most consoleQueue
// chunks of consoleChunk bytes for Read; beyond, the stream is not read
// (libvirt and QEMU hold the rest) until Read catches up.
const (
	consoleChunk = 32 << 10
	consoleQueue = 16
)

// openStreams counts the console streams not freed yet.
var openStreams atomic.Int64

// streamEvents are the stream events a console always listens to.
const streamEvents = libvirt.STREAM_EVENT_ERROR | libvirt.STREAM_EVENT_HANGUP

// OpenConsole attaches to the serial console of domain id through
// virDomainOpenConsole, forcing it away from another client that holds it
// (that client's console ends), as the newest client wins. The stream is
// nonblocking and driven by libvirt's event loop: no goroutine is left
// behind, and Close aborts and frees the stream. Read returns io.EOF when
// the domain stops (libvirt hangs the stream up).
func (b *Backend) OpenConsole(_ context.Context, id string) (io.ReadWriteCloser, error) {
	id, err := checkID(id)
	if err != nil {
		return nil, err
	}
	rt, err := b.current()
	if err != nil {
		return nil, err
	}
	conn, release, err := rt.conn.acquire()
	if err != nil {
		return nil, err
	}
	c, err := b.openConsole(conn, id, release, rt.conn.up)
	rt.conn.check(conn, err)
	if err != nil {
		release()
		return nil, err
	}
	return c, nil
}

// openConsole opens the console on conn; release gives conn back once the
// console is over, connUp says whether the connection is up.
func (b *Backend) openConsole(conn *libvirt.Connect, id string, release func(), connUp func() bool) (*console, error) {
	dom, err := lookupDomain(conn, id)
	if err != nil {
		return nil, err
	}
	defer dom.Free()
	state, reason, err := dom.GetState()
	if err != nil {
		return nil, classify(err, "opening the console of vm %s", id)
	}
	if st, _ := mapState(state, reason); st != backend.StateRunning && st != backend.StatePaused {
		name, _ := dom.GetName()
		return nil, plugin.Conflict("opening the console of vm %s: it is %s; it has a console only while it runs", name, strings.ToLower(string(st)))
	}
	stream, err := conn.NewStream(libvirt.STREAM_NONBLOCK)
	if err != nil {
		return nil, classify(err, "opening the console of vm %s: new stream", id)
	}
	if err := dom.OpenConsole("", stream, libvirt.DOMAIN_CONSOLE_FORCE); err != nil {
		_ = stream.Free()
		if hasCode(err, libvirt.ERR_NO_SUPPORT) {
			return nil, plugin.Unsupported("opening the console of vm %s: %s", id, describe(err))
		}
		if hasCode(err, libvirt.ERR_OPERATION_INVALID) || hasCode(err, libvirt.ERR_CONFIG_UNSUPPORTED) {
			return nil, plugin.Unsupported("opening the console of vm %s: %s; the domain needs a serial console (<serial type='pty'>)", id, describe(err))
		}
		return nil, classify(err, "opening the console of vm %s", id)
	}
	c := &console{
		id:       id,
		log:      b.log,
		release:  release,
		connUp:   connUp,
		stream:   stream,
		out:      make(chan []byte, consoleQueue),
		done:     make(chan struct{}),
		writable: make(chan struct{}, 1),
		events:   libvirt.STREAM_EVENT_READABLE | streamEvents,
	}
	if err := stream.EventAddCallback(c.events, c.onEvent); err != nil {
		_ = stream.Abort()
		_ = stream.Free()
		return nil, classify(err, "opening the console of vm %s: watching the stream", id)
	}
	openStreams.Add(1)
	return c, nil
}

// console is one open domain console.
type console struct {
	id      string
	log     interface{ Debug(string, ...any) }
	release func()
	// connUp says whether the libvirt connection is up.
	connUp func() bool

	// mu guards the stream and what follows; the event callback (on
	// libvirt's event loop) and the callers' goroutines take it.
	mu      sync.Mutex
	stream  *libvirt.Stream
	events  libvirt.StreamEventType
	closed  bool
	endErr  error
	stashed []byte // read from the stream while out was full
	writing bool   // a Write waits for the stream to take more

	out      chan []byte
	done     chan struct{}
	writable chan struct{}

	// pending is what Read did not take of the last chunk; only the
	// reading goroutine touches it.
	pending []byte
}

// onEvent runs on libvirt's event loop: it reads what the stream has while
// out has room, wakes a waiting Write, and ends the console on hang-up or
// error. It never blocks.
func (c *console) onEvent(_ *libvirt.Stream, ev libvirt.StreamEventType) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if ev&libvirt.STREAM_EVENT_WRITABLE != 0 {
		select {
		case c.writable <- struct{}{}:
		default:
		}
		c.setEvents(c.events &^ libvirt.STREAM_EVENT_WRITABLE)
	}
	if ev&libvirt.STREAM_EVENT_READABLE != 0 {
		c.readLocked()
	}
	if !c.closed && ev&(libvirt.STREAM_EVENT_HANGUP|libvirt.STREAM_EVENT_ERROR) != 0 {
		// What is left is read first.
		c.readLocked()
		c.endLocked(nil)
	}
}

// readLocked moves what the stream has into out, until out is full (the
// stream then stops being watched for reading) or the stream has nothing.
func (c *console) readLocked() {
	for !c.closed && c.stashed == nil {
		buf := make([]byte, consoleChunk)
		n, err := c.stream.Recv(buf)
		switch {
		case errors.Is(err, io.EOF):
			c.endLocked(nil)
			return
		case err != nil:
			c.endLocked(err)
			return
		case n < 0:
			// Nothing more now (-2), or a hole (-3), which a console has
			// not.
			return
		}
		select {
		case c.out <- buf[:n]:
		default:
			c.stashed = buf[:n]
			c.setEvents(c.events &^ libvirt.STREAM_EVENT_READABLE)
		}
	}
}

// setEvents changes what the stream is watched for.
func (c *console) setEvents(ev libvirt.StreamEventType) {
	if ev == c.events || c.closed {
		return
	}
	c.events = ev
	_ = c.stream.EventUpdateCallback(ev)
}

// endLocked ends the console: err nil when the domain's side ended it.
// The stream is released by Close.
func (c *console) endLocked(err error) {
	select {
	case <-c.done:
		return
	default:
	}
	c.endErr = err
	if err != nil {
		c.log.Debug("console stream failed", "vm", c.id, "error", err)
	}
	close(c.done)
	c.freeLocked()
}

// freeLocked stops watching the stream, aborts and frees it.
func (c *console) freeLocked() {
	if c.closed {
		return
	}
	c.closed = true
	_ = c.stream.EventRemoveCallback()
	_ = c.stream.Abort()
	_ = c.stream.Free()
	openStreams.Add(-1)
	if c.release != nil {
		go c.release()
	}
}

// Read returns what the guest wrote; io.EOF once the domain's side ended
// the console (the domain stopped, another client forced it away) or
// Close was called, after what came before.
func (c *console) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		select {
		case b := <-c.out:
			c.pending = b
			c.unstash()
		case <-c.done:
			select {
			case b := <-c.out:
				c.pending = b
			default:
				return 0, c.readEnd()
			}
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// unstash moves the chunk read while out was full into out, and watches
// the stream for reading again.
func (c *console) unstash() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stashed == nil || c.closed {
		return
	}
	select {
	case c.out <- c.stashed:
		c.stashed = nil
		c.setEvents(c.events | libvirt.STREAM_EVENT_READABLE)
	default:
	}
}

// readEnd is what Read returns once the console ended.
func (c *console) readEnd() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A stream failing on a live connection ended on the domain's side
	// (another client forced the console away, the domain went).
	if c.endErr != nil && c.connUp != nil && !c.connUp() {
		return plugin.Unavailable("console of vm %s: the libvirt connection went down: %s", c.id, describe(c.endErr))
	}
	return io.EOF
}

var errConsoleClosed = errors.New("console closed")

// Write sends p to the guest, waiting while the stream takes no more.
func (c *console) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return written, errConsoleClosed
		}
		n, err := c.stream.Send(p)
		if err != nil {
			c.mu.Unlock()
			return written, classify(err, "writing to the console of vm %s", c.id)
		}
		if n > 0 {
			written += n
			p = p[n:]
			c.mu.Unlock()
			continue
		}
		// -2: the stream takes no more now.
		c.setEvents(c.events | libvirt.STREAM_EVENT_WRITABLE)
		c.mu.Unlock()
		select {
		case <-c.writable:
		case <-c.done:
			return written, errConsoleClosed
		}
	}
	return written, nil
}

// Close releases the console: the stream is aborted and freed, a Read or
// Write in progress returns.
func (c *console) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	c.freeLocked()
	return nil
}
