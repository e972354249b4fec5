package controlplane

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/agent"
	"github.com/quantixvm/quantix/core/agentserver"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/pluginhost"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/testguest"
	"github.com/quantixvm/quantix/internal/testlibvirt"
	"github.com/quantixvm/quantix/internal/wait"
)

// libvirtPrefix starts the names of what these tests make in libvirtd.
const libvirtPrefix = "qx-c-"

// guestWithin bounds how long the test guest takes to boot (TCG when the
// host has no KVM).
const guestWithin = 2 * time.Minute

func virsh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("virsh", append([]string{"-c", testlibvirt.QEMUURI}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("virsh %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startGuest defines (as a foreign domain) and starts the test guest,
// removed when the test ends.
func startGuest(t *testing.T) string {
	t.Helper()
	g := testguest.Build(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := libvirtPrefix + hex.EncodeToString(b)
	doc := g.DomainXML(name, testguest.MemoryMiB)
	path := filepath.Join(t.TempDir(), name+".xml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := testlibvirt.RemoveDomain(name); err != nil {
			t.Errorf("removing %s: %v", name, err)
		}
	})
	virsh(t, "define", path)
	virsh(t, "start", name)
	return name
}

// TestConsoleOfLibvirtGuest opens the console of a real booting guest
// through the control plane, a real agent server and agent, and the
// libvirt plugin process: the shell answers a command, and `poweroff`
// typed there ends the console as the vm stopping; nothing stays open.
func TestConsoleOfLibvirtGuest(t *testing.T) {
	testlibvirt.UseLibvirt(t)
	t.Cleanup(func() {
		if err := testlibvirt.Sweep(libvirtPrefix); err != nil {
			t.Errorf("sweeping %s*: %v", libvirtPrefix, err)
		}
	})
	path, err := testbin.LibvirtPlugin()
	if err != nil {
		t.Fatal(err)
	}
	images, err := os.MkdirTemp("", libvirtPrefix+"images-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(images) })
	if err := os.Chmod(images, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := pluginhost.LaunchBackend(ctx, pluginhost.Config{Name: "libvirt", Path: path, Settings: map[string]any{
		"uri": testlibvirt.QEMUURI, "image_dir": images,
	}})
	if err != nil {
		t.Fatalf("launching the libvirt plugin: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	e := newHostEnv(t, b, "")
	name := startGuest(t)
	e.waitState(t, name, vm.StateRunning)
	base := runtime.NumGoroutine()

	c, err := e.svc.OpenConsole(context.Background(), name, "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	r := readConsole(c)
	wait.UntilNil(t, guestWithin, "the guest's prompt on the console", func() error {
		before := len(r.text())
		if _, err := c.Write([]byte("\n")); err != nil {
			return err
		}
		return wait.Poll(contextWithin(time.Second), func() error {
			if strings.Contains(r.text()[before:], testguest.Prompt) {
				return nil
			}
			return fmt.Errorf("no prompt yet: %q", tailOf(r.text(), 120))
		})
	})
	before := len(r.text())
	if _, err := c.Write([]byte("echo qx-$((6*7))\n")); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, 30*time.Second, "the output of a command typed on the console", func() bool { return strings.Contains(r.text()[before:], "qx-42") })

	if _, err := c.Write([]byte("poweroff\n")); err != nil {
		t.Fatal(err)
	}
	wantEnd(t, "the console of a guest powering off", r.ended(t, "the console of a guest powering off"), nodeapi.ConsoleVMStopped, "stopped")
	c.Close()
	e.waitState(t, name, vm.StateStopped)
	wait.Until(t, consoleWithin, "consoles released on the server, the agent and the plugin host", func() bool {
		return agentserver.OpenConsoles() == 0 && agent.OpenConsoles() == 0 && pluginhost.OpenConsoles() == 0
	})
	wait.Until(t, consoleWithin, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= base })
}

// contextWithin is a context ending after d, for wait.Poll.
func contextWithin(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	time.AfterFunc(d, cancel)
	return ctx
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
