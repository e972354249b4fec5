package sim

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

var _ backend.ConsoleOpener = (*Backend)(nil)

// consoleQueue bounds the writes a console holds before Write waits for a
// Read: the simulated guest echoes, at the pace its reader takes.
const consoleQueue = 64

// simConsoles are the open consoles, at most one per VM: as with libvirt
// forcing a console open, the newest one wins.
type simConsoles struct {
	mu   sync.Mutex
	byVM map[string]*simConsole
}

// OpenConsole opens VM id's simulated serial console: a guest that echoes
// every byte written to it. It ends (io.EOF) when the VM stops, crashes or
// is removed, when another console of the VM is opened, or when the backend
// closes. The VM must be running or paused.
func (b *Backend) OpenConsole(ctx context.Context, id string) (io.ReadWriteCloser, error) {
	if _, err := b.enter(ctx, "opening console"); err != nil {
		return nil, err
	}
	b.mu.RLock()
	vm, err := b.lookup("opening console", id)
	var state backend.PowerState
	if err == nil {
		state = vm.State
	}
	b.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if state != backend.StateRunning && state != backend.StatePaused {
		return nil, plugin.Conflict("opening console: vm %s is %s; it has a console only while it runs", vm.Name, strings.ToLower(string(state)))
	}
	c := newSimConsole()
	b.consoles.mu.Lock()
	if b.consoles.byVM == nil {
		b.consoles.byVM = map[string]*simConsole{}
	}
	if old := b.consoles.byVM[id]; old != nil {
		old.end()
	}
	b.consoles.byVM[id] = c
	b.consoles.mu.Unlock()
	c.release = func() {
		b.consoles.mu.Lock()
		if b.consoles.byVM[id] == c {
			delete(b.consoles.byVM, id)
		}
		b.consoles.mu.Unlock()
	}
	// The VM may have stopped since it was looked up.
	b.mu.RLock()
	vm, err = b.lookup("opening console", id)
	stopped := err != nil || (vm.State != backend.StateRunning && vm.State != backend.StatePaused)
	b.mu.RUnlock()
	if stopped {
		c.Close()
		return nil, plugin.Conflict("opening console: vm %s stopped while its console opened", id)
	}
	return c, nil
}

// OpenConsoles says how many consoles are open.
func (b *Backend) OpenConsoles() int {
	b.consoles.mu.Lock()
	defer b.consoles.mu.Unlock()
	return len(b.consoles.byVM)
}

// observeConsoles ends the console of a VM that ev says stopped or went
// away.
func (b *Backend) observeConsoles(ev backend.Event) {
	switch {
	case ev.Type == backend.EventDeleted:
	case ev.Type == backend.EventStateChanged && ev.State != backend.StateRunning && ev.State != backend.StatePaused:
	default:
		return
	}
	b.consoles.mu.Lock()
	c := b.consoles.byVM[ev.VMID]
	b.consoles.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// closeConsoles ends every console, as the backend closes.
func (b *Backend) closeConsoles() {
	b.consoles.mu.Lock()
	all := make([]*simConsole, 0, len(b.consoles.byVM))
	for _, c := range b.consoles.byVM {
		all = append(all, c)
	}
	b.consoles.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}

// simConsole echoes what is written to it.
type simConsole struct {
	queue   chan []byte
	done    chan struct{}
	once    sync.Once
	release func()
	// reader reads the echo from queue; what was echoed before the end is
	// handed on first.
	reader *backend.ChanReader
}

func newSimConsole() *simConsole {
	c := &simConsole{queue: make(chan []byte, consoleQueue), done: make(chan struct{})}
	c.reader = backend.NewChanReader(c.queue, c.done)
	return c
}

var errSimConsoleClosed = errors.New("console closed")

func (c *simConsole) end() { c.once.Do(func() { close(c.done) }) }

func (c *simConsole) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	select {
	case <-c.done:
		return 0, errSimConsoleClosed
	default:
	}
	select {
	case c.queue <- append([]byte(nil), p...):
		return len(p), nil
	case <-c.done:
		return 0, errSimConsoleClosed
	}
}

func (c *simConsole) Read(p []byte) (int, error) { return c.reader.Read(p) }

// Close ends the console; it holds no goroutine.
func (c *simConsole) Close() error {
	c.end()
	if c.release != nil {
		c.release()
	}
	return nil
}
