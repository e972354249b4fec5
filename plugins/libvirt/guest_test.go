package libvirt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testguest"
	"github.com/quantixvm/quantix/internal/testguest/serial"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// The guest tests boot the test guest (internal/testguest, a Linux kernel
// and a busybox initramfs) with direct kernel boot on qemu:///system and
// watch its serial console, opened with libvirt by the test itself: what a
// VM without an OS cannot show, a guest that boots, obeys an ACPI shutdown,
// powers off and reboots on its own.

// guestTimeout bounds one boot or shutdown of the test guest: seconds on
// KVM; under TCG, on a busy machine, minutes.
func guestTimeout() time.Duration {
	if _, err := os.Stat("/dev/kvm"); err == nil {
		return 60 * time.Second
	}
	return 5 * time.Minute
}

// guestName returns a unique name for a VM booting the test guest.
func guestName(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return guestPrefix + hex.EncodeToString(b)
}

// guestSpec is a VM booting the test guest.
func guestSpec(g testguest.Guest, name string) backend.VMSpec {
	return backend.VMSpec{
		Name: name, VCPUs: 1, MemoryMiB: testguest.MemoryMiB,
		Kernel: g.Kernel, Initrd: g.Initrd, Cmdline: testguest.Cmdline,
	}
}

// bootGuest starts the VM and waits for the guest's ready line and prompt
// on its serial console, which it returns.
func bootGuest(t *testing.T, b *Backend, vm *backend.VM) *serial.Console {
	t.Helper()
	running, err := b.StartVM(context.Background(), vm.ID)
	wantState(t, "start", running, err, backend.StateRunning)
	con := serial.Open(t, qemuURI, vm.Name)
	took := con.Wait(t, guestTimeout(), testguest.Ready)
	con.Wait(t, guestTimeout(), testguest.Prompt)
	t.Logf("the guest was ready %s after the console opened", took.Round(time.Millisecond))
	return con
}

func TestQEMUGuestLifecycle(t *testing.T) {
	b := newQEMUBackend(t)
	g := testguest.Build(t)
	ctx := context.Background()
	events := watchEvents(t, b)
	spec := guestSpec(g, guestName(t))
	vm := createVM(t, b, spec)
	if vm.Spec.Kernel != g.Kernel || vm.Spec.Initrd != g.Initrd || vm.Spec.Cmdline != testguest.Cmdline {
		t.Fatalf("created vm spec = %+v, want the kernel boot asked for", vm.Spec)
	}

	// The guest boots to its shell, which runs what is typed.
	con := bootGuest(t, b, vm)
	if out := con.Run(t, guestTimeout(), "echo qx-$((6*7))", testguest.Prompt); out != "qx-42" {
		t.Fatalf("echo in the guest printed %q, want qx-42", out)
	}

	t.Run("RebootFromInside", func(t *testing.T) {
		events.reset()
		con.Send(t, "reboot\n")
		con.Wait(t, guestTimeout(), testguest.Ready)
		con.Wait(t, guestTimeout(), testguest.Prompt)
		got, err := b.GetVM(ctx, vm.ID)
		wantState(t, "after the guest rebooted", got, err, backend.StateRunning)
		for _, e := range events.snapshot() {
			if e.VMID == vm.ID && e.Type == backend.EventStateChanged && e.State != backend.StateRunning {
				t.Errorf("event %+v while the guest rebooted; the VM must stay running", e)
			}
		}
	})

	t.Run("GracefulStopHonoured", func(t *testing.T) {
		events.reset()
		start := time.Now()
		stopped, err := b.StopVM(ctx, vm.ID, backend.StopOptions{Timeout: guestTimeout()})
		wantState(t, "graceful stop", stopped, err, backend.StateStopped)
		if stopped.StateReason != backend.ReasonShutdown {
			t.Errorf("graceful stop: state reason %q, want %q (the guest shut down, no fallback to destroy)", stopped.StateReason, backend.ReasonShutdown)
		}
		t.Logf("the guest shut down %s after the request", time.Since(start).Round(time.Millisecond))
		e := events.waitFor(t, "stopped", guestTimeout(), func(e backend.Event) bool {
			return e.VMID == vm.ID && e.Type == backend.EventStateChanged && e.State == backend.StateStopped
		})
		if e.Reason != backend.ReasonShutdown {
			t.Errorf("stopped event reason %q, want %q", e.Reason, backend.ReasonShutdown)
		}
		for _, e := range events.snapshot() {
			if e.VMID == vm.ID && e.Reason == backend.ReasonDestroyed {
				t.Errorf("event %+v: the VM was destroyed, not shut down by its guest", e)
			}
		}
		con.WaitEnd(t, guestTimeout())
	})

	t.Run("PoweroffFromInside", func(t *testing.T) {
		con := bootGuest(t, b, vm)
		events.reset()
		con.Send(t, "poweroff\n")
		e := events.waitFor(t, "stopped", guestTimeout(), func(e backend.Event) bool {
			return e.VMID == vm.ID && e.Type == backend.EventStateChanged && e.State == backend.StateStopped
		})
		if e.Reason != backend.ReasonShutdown {
			t.Errorf("stopped event after poweroff: reason %q, want %q (a guest shutdown)", e.Reason, backend.ReasonShutdown)
		}
		got, err := b.GetVM(ctx, vm.ID)
		wantState(t, "after poweroff in the guest", got, err, backend.StateStopped)
		if got.StateReason != backend.ReasonShutdown {
			t.Errorf("after poweroff in the guest: state reason %q, want %q", got.StateReason, backend.ReasonShutdown)
		}
		con.WaitEnd(t, guestTimeout())
	})
}

// A kernel or initrd that is not a file on this host is refused at create,
// naming the field, instead of failing when the VM starts.
func TestQEMUKernelBootMissingFiles(t *testing.T) {
	b := newQEMUBackend(t)
	g := testguest.Build(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, field    string
		kernel, initrd string
	}{
		{"missing kernel", "kernel", dir + "/nope", g.Initrd},
		{"kernel is a directory", "kernel", dir, ""},
		{"missing initrd", "initrd", g.Kernel, dir + "/nope"},
	} {
		spec := guestSpec(g, guestName(t))
		spec.Kernel, spec.Initrd = tc.kernel, tc.initrd
		_, err := b.CreateVM(context.Background(), spec)
		wantKind(t, tc.name, err, plugin.KindInvalidArgument, tc.field)
		if domainExists(t, b, spec.Name) {
			t.Errorf("%s: the domain %s was defined", tc.name, spec.Name)
		}
	}
}
