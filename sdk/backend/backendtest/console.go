package backendtest

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// consoleTracker is the tracker of a backend that is a ConsoleOpener: it
// counts the consoles the backend has open, so that the suite sees them
// released once the host closed its side.
type consoleTracker struct {
	*tracker
	opener backend.ConsoleOpener
	open   atomic.Int64
}

// served is what the suite serves: tr, or tr with the backend's console
// when the backend is a ConsoleOpener (so that it stays one over gRPC).
func (tr *tracker) served() backend.Backend {
	if co, ok := tr.Backend.(backend.ConsoleOpener); ok {
		tr.consoles = &consoleTracker{tracker: tr, opener: co}
		return tr.consoles
	}
	return tr
}

// OpenConsole passes the call on and counts the console until it is closed.
func (ct *consoleTracker) OpenConsole(ctx context.Context, id string) (io.ReadWriteCloser, error) {
	c, err := ct.opener.OpenConsole(ctx, id)
	if err != nil {
		return nil, err
	}
	ct.open.Add(1)
	return &trackedConsole{ReadWriteCloser: c, open: &ct.open}, nil
}

type trackedConsole struct {
	io.ReadWriteCloser
	open *atomic.Int64
	once sync.Once
}

func (c *trackedConsole) Close() error {
	err := c.ReadWriteCloser.Close()
	c.once.Do(func() { c.open.Add(-1) })
	return err
}

// testConsole checks a backend announcing the console capability: opening
// the console of a missing or stopped VM fails with the right kind, a
// running VM's console takes bytes (and answers as Harness.ConsoleExchange
// wants), closing it on the host's side releases it on the plugin's, and a
// console open when its VM stops ends with io.EOF.
func testConsole(t *testing.T, e *env) {
	e.needCap(t, backend.CapConsole, "the serial console")
	if e.info.Has(backend.CapConsole) && e.tr != nil && e.tr.consoles == nil {
		t.Fatalf("FAILED: backend %q announces the %q capability but does not implement backend.ConsoleOpener", e.info.Name, backend.CapConsole)
	}
	_, err := e.c.OpenConsole(e.op(t), randomUUID())
	wantKind(t, "OpenConsole of a VM that does not exist", err, plugin.KindNotFound)

	vm, _ := e.create(t, "console")
	_, err = e.c.OpenConsole(e.op(t), vm.ID)
	wantKind(t, "OpenConsole of a stopped VM", err, plugin.KindConflict)

	got, err := e.c.StartVM(e.op(t), vm.ID)
	e.wantState(t, "StartVM before opening the console", vm.ID, got, err, backend.StateRunning)

	base := e.openConsoles()
	c, err := e.c.OpenConsole(e.op(t), vm.ID)
	if err != nil {
		t.Fatalf("OpenConsole of a running VM = %s, want an open console", describe(err))
	}
	if e.h.ConsoleExchange != nil {
		e.h.ConsoleExchange(t, c)
	} else if _, err := c.Write([]byte("\r\n")); err != nil {
		t.Errorf("writing to the console of a running VM: %s", describe(err))
	}
	if err := c.Close(); err != nil {
		t.Errorf("closing the console: %s", describe(err))
	}
	if err := c.Close(); err != nil {
		t.Errorf("closing the console a second time: %s, want nil", describe(err))
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Errorf("writing to a closed console succeeded, want an error")
	}
	e.waitConsoles(t, base, "the console closed on the host's side to be closed on the plugin's")

	// A console open while its VM stops ends with io.EOF.
	c, err = e.c.OpenConsole(e.op(t), vm.ID)
	if err != nil {
		t.Fatalf("OpenConsole of a running VM, again = %s, want an open console", describe(err))
	}
	defer c.Close()
	ended := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				ended <- err
				return
			}
		}
	}()
	got, err = e.c.StopVM(e.op(t), vm.ID, backend.StopOptions{Force: true})
	e.wantState(t, "StopVM(Force) with the console open", vm.ID, got, err, backend.StateStopped)
	select {
	case err := <-ended:
		if !errors.Is(err, io.EOF) {
			t.Errorf("Read of the console of a VM that stopped = %s, want io.EOF", describe(err))
		}
	case <-time.After(e.h.eventTimeout()):
		t.Errorf("the console stayed open %s after its VM stopped, want Read to return io.EOF", e.h.eventTimeout())
	}
	e.waitConsoles(t, base, "the console of the stopped VM to be released on the plugin's side")
}

// openConsoles is how many consoles the backend has open; -1 when the
// suite does not see the plugin's side.
func (e *env) openConsoles() int64 {
	if e.tr == nil || e.tr.consoles == nil {
		return -1
	}
	return e.tr.consoles.open.Load()
}

// waitConsoles waits for the backend to have base consoles open (other
// subtests open none).
func (e *env) waitConsoles(t *testing.T, base int64, what string) {
	t.Helper()
	if base < 0 {
		return
	}
	wait.Until(t, e.h.eventTimeout(), what, func() bool { return e.openConsoles() <= base })
}

// EchoExchange is a Harness.ConsoleExchange for a guest that echoes what
// its console is given (the simulated backend's): it writes a probe, in two
// writes, and wants it back whole.
func EchoExchange(t *testing.T, c io.ReadWriter) {
	t.Helper()
	probe := "quantix console probe " + randHex(8) + "\r\n"
	for _, part := range []string{probe[:7], probe[7:]} {
		if _, err := c.Write([]byte(part)); err != nil {
			t.Fatalf("writing %q to the console: %s", part, describe(err))
		}
	}
	got := make([]byte, len(probe))
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(c, got)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("reading the echo of %q from the console: %s (read %q)", probe, describe(err), got)
		}
		if string(got) != probe {
			t.Fatalf("the console echoed %q, want %q", got, probe)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the console did not echo %q within 30s", probe)
	}
}
