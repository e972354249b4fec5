package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// consoleStates are the states in which a VM's serial console can be
// opened: those of a VM whose hypervisor process runs.
var consoleStates = map[vm.State]bool{
	vm.StateStarting: true, vm.StateRunning: true, vm.StatePaused: true,
	vm.StateStopping: true, vm.StateRebooting: true,
}

// ConsoleHolder says who holds a VM's console.
type ConsoleHolder struct {
	Who   string
	Since time.Time
}

// consoles holds the consoles this service has open, one per VM at most.
type consoles struct {
	mu   sync.Mutex
	byVM map[string]*heldConsole
}

// OpenConsole opens the serial console of VM ref (an id or a name) for
// who, the user (or client) shown to others as its holder. The console is
// exclusive per VM, as virsh's: while one is open, another open is a
// conflict naming who holds it and since when, unless force, which ends
// the first one (its Read returns io.EOF, its End says who took it over).
//
// Errors: KindNotFound (no such VM), KindConflict (the VM is not running,
// the console is held, or the host does not have the VM), KindUnsupported
// (the node's backend has no console: an older plugin), KindUnavailable (the
// node is not connected). The console returned is a nodeapi.ConsoleEnder:
// once it ended, End says why (closed, vm-stopped, taken-over,
// node-unavailable, ...). ctx bounds the opening only.
func (s *Service) OpenConsole(ctx context.Context, ref string, who string, force bool) (nodeapi.Console, error) {
	v, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if !consoleStates[v.State] {
		return nil, &Error{Kind: KindConflict, VM: v,
			Message: fmt.Sprintf("vm %q is %s: its console opens only while it runs; start it first", v.Name, v.State)}
	}
	opener, ok := s.exec.(nodeapi.ConsoleOpener)
	if !ok {
		return nil, &Error{Kind: KindUnsupported, VM: v, Message: fmt.Sprintf("vm %q: this server cannot carry consoles", v.Name)}
	}
	if !s.connectedSoon(ctx, v.NodeID) {
		return nil, &Error{Kind: KindUnavailable, VM: v, Err: nodeapi.ErrNodeUnavailable,
			Message: fmt.Sprintf("vm %q: node %s is not connected, cannot open the vm's console now", v.Name, nodeName(v))}
	}
	h, err := s.consoles.reserve(v, who, force)
	if err != nil {
		return nil, err
	}
	c, err := opener.OpenConsole(ctx, v.NodeID, v.ID)
	if err != nil {
		s.consoles.release(v.ID, h)
		return nil, consoleError(v, err)
	}
	if !s.consoles.attach(h, c) {
		// Taken over while it opened.
		c.Close()
		end := h.End()
		return nil, &Error{Kind: KindConflict, VM: v, Message: fmt.Sprintf("vm %q: console %s while it opened", v.Name, end.Reason)}
	}
	s.log.Info("console opened", "vm", v.Name, "vm_id", v.ID, "node", v.NodeID, "who", who, "force", force)
	return &serviceConsole{held: h, inner: c, release: func() { s.consoles.release(v.ID, h) }}, nil
}

// ConsoleHolderOf says who holds the console of VM id on this server, if
// anyone.
func (s *Service) ConsoleHolderOf(id string) (ConsoleHolder, bool) {
	s.consoles.mu.Lock()
	defer s.consoles.mu.Unlock()
	h, ok := s.consoles.byVM[id]
	if !ok {
		return ConsoleHolder{}, false
	}
	return ConsoleHolder{Who: h.who, Since: h.since}, true
}

// reserve takes VM v's console for who, ending the current holder's when
// force.
func (cs *consoles) reserve(v *vm.VM, who string, force bool) (*heldConsole, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.byVM == nil {
		cs.byVM = map[string]*heldConsole{}
	}
	h := &heldConsole{who: who, since: time.Now().UTC()}
	if cur, ok := cs.byVM[v.ID]; ok {
		if !force {
			return nil, &Error{Kind: KindConflict, VM: v, Message: fmt.Sprintf("vm %q: the console is in use by %q since %s; open it with force to take it over",
				v.Name, cur.who, cur.since.Format(time.RFC3339))}
		}
		cur.end(nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleTakenOver, Reason: fmt.Sprintf("taken over by %q", who)})
	}
	cs.byVM[v.ID] = h
	return h, nil
}

// attach gives h its open console; false when h was ended meanwhile.
func (cs *consoles) attach(h *heldConsole, c nodeapi.Console) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended.Cause != "" {
		return false
	}
	h.console = c
	return true
}

// release forgets h as VM id's console holder, if it still is.
func (cs *consoles) release(id string, h *heldConsole) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.byVM[id] == h {
		delete(cs.byVM, id)
	}
}

// heldConsole is one console this service has open (or is opening).
type heldConsole struct {
	who   string
	since time.Time

	mu sync.Mutex
	// console is nil while it opens.
	console nodeapi.Console
	ended   nodeapi.ConsoleEnd
}

// end ends the console with why, unless something else ended it first.
// It does not block: closing a console cancels its calls.
func (h *heldConsole) end(why nodeapi.ConsoleEnd) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended.Cause == "" {
		h.ended = why
	}
	if h.console != nil {
		h.console.Close()
	}
}

// End is why the console ended here (taken over, closed, shut down), zero
// when it did not end here.
func (h *heldConsole) End() nodeapi.ConsoleEnd {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ended
}

// serviceConsole is a console OpenConsole returned.
type serviceConsole struct {
	held    *heldConsole
	inner   nodeapi.Console
	release func()
	once    sync.Once
}

func (c *serviceConsole) Read(p []byte) (int, error) {
	n, err := c.inner.Read(p)
	if err != nil {
		c.once.Do(c.release)
	}
	return n, err
}

func (c *serviceConsole) Write(p []byte) (int, error) {
	n, err := c.inner.Write(p)
	if err != nil && c.held.End().Cause != "" {
		return n, nodeapi.ErrConsoleClosed
	}
	return n, err
}

// Close ends the console and frees the VM's console for others.
func (c *serviceConsole) Close() error {
	c.held.end(nodeapi.ConsoleEnd{Cause: nodeapi.ConsoleClosed, Reason: "console closed by its client"})
	c.once.Do(c.release)
	return nil
}

// End says why the console ended: ended here (closed, taken over), else as
// the node said (the VM stopped, the node went away).
func (c *serviceConsole) End() nodeapi.ConsoleEnd {
	if end := c.held.End(); end.Cause != "" {
		return end
	}
	if e, ok := c.inner.(nodeapi.ConsoleEnder); ok {
		return e.End()
	}
	return nodeapi.ConsoleEnd{}
}

var _ nodeapi.ConsoleEnder = (*serviceConsole)(nil)

// consoleError classifies what opening VM v's console on its node
// returned.
func consoleError(v *vm.VM, err error) *Error {
	e := &Error{VM: v, Err: err}
	switch {
	case errors.Is(err, nodeapi.ErrNodeUnavailable) || plugin.KindOf(err) == plugin.KindUnavailable:
		e.Kind = KindUnavailable
		e.Message = fmt.Sprintf("vm %q: node %s is unavailable, cannot open the vm's console now: %v", v.Name, nodeName(v), err)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		e.Kind = KindUnavailable
		e.Message = fmt.Sprintf("vm %q: opening the console on node %s did not finish: %v", v.Name, nodeName(v), err)
	default:
		switch plugin.KindOf(err) {
		case plugin.KindNotFound:
			e.Kind = KindConflict
			e.Message = fmt.Sprintf("vm %q: node %s does not have it (%v); reset_state corrects the record", v.Name, nodeName(v), err)
		case plugin.KindConflict:
			e.Kind = KindConflict
			e.Message = fmt.Sprintf("vm %q: %v", v.Name, err)
		case plugin.KindUnsupported:
			e.Kind = KindUnsupported
			e.Message = fmt.Sprintf("vm %q: the backend of node %s has no serial console: %v", v.Name, nodeName(v), err)
		default:
			e.Kind = KindBackend
			e.Message = fmt.Sprintf("vm %q: opening the console failed on node %s: %v", v.Name, nodeName(v), err)
		}
	}
	return e
}

var _ io.ReadWriteCloser = (*serviceConsole)(nil)
