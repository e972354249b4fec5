package libvirt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/quantixvm/quantix/internal/testguest"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// consolePrefix starts the names of the console tests' domains.
const consolePrefix = "qx-c-"

// guestBoot bounds how long the test guest takes to boot to its prompt.
const guestBoot = 60 * time.Second

// defineGuest defines and starts a domain booting the test guest
// (direct kernel boot, defined through libvirt as a foreign domain would
// be), destroyed and undefined when the test ends, and returns its UUID.
func defineGuest(t *testing.T, b *Backend) string {
	t.Helper()
	g := testguest.Build(t)
	rb := make([]byte, 4)
	_, _ = rand.Read(rb)
	name := consolePrefix + hex.EncodeToString(rb)
	zero := uint(0)
	var uuid string
	libvirtConn(t, b, func(s *session, c *libvirt.Connect) {
		dom := &libvirtxml.Domain{
			Type:   s.domainType,
			Name:   name,
			Memory: &libvirtxml.DomainMemory{Value: testguest.MemoryMiB, Unit: "MiB"},
			VCPU:   &libvirtxml.DomainVCPU{Value: 1},
			OS: &libvirtxml.DomainOS{
				Type:    &libvirtxml.DomainOSType{Type: "hvm"},
				Kernel:  g.Kernel,
				Initrd:  g.Initrd,
				Cmdline: testguest.Cmdline,
			},
			Features:   &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}},
			OnPoweroff: "destroy",
			Devices: &libvirtxml.DomainDeviceList{
				Serials: []libvirtxml.DomainSerial{{
					Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
					Target: &libvirtxml.DomainSerialTarget{Port: &zero},
				}},
				Consoles: []libvirtxml.DomainConsole{{
					Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
					Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &zero},
				}},
				MemBalloon: &libvirtxml.DomainMemBalloon{Model: "none"},
			},
		}
		doc, err := dom.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.DomainDefineXML(doc)
		if err != nil {
			t.Fatalf("defining %s: %v", name, err)
		}
		defer d.Free()
		if uuid, err = d.GetUUIDString(); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() {
		libvirtConn(t, b, func(_ *session, c *libvirt.Connect) {
			d, err := c.LookupDomainByUUIDString(uuid)
			if err != nil {
				return
			}
			defer d.Free()
			_ = d.Destroy()
			if err := d.Undefine(); err != nil {
				t.Errorf("cleanup: undefining %s: %v", name, err)
			}
		})
	})
	return uuid
}

// guestConsole reads a console from a goroutine of its own.
type guestConsole struct {
	c    io.ReadWriteCloser
	mu   sync.Mutex
	buf  strings.Builder
	err  error
	done chan struct{}
}

func readGuest(c io.ReadWriteCloser) *guestConsole {
	g := &guestConsole{c: c, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		b := make([]byte, 4096)
		for {
			n, err := c.Read(b)
			g.mu.Lock()
			g.buf.Write(b[:n])
			g.err = err
			g.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return g
}

func (g *guestConsole) text() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

// prompt types a newline until the guest's shell prompts.
func (g *guestConsole) prompt(t *testing.T) {
	t.Helper()
	wait.UntilNil(t, guestBoot, "the guest's shell prompt on the console", func() error {
		before := len(g.text())
		if _, err := g.c.Write([]byte("\n")); err != nil {
			return err
		}
		if strings.Contains(g.text()[before:], testguest.Prompt) {
			return nil
		}
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if strings.Contains(g.text()[before:], testguest.Prompt) {
				return nil
			}
			runtime.Gosched()
			select {
			case <-g.done:
				return fmt.Errorf("the console ended: %v", g.err)
			case <-time.After(20 * time.Millisecond):
			}
		}
		return fmt.Errorf("no prompt yet; the console shows %q", tail(g.text(), 200))
	})
}

// run types a command and waits for want in what follows.
func (g *guestConsole) run(t *testing.T, cmd, want string) {
	t.Helper()
	before := len(g.text())
	if _, err := g.c.Write([]byte(cmd + "\n")); err != nil {
		t.Fatalf("typing %q: %v", cmd, err)
	}
	wait.Until(t, 20*time.Second, fmt.Sprintf("%q in the output of %q", want, cmd), func() bool {
		return strings.Contains(g.text()[before:], want)
	})
}

func (g *guestConsole) ended(t *testing.T, what string) error {
	t.Helper()
	select {
	case <-g.done:
	case <-time.After(guestBoot):
		t.Fatalf("%s: the console did not end within %s", what, guestBoot)
	}
	return g.err
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestQEMUConsoleOfBootingGuest opens the console of a real Linux guest
// through virDomainOpenConsole: a command typed and its output read back,
// a second open forcing the first away, and `poweroff` typed ending the
// console with io.EOF; no goroutine stays behind.
func TestQEMUConsoleOfBootingGuest(t *testing.T) {
	b := newQEMUBackend(t)
	ctx := context.Background()
	base := runtime.NumGoroutine()
	id := defineGuest(t, b)

	_, err := b.OpenConsole(ctx, id)
	if plugin.KindOf(err) != plugin.KindConflict {
		t.Fatalf("OpenConsole of a stopped domain = %v, want a conflict", err)
	}
	if _, err := b.StartVM(ctx, id); err != nil {
		t.Fatal(err)
	}
	c1, err := b.OpenConsole(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if n := openStreams.Load(); n != 1 {
		t.Errorf("%d console streams open, want 1", n)
	}
	g1 := readGuest(c1)
	g1.prompt(t)
	g1.run(t, "echo qx-$((6*7))", "qx-42")

	// A second console forces the first away.
	c2, err := b.OpenConsole(ctx, id)
	if err != nil {
		t.Fatalf("a second console: %v", err)
	}
	if err := g1.ended(t, "the console forced away"); !errors.Is(err, io.EOF) {
		t.Errorf("the console forced away ended with %v, want io.EOF", err)
	}
	c1.Close()
	g2 := readGuest(c2)
	g2.prompt(t)
	g2.run(t, "echo second-$((1+1))", "second-2")

	// The guest powers off: the console ends.
	if _, err := c2.Write([]byte("poweroff\n")); err != nil {
		t.Fatal(err)
	}
	if err := g2.ended(t, "the console of a guest powering off"); !errors.Is(err, io.EOF) {
		t.Errorf("the console of a guest that powered off ended with %v, want io.EOF", err)
	}
	c2.Close()
	wait.Until(t, guestBoot, "the domain to stop", func() bool {
		vm, err := b.GetVM(ctx, id)
		return err == nil && vm.State == backend.StateStopped
	})
	wait.Until(t, 10*time.Second, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= base })
	if n := openStreams.Load(); n != 0 {
		t.Errorf("%d console streams are not freed", n)
	}
}
