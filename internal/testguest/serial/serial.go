// Package serial opens a libvirt domain's serial console straight from a
// test (virDomainOpenConsole on the test's own connection, not through
// Quantix), to watch a test guest boot and type commands into its shell.
// It needs cgo and libvirt's client library, as the libvirt plugin does.
package serial

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/internal/wait"
)

// Console is a domain's serial console. It records everything the guest
// writes; Wait and Expect look for text written after a cursor they move.
type Console struct {
	conn *libvirt.Connect
	dom  *libvirt.Domain
	st   *libvirt.Stream

	mu     sync.Mutex
	out    bytes.Buffer
	cursor int
	err    error // why reading ended: io.EOF when the console closed
	ended  chan struct{}
	closed sync.Once
}

// Open opens the serial console of the running domain called name on
// libvirtd at uri, taking it over from whoever holds it, and closes it when
// t ends. It fails t when the console cannot be opened.
func Open(t testing.TB, uri, name string) *Console {
	t.Helper()
	c, err := open(uri, name)
	if err != nil {
		t.Fatalf("opening the serial console of %s on %s: %v", name, uri, err)
	}
	t.Cleanup(c.Close)
	return c
}

func open(uri, name string) (_ *Console, err error) {
	conn, err := libvirt.NewConnect(uri)
	if err != nil {
		return nil, err
	}
	c := &Console{conn: conn, ended: make(chan struct{})}
	defer func() {
		if err != nil {
			c.free()
		}
	}()
	if c.dom, err = conn.LookupDomainByName(name); err != nil {
		return nil, err
	}
	if c.st, err = conn.NewStream(0); err != nil {
		return nil, err
	}
	if err = c.dom.OpenConsole("", c.st, libvirt.DOMAIN_CONSOLE_FORCE); err != nil {
		return nil, err
	}
	go c.read()
	return c, nil
}

// read copies what the guest writes until the console ends.
func (c *Console) read() {
	defer close(c.ended)
	buf := make([]byte, 4096)
	for {
		n, err := c.st.Recv(buf)
		c.mu.Lock()
		if n > 0 {
			c.out.Write(buf[:n])
		}
		if err != nil {
			c.err = err
		}
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Send types s on the console.
func (c *Console) Send(t testing.TB, s string) {
	t.Helper()
	for b := []byte(s); len(b) > 0; {
		n, err := c.st.Send(b)
		if err != nil {
			t.Fatalf("typing %q on the serial console: %v", s, err)
		}
		b = b[n:]
	}
}

// Wait waits within d for text to appear after the cursor, moves the
// cursor past it and returns how long it took. It fails t, with what the
// guest wrote, when text does not appear or the console ends first.
func (c *Console) Wait(t testing.TB, d time.Duration, text string) time.Duration {
	t.Helper()
	start := time.Now()
	ended := false
	wait.UntilNil(t, d, "the serial console to show "+quote(text), func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if i := bytes.Index(c.out.Bytes()[c.cursor:], []byte(text)); i >= 0 {
			c.cursor += i + len(text)
			return nil
		}
		if c.err != nil {
			ended = true
			return nil
		}
		return fmt.Errorf("it shows %s", quote(c.tailLocked()))
	})
	if ended {
		t.Fatalf("the serial console ended (%v) before showing %s; it showed %s", c.err, quote(text), quote(c.tail()))
	}
	return time.Since(start)
}

// Run types cmd and a newline and waits within d for the shell's prompt
// after the command's output, returning that output.
func (c *Console) Run(t testing.TB, d time.Duration, cmd, prompt string) string {
	t.Helper()
	c.mu.Lock()
	from := c.out.Len()
	c.mu.Unlock()
	c.Send(t, cmd+"\n")
	c.Wait(t, d, cmd)
	c.Wait(t, d, prompt)
	c.mu.Lock()
	defer c.mu.Unlock()
	out := string(c.out.Bytes()[from:c.cursor])
	out = strings.TrimSuffix(out, prompt)
	if i := strings.Index(out, cmd); i >= 0 {
		out = out[i+len(cmd):]
	}
	return strings.TrimSpace(strings.ReplaceAll(out, "\r", ""))
}

// Mark moves the cursor to the end of what the guest wrote so far: later
// Waits look only at what it writes afterwards.
func (c *Console) Mark() {
	c.mu.Lock()
	c.cursor = c.out.Len()
	c.mu.Unlock()
}

// WaitEnd waits within d for the console to end (the domain stopped).
func (c *Console) WaitEnd(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case <-c.ended:
	case <-time.After(d):
		t.Fatalf("the serial console did not end within %s; it shows %s", d, quote(c.tail()))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !errors.Is(c.err, io.EOF) {
		t.Logf("the serial console ended with %v", c.err)
	}
}

// Output is everything the guest wrote on the console so far.
func (c *Console) Output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// tail is the end of the output, for messages.
func (c *Console) tail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tailLocked()
}

func (c *Console) tailLocked() string {
	s := c.out.String()
	if len(s) > 600 {
		s = "..." + s[len(s)-600:]
	}
	return s
}

// Close ends the console: the stream is aborted unless it ended already.
// It may be called more than once.
func (c *Console) Close() {
	c.closed.Do(func() {
		select {
		case <-c.ended:
		default:
			_ = c.st.Abort()
			select {
			case <-c.ended:
			case <-time.After(10 * time.Second):
				// The reader is still in Recv: freeing the stream
				// under it is worse than leaving it.
				c.st = nil
			}
		}
		c.free()
	})
}

func (c *Console) free() {
	if c.st != nil {
		_ = c.st.Free()
	}
	if c.dom != nil {
		_ = c.dom.Free()
	}
	if c.conn != nil {
		_, _ = c.conn.Close()
	}
}

func quote(s string) string { return "\"" + strings.ReplaceAll(s, "\n", `\n`) + "\"" }
