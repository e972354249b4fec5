package libvirt

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// The QEMU tests run real VMs on qemu:///system: 64 MiB, one vCPU, no OS
// (they boot into the firmware), so graceful stops and reboots time out and
// fall back to destroy and reset.

func TestQEMUHostInfo(t *testing.T) {
	b := newQEMUBackend(t)
	h, err := b.HostInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h.Hypervisor != "QEMU" || !strings.HasPrefix(h.HypervisorVersion, "7.") || h.Arch == "" || h.CPUs <= 0 {
		t.Errorf("host info = %+v", h)
	}
	_, kvmErr := os.Stat("/dev/kvm")
	if kvm := kvmErr == nil; h.KVMUsable != kvm || (kvm && h.DomainType != "kvm") || (!kvm && h.DomainType != "qemu") {
		t.Errorf("/dev/kvm present %v, host info says kvm usable %v, domain type %s", kvm, h.KVMUsable, h.DomainType)
	}
	if err := b.Health(context.Background()); err != nil {
		t.Errorf("health: %v", err)
	}
}

func TestQEMUMinimalVMLifecycle(t *testing.T) {
	b := newQEMUBackend(t)
	ctx := context.Background()
	events := watchEvents(t, b)
	vm := createVM(t, b, testSpec(testName(t)))
	if vm.State != backend.StateStopped || !vm.Managed || len(vm.Spec.NICs) != 1 || vm.Spec.NICs[0].Type != backend.NICUser {
		t.Fatalf("created vm = %+v", vm)
	}

	running, err := b.StartVM(ctx, vm.ID)
	wantState(t, "start", running, err, backend.StateRunning)
	if !strings.HasPrefix(running.ConsolePTY, "/dev/pts/") {
		t.Errorf("console pty = %q", running.ConsolePTY)
	}
	checkQEMULog(t, b, vm)
	vm2, err := b.StopVM(ctx, vm.ID, backend.StopOptions{Force: true})
	wantState(t, "force stop", vm2, err, backend.StateStopped)

	start := time.Now()
	runLifecycle(t, b, events, vm.ID, 500*time.Millisecond, "destroyed")
	t.Logf("lifecycle took %s", time.Since(start))

	if err := b.DeleteVM(ctx, vm.ID, backend.DeleteOptions{DeleteDisks: true}); err != nil {
		t.Fatal(err)
	}
	assertGone(t, b, vm.Name)
}

// checkQEMULog checks that a running VM's QEMU log is there, tails it and
// streams it from the start.
func checkQEMULog(t *testing.T, b *Backend, vm *backend.VM) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(DefaultQEMULogDir, vm.Name+".log")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("qemu log: %v", err)
	}
	tail, err := b.TailLog(ctx, vm.ID, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !tail.Exists || tail.Path != path || len(tail.Lines) == 0 || tail.SizeBytes == 0 {
		t.Fatalf("tail = %+v", tail)
	}
	all, err := b.TailLog(ctx, vm.ID, backend.MaxTailLines)
	if err != nil || all.Truncated || len(all.Lines) < len(tail.Lines) {
		t.Fatalf("whole log: %d lines, truncated %v, %v", len(all.Lines), all.Truncated, err)
	}
	if !strings.Contains(strings.Join(all.Lines, "\n"), "qemu") {
		t.Errorf("the log does not mention qemu: %q", all.Lines)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var first backend.LogLine
	calls := 0
	err = b.StreamLog(sctx, vm.ID, 0, func(l backend.LogLine) error {
		if calls++; calls == 1 {
			first = l
		}
		cancel()
		return nil
	})
	if calls != 1 {
		t.Errorf("stream called fn %d times after its context ended", calls)
	}
	if err != nil || first.Text != all.Lines[0] || first.Offset <= 0 {
		t.Errorf("streamed first line %+v, %v; want %q", first, err, all.Lines[0])
	}
}

func TestQEMUDiskVM(t *testing.T) {
	b := newQEMUBackend(t)
	ctx := context.Background()
	spec := testSpec(testName(t))
	spec.Disks = []backend.DiskSpec{{Name: "root", SizeGiB: 1}}
	spec.Boot = []string{"hd"}
	vm := createVM(t, b, spec)
	if len(vm.Disks) != 1 {
		t.Fatalf("disks = %+v", vm.Disks)
	}
	d := vm.Disks[0]
	want := filepath.Join(qemuEnv.imageDir, spec.Name+"+root.qcow2")
	if d.Path != want || d.Format != formatQCOW2 || d.SizeBytes != gib || !d.Owned || d.Name != "root" {
		t.Fatalf("disk = %+v, want %s", d, want)
	}
	info, err := probeImage(d.Path)
	if err != nil || info.Format != formatQCOW2 || info.VirtualSize != gib {
		t.Fatalf("image on disk: %+v, %v", info, err)
	}
	running, err := b.StartVM(ctx, vm.ID)
	wantState(t, "start", running, err, backend.StateRunning)
	if err := b.DeleteVM(ctx, vm.ID, backend.DeleteOptions{Force: true, DeleteDisks: true}); err != nil {
		t.Fatal(err)
	}
	assertGone(t, b, spec.Name)
	if _, err := os.Stat(d.Path); !os.IsNotExist(err) {
		t.Errorf("disk file %s: %v, want gone", d.Path, err)
	}
}

// TestQEMUOverlayVM boots a VM on a copy-on-write overlay of a qcow2 base
// made with qemu-img; deleting it removes the overlay and keeps the base.
func TestQEMUOverlayVM(t *testing.T) {
	b := newQEMUBackend(t)
	ctx := context.Background()
	dir, err := os.MkdirTemp("", testPrefix+"base-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", base, "64M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	spec := testSpec(testName(t))
	spec.Disks = []backend.DiskSpec{{BaseImage: base}, {Name: "big", BaseImage: base, SizeGiB: 1}}
	vm := createVM(t, b, spec)
	if len(vm.Disks) != 2 || vm.Disks[0].SizeBytes != 64<<20 || vm.Disks[1].SizeBytes != gib {
		t.Fatalf("disks = %+v", vm.Disks)
	}
	for _, d := range vm.Disks {
		if d.BaseImage != base || !d.Owned || d.Format != formatQCOW2 {
			t.Errorf("disk = %+v", d)
		}
		out, err := exec.Command("qemu-img", "info", "-U", d.Path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "backing file: "+base) {
			t.Errorf("qemu-img info %s: %v\n%s", d.Path, err, out)
		}
	}
	running, err := b.StartVM(ctx, vm.ID)
	wantState(t, "start overlay vm", running, err, backend.StateRunning)
	if err := b.DeleteVM(ctx, vm.ID, backend.DeleteOptions{Force: true, DeleteDisks: true}); err != nil {
		t.Fatal(err)
	}
	assertGone(t, b, spec.Name)
	if info, err := probeImage(base); err != nil || info.VirtualSize != 64<<20 {
		t.Errorf("base after delete: %+v, %v", info, err)
	}
}

func TestQEMUBadInput(t *testing.T) {
	checkBadInput(t, newQEMUBackend(t))
}

// TestQEMUCreateRollbackKeepsNoFiles checks that a failed create removes the
// volume files it made, not just libvirt's record of them.
func TestQEMUCreateRollbackKeepsNoFiles(t *testing.T) {
	b := newQEMUBackend(t)
	spec := testSpec(testName(t))
	spec.Disks = []backend.DiskSpec{{SizeGiB: 1}}
	spec.NICs = []backend.NICSpec{{Type: backend.NICNetwork, Source: "qx-no-such-net"}}
	_, err := b.CreateVM(context.Background(), spec)
	wantKind(t, "bad network", err, plugin.KindInvalidArgument, "nics[0].source")
	files, _ := filepath.Glob(filepath.Join(qemuEnv.imageDir, spec.Name+"-*"))
	if len(files) > 0 {
		t.Errorf("files left behind: %v", files)
	}
}

func TestQEMUConcurrentPower(t *testing.T) {
	b := newQEMUBackend(t)
	vm := createVM(t, b, testSpec(testName(t)))
	hammer(t, b, vm.ID, 4, 6)
}

// TestQEMUPausedVMStops checks that stopping a paused VM destroys it at once
// instead of waiting for an ACPI shutdown it cannot act on.
func TestQEMUPausedVMStops(t *testing.T) {
	b := newQEMUBackend(t)
	ctx := context.Background()
	vm := createVM(t, b, testSpec(testName(t)))
	if _, err := b.StartVM(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PauseVM(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := b.StopVM(ctx, vm.ID, backend.StopOptions{Timeout: time.Minute})
	wantState(t, "stop paused", got, err, backend.StateStopped)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("stopping a paused vm took %s", d)
	}
}

// TestQEMUStopHonoursContext checks that a graceful stop gives up when its
// context ends.
func TestQEMUStopHonoursContext(t *testing.T) {
	b := newQEMUBackend(t)
	vm := createVM(t, b, testSpec(testName(t)))
	if _, err := b.StartVM(context.Background(), vm.ID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.StopVM(ctx, vm.ID, backend.StopOptions{Timeout: time.Minute})
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("stop with a short context: %v after %s", err, time.Since(start))
	}
	var state libvirt.DomainState
	libvirtConn(t, b, func(_ *session, c *libvirt.Connect) {
		d, err := c.LookupDomainByUUIDString(vm.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Free()
		state, _, _ = d.GetState()
	})
	if state != libvirt.DOMAIN_RUNNING {
		t.Errorf("state after a canceled stop = %d, want running", state)
	}
}

// TestQEMUVolumeNamesDistinct: VM a with disk b-c and VM a-b with disk c,
// whose volumes were once both named a-b-c.qcow2, are both created, each
// with a volume of its own, and both deleted with their volumes.
func TestQEMUVolumeNamesDistinct(t *testing.T) {
	b := newQEMUBackend(t)
	ctx := context.Background()
	a := testSpec(testName(t))
	a.Disks = []backend.DiskSpec{{Name: "b-c", SizeGiB: 1}}
	ab := testSpec(a.Name + "-b")
	ab.Disks = []backend.DiskSpec{{Name: "c", SizeGiB: 1}}
	vmA := createVM(t, b, a)
	vmAB := createVM(t, b, ab)
	pathA, pathAB := vmA.Disks[0].Path, vmAB.Disks[0].Path
	if pathA == pathAB {
		t.Fatalf("both vms got volume %s", pathA)
	}
	for _, p := range []string{pathA, pathAB} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("volume file: %v", err)
		}
	}
	if err := b.DeleteVM(ctx, vmA.ID, backend.DeleteOptions{DeleteDisks: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pathA); !os.IsNotExist(err) {
		t.Errorf("volume file %s of the deleted vm: %v, want gone", pathA, err)
	}
	if _, err := os.Stat(pathAB); err != nil {
		t.Errorf("volume file %s of the other vm: %v", pathAB, err)
	}
	if err := b.DeleteVM(ctx, vmAB.ID, backend.DeleteOptions{DeleteDisks: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pathAB); !os.IsNotExist(err) {
		t.Errorf("volume file %s of the deleted vm: %v, want gone", pathAB, err)
	}
	assertGone(t, b, a.Name)
	assertGone(t, b, ab.Name)
}

// TestQEMUDeletesVolumesNamedBefore: a VM whose volume was named
// <vm>-<disk>.qcow2, as before volume names were made distinct, is deleted
// with its volume.
func TestQEMUDeletesVolumesNamedBefore(t *testing.T) {
	b := newQEMUBackend(t)
	ctx := context.Background()
	spec := testSpec(testName(t))
	spec.Disks = []backend.DiskSpec{{Name: "root", SizeGiB: 1}}
	var vm *backend.VM
	libvirtConn(t, b, func(s *session, c *libvirt.Connect) {
		disks, err := planDisks(c, s.pool, spec)
		if err != nil {
			t.Fatal(err)
		}
		disks[0].VolName = spec.Name + "-root.qcow2"
		var undo undoStack
		if err := b.createVolumes(ctx, s, c, disks, &undo); err != nil {
			t.Fatal(err)
		}
		dom, err := defineDomain(ctx, c, s.domainType, spec, disks, nil)
		if err != nil {
			undo.run()
			t.Fatal(err)
		}
		defer dom.Free()
		if vm, err = b.readVM(c, dom); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() {
		_ = b.DeleteVM(context.Background(), vm.ID, backend.DeleteOptions{Force: true, DeleteDisks: true})
	})
	path := vm.Disks[0].Path
	if filepath.Base(path) != spec.Name+"-root.qcow2" || !vm.Disks[0].Owned {
		t.Fatalf("disk = %+v, want an owned volume named %s-root.qcow2", vm.Disks[0], spec.Name)
	}
	if err := b.DeleteVM(ctx, vm.ID, backend.DeleteOptions{DeleteDisks: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("volume file %s: %v, want gone", path, err)
	}
	assertGone(t, b, spec.Name)
}
