package libvirt

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

func TestInfo(t *testing.T) {
	info, err := New(WithLogger(testLogger(t))).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := info.Validate(); err != nil {
		t.Fatal(err)
	}
	if info.Name != "libvirt" || info.Type != plugin.TypeBackend || info.Version != Version || !slices.Equal(info.APIVersions, backend.APIVersions) {
		t.Errorf("info = %+v", info)
	}
	for _, c := range []string{backend.CapEvents, backend.CapLogs, backend.CapPause, backend.CapDisks} {
		if !info.Has(c) {
			t.Errorf("capability %s missing", c)
		}
	}
}

func TestConfigureErrors(t *testing.T) {
	b := New(WithLogger(testLogger(t)))
	defer b.Close()
	ctx := context.Background()
	err := b.Configure(ctx, []byte(`{"uri": "test:///default", "colour": "blue"}`), backend.APIVersion)
	wantKind(t, "unknown attribute", err, plugin.KindInvalidArgument, "colour")
	if err != nil && !strings.Contains(err.Error(), "colour") {
		t.Errorf("message %q does not name the attribute", err)
	}
	err = b.Configure(ctx, []byte(`{"uri": "test:///default", "domain_type": "hyperv"}`), backend.APIVersion)
	wantKind(t, "bad domain_type", err, plugin.KindInvalidArgument, "domain_type")
	err = b.Configure(ctx, []byte(`{"uri": "test:///no/such/file.xml"}`), backend.APIVersion)
	wantKind(t, "bad uri", err, plugin.KindUnavailable, "")
	if err != nil && !strings.Contains(err.Error(), "connecting to test:///no/such/file.xml") {
		t.Errorf("message %q lacks the connection context", err)
	}
	if err != nil && strings.Contains(err.Error(), "libvirtd") {
		t.Errorf("message %q asks about libvirtd, which the test driver does not use", err)
	}
	sock := filepath.Join(t.TempDir(), "no-libvirtd", "libvirt-sock")
	err = b.Configure(ctx, []byte(`{"uri": "qemu+unix:///system?socket=`+sock+`"}`), backend.APIVersion)
	wantKind(t, "libvirtd unreachable", err, plugin.KindUnavailable, "")
	if err != nil && !strings.Contains(err.Error(), "is libvirtd running?") {
		t.Errorf("message %q does not ask whether libvirtd runs", err)
	}
	_, err = b.ListVMs(ctx)
	wantKind(t, "list before configure", err, plugin.KindUnavailable, "")
	err = b.Health(ctx)
	wantKind(t, "health before configure", err, plugin.KindUnavailable, "")
}

func TestTestDriverLifecycle(t *testing.T) {
	b := newTestDriverBackend(t)
	ctx := context.Background()
	events := watchEvents(t, b)
	spec := testSpec(testName(t))
	spec.Description = "lifecycle"
	spec.Disks = []backend.DiskSpec{{Name: "root", SizeGiB: 1}, {SizeGiB: 2, Bus: "sata"}}
	spec.NICs = append(spec.NICs, backend.NICSpec{Type: backend.NICNetwork, Source: "default"})
	vm := createVM(t, b, spec)
	if !vm.Managed || vm.State != backend.StateStopped || vm.Spec.Description != "lifecycle" {
		t.Fatalf("created vm = %+v", vm)
	}
	if len(vm.Disks) != 2 || vm.Disks[0].Name != "root" || vm.Disks[1].Name != "disk1" ||
		vm.Disks[0].SizeBytes != 1<<30 || vm.Disks[1].SizeBytes != 2<<30 || !vm.Disks[0].Owned {
		t.Fatalf("disks = %+v", vm.Disks)
	}
	if got := poolVolumes(t, b, spec.Name+"+"); !slices.Equal(got, []string{spec.Name + "+disk1.qcow2", spec.Name + "+root.qcow2"}) &&
		!slices.Equal(got, []string{spec.Name + "+root.qcow2", spec.Name + "+disk1.qcow2"}) {
		t.Fatalf("volumes = %v", got)
	}
	events.waitFor(t, "created", 5*time.Second, func(e backend.Event) bool {
		return e.Type == backend.EventCreated && e.VMID == vm.ID && e.VMName == spec.Name && e.State == backend.StateStopped
	})

	got, err := b.GetVM(ctx, strings.ToUpper(vm.ID))
	if err != nil || got.Name != spec.Name || got.ID != vm.ID {
		t.Fatalf("GetVM = %+v, %v", got, err)
	}
	runLifecycle(t, b, events, vm.ID, time.Second, "shutdown")

	if err := b.DeleteVM(ctx, vm.ID, backend.DeleteOptions{DeleteDisks: true}); err != nil {
		t.Fatal(err)
	}
	events.waitFor(t, "deleted", 5*time.Second, func(e backend.Event) bool {
		return e.Type == backend.EventDeleted && e.VMID == vm.ID
	})
	assertGone(t, b, spec.Name)
	_, err = b.GetVM(ctx, vm.ID)
	wantKind(t, "get deleted", err, plugin.KindNotFound, "")
	if err := b.DeleteVM(ctx, vm.ID, backend.DeleteOptions{DeleteDisks: true}); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
}

// runLifecycle drives a stopped VM through every power operation, checking
// the state each returns, the events that follow and the refused
// transitions. stopReason is the reason a graceful stop ends with:
// "shutdown" when the guest obeys, "destroyed" when the timeout struck.
func runLifecycle(t *testing.T, b *Backend, events *eventLog, id string, stopTimeout time.Duration, stopReason string) {
	t.Helper()
	ctx := context.Background()
	vm, err := b.PauseVM(ctx, id)
	wantKind(t, "pause stopped", err, plugin.KindConflict, "")
	if err != nil && !strings.Contains(err.Error(), "stopped") {
		t.Errorf("conflict %q does not name the state", err)
	}
	_, err = b.RebootVM(ctx, id)
	wantKind(t, "reboot stopped", err, plugin.KindConflict, "")
	_, err = b.ResumeVM(ctx, id)
	wantKind(t, "resume stopped", err, plugin.KindConflict, "")
	vm, err = b.StopVM(ctx, id, backend.StopOptions{})
	wantState(t, "stop stopped", vm, err, backend.StateStopped)

	vm, err = b.StartVM(ctx, id)
	wantState(t, "start", vm, err, backend.StateRunning)
	events.waitState(t, id, backend.StateRunning)
	vm, err = b.StartVM(ctx, id)
	wantState(t, "start running", vm, err, backend.StateRunning)

	vm, err = b.PauseVM(ctx, id)
	wantState(t, "pause", vm, err, backend.StatePaused)
	events.waitState(t, id, backend.StatePaused)
	vm, err = b.PauseVM(ctx, id)
	wantState(t, "pause paused", vm, err, backend.StatePaused)
	_, err = b.StartVM(ctx, id)
	wantKind(t, "start paused", err, plugin.KindConflict, "")
	if err != nil && !strings.Contains(err.Error(), "paused; resume it") {
		t.Errorf("start paused: %q", err)
	}
	_, err = b.RebootVM(ctx, id)
	wantKind(t, "reboot paused", err, plugin.KindConflict, "")

	vm, err = b.ResumeVM(ctx, id)
	wantState(t, "resume", vm, err, backend.StateRunning)
	events.waitFor(t, "resumed", 10*time.Second, func(e backend.Event) bool {
		return e.VMID == id && e.State == backend.StateRunning && e.Reason == "unpaused"
	})
	vm, err = b.ResumeVM(ctx, id)
	wantState(t, "resume running", vm, err, backend.StateRunning)

	vm, err = b.RebootVM(ctx, id)
	wantState(t, "reboot", vm, err, backend.StateRunning)

	start := time.Now()
	vm, err = b.StopVM(ctx, id, backend.StopOptions{Timeout: stopTimeout})
	wantState(t, "graceful stop", vm, err, backend.StateStopped)
	if vm.StateReason != stopReason {
		t.Errorf("graceful stop ended with reason %q, want %q", vm.StateReason, stopReason)
	}
	if stopReason == "destroyed" && time.Since(start) < stopTimeout {
		t.Errorf("graceful stop destroyed the vm after %s, before its timeout %s", time.Since(start), stopTimeout)
	}
	events.waitState(t, id, backend.StateStopped)

	vm, err = b.StartVM(ctx, id)
	wantState(t, "start again", vm, err, backend.StateRunning)
	vm, err = b.PauseVM(ctx, id)
	wantState(t, "pause again", vm, err, backend.StatePaused)
	vm, err = b.StopVM(ctx, id, backend.StopOptions{})
	wantState(t, "stop paused", vm, err, backend.StateStopped)

	vm, err = b.StartVM(ctx, id)
	wantState(t, "start for force stop", vm, err, backend.StateRunning)
	err = b.DeleteVM(ctx, id, backend.DeleteOptions{})
	wantKind(t, "delete running", err, plugin.KindConflict, "")
	if err != nil && !strings.Contains(err.Error(), "running") {
		t.Errorf("delete running: %q does not name the state", err)
	}
	vm, err = b.StopVM(ctx, id, backend.StopOptions{Force: true})
	wantState(t, "force stop", vm, err, backend.StateStopped)
	events.waitFor(t, "destroyed", 10*time.Second, func(e backend.Event) bool {
		return e.VMID == id && e.State == backend.StateStopped && e.Reason == "destroyed"
	})
}

func TestTestDriverUnknownAndMalformedIDs(t *testing.T) {
	b := newTestDriverBackend(t)
	ctx := context.Background()
	unknown := "00000000-1111-4222-8333-444444444444"
	ops := map[string]func(id string) error{
		"get":    func(id string) error { _, err := b.GetVM(ctx, id); return err },
		"start":  func(id string) error { _, err := b.StartVM(ctx, id); return err },
		"stop":   func(id string) error { _, err := b.StopVM(ctx, id, backend.StopOptions{Force: true}); return err },
		"reboot": func(id string) error { _, err := b.RebootVM(ctx, id); return err },
		"pause":  func(id string) error { _, err := b.PauseVM(ctx, id); return err },
		"resume": func(id string) error { _, err := b.ResumeVM(ctx, id); return err },
		"tail":   func(id string) error { _, err := b.TailLog(ctx, id, 10); return err },
		"stream": func(id string) error {
			return b.StreamLog(ctx, id, 0, func(backend.LogLine) error { return nil })
		},
	}
	for name, op := range ops {
		err := op(unknown)
		wantKind(t, name+" unknown", err, plugin.KindNotFound, "")
		if err != nil && !strings.Contains(err.Error(), unknown) {
			t.Errorf("%s: %q does not name the id", name, err)
		}
		wantKind(t, name+" malformed", op("web-1"), plugin.KindInvalidArgument, "id")
	}
	if err := b.DeleteVM(ctx, unknown, backend.DeleteOptions{Force: true}); err != nil {
		t.Errorf("deleting an unknown vm: %v", err)
	}
	wantKind(t, "delete malformed", b.DeleteVM(ctx, "x", backend.DeleteOptions{}), plugin.KindInvalidArgument, "id")
}

// badSpecs are specs CreateVM must refuse, with the error kind and field.
func badSpecs(name string) []struct {
	what  string
	spec  backend.VMSpec
	kind  plugin.Kind
	field string
} {
	mod := func(f func(*backend.VMSpec)) backend.VMSpec {
		s := testSpec(name)
		f(&s)
		return s
	}
	return []struct {
		what  string
		spec  backend.VMSpec
		kind  plugin.Kind
		field string
	}{
		{"zero vcpus", mod(func(s *backend.VMSpec) { s.VCPUs = 0 }), plugin.KindInvalidArgument, "vcpus"},
		{"memory under 16 MiB", mod(func(s *backend.VMSpec) { s.MemoryMiB = 15 }), plugin.KindInvalidArgument, "memory_mib"},
		{"empty name", mod(func(s *backend.VMSpec) { s.Name = "" }), plugin.KindInvalidArgument, "name"},
		{"65 characters", mod(func(s *backend.VMSpec) { s.Name = strings.Repeat("a", 65) }), plugin.KindInvalidArgument, "name"},
		{"slash in name", mod(func(s *backend.VMSpec) { s.Name = name + "/x" }), plugin.KindInvalidArgument, "name"},
		{"relative base image", mod(func(s *backend.VMSpec) {
			s.Disks = []backend.DiskSpec{{BaseImage: "images/base.qcow2"}}
		}), plugin.KindInvalidArgument, "disks[0].base_image"},
		{"missing base image", mod(func(s *backend.VMSpec) {
			s.Disks = []backend.DiskSpec{{SizeGiB: 1}, {BaseImage: "/nonexistent/base.qcow2"}}
		}), plugin.KindInvalidArgument, "disks[1].base_image"},
		{"duplicate disk names", mod(func(s *backend.VMSpec) {
			s.Disks = []backend.DiskSpec{{Name: "d", SizeGiB: 1}, {Name: "d", SizeGiB: 1}}
		}), plugin.KindInvalidArgument, "disks[1].name"},
		{"unknown network after a disk", mod(func(s *backend.VMSpec) {
			s.Disks = []backend.DiskSpec{{SizeGiB: 1}, {SizeGiB: 1}}
			s.NICs = []backend.NICSpec{{Type: backend.NICUser}, {Type: backend.NICNetwork, Source: "qx-no-such-net"}}
		}), plugin.KindInvalidArgument, "nics[1].source"},
	}
}

// checkBadInput runs badSpecs and the duplicate-name case against b.
func checkBadInput(t *testing.T, b *Backend) {
	ctx := context.Background()
	name := testName(t)
	for _, tt := range badSpecs(name) {
		_, err := b.CreateVM(ctx, tt.spec)
		wantKind(t, tt.what, err, tt.kind, tt.field)
		assertGone(t, b, name)
	}
	vm := createVM(t, b, testSpec(name))
	dup := testSpec(name)
	dup.Disks = []backend.DiskSpec{{SizeGiB: 1}}
	_, err := b.CreateVM(ctx, dup)
	wantKind(t, "duplicate name", err, plugin.KindConflict, "")
	if err != nil && !strings.Contains(err.Error(), name) {
		t.Errorf("duplicate: %q does not name the vm", err)
	}
	if got, err := b.GetVM(ctx, vm.ID); err != nil || len(got.Disks) != 0 {
		t.Errorf("the first vm changed: %+v, %v", got, err)
	}
	if vols := poolVolumes(t, b, name+"-"); len(vols) != 0 {
		t.Errorf("duplicate left volumes %v", vols)
	}
}

func TestTestDriverBadInput(t *testing.T) {
	checkBadInput(t, newTestDriverBackend(t))
}

// TestTestDriverForeignVMs checks that domains without Quantix metadata are
// listed as unmanaged and that deleting one never deletes its disks.
func TestTestDriverForeignVMs(t *testing.T) {
	b := newTestDriverBackend(t)
	ctx := context.Background()
	name := testName(t)
	var volPath string
	libvirtConn(t, b, func(s *session, c *libvirt.Connect) {
		d := diskPlan{Pool: s.pool, VolName: name + "-foreign.qcow2", Format: formatQCOW2, Capacity: gib}
		if err := createVolume(c, &d); err != nil {
			t.Fatal(err)
		}
		volPath = d.Path
		def := buildDomain(domainPlan{Spec: testSpec(name), DomainType: "test", Disks: []diskPlan{d}})
		def.Metadata = nil
		doc, err := def.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		dom, err := c.DomainDefineXML(doc)
		if err != nil {
			t.Fatal(err)
		}
		_ = dom.Free()
	})
	vms, err := b.ListVMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var foreign *backend.VM
	for _, vm := range vms {
		if vm.Name == name {
			foreign = vm
		}
	}
	if foreign == nil || foreign.Managed || len(foreign.Disks) != 1 || foreign.Disks[0].Owned || foreign.Disks[0].Path != volPath {
		t.Fatalf("foreign vm = %+v", foreign)
	}
	if err := b.DeleteVM(ctx, foreign.ID, backend.DeleteOptions{DeleteDisks: true}); err != nil {
		t.Fatal(err)
	}
	if domainExists(t, b, name) {
		t.Error("foreign domain not deleted")
	}
	if vols := poolVolumes(t, b, name+"-"); !slices.Equal(vols, []string{name + "-foreign.qcow2"}) {
		t.Errorf("deleting a foreign vm touched its disk: volumes %v", vols)
	}
	libvirtConn(t, b, func(_ *session, c *libvirt.Connect) {
		if err := deleteVolume(c, ownedVolume{Path: volPath}); err != nil {
			t.Error(err)
		}
	})
}

// TestTestDriverOverlay checks overlay planning against the test driver:
// raw and qcow2 bases, the size rule, and that the base is never owned.
func TestTestDriverOverlay(t *testing.T) {
	b := newTestDriverBackend(t)
	dir := t.TempDir()
	qcow := filepath.Join(dir, "base.qcow2")
	if err := os.WriteFile(qcow, qcow2Header(3<<30), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(dir, "base.raw")
	if err := os.WriteFile(raw, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := testSpec(testName(t))
	spec.Disks = []backend.DiskSpec{{BaseImage: qcow, SizeGiB: 1}, {BaseImage: qcow, SizeGiB: 5}, {BaseImage: raw}}
	vm := createVM(t, b, spec)
	wantSizes := []uint64{3 << 30, 5 << 30, 1 << 20}
	wantBases := []string{qcow, qcow, raw}
	for i, d := range vm.Disks {
		if d.SizeBytes != wantSizes[i] || d.BaseImage != wantBases[i] || !d.Owned || d.Format != formatQCOW2 {
			t.Errorf("disk %d = %+v, want %d bytes over %s", i, d, wantSizes[i], wantBases[i])
		}
	}
	libvirtConn(t, b, func(_ *session, c *libvirt.Connect) {
		vol, err := c.LookupStorageVolByPath(vm.Disks[2].Path)
		if err != nil {
			t.Fatal(err)
		}
		defer vol.Free()
		doc, _ := vol.GetXMLDesc(0)
		var def libvirtxml.StorageVolume
		if err := def.Unmarshal(doc); err != nil || def.BackingStore == nil || def.BackingStore.Path != raw ||
			def.BackingStore.Format == nil || def.BackingStore.Format.Type != formatRaw {
			t.Errorf("raw overlay volume: %s", doc)
		}
	})
	if err := b.DeleteVM(context.Background(), vm.ID, backend.DeleteOptions{DeleteDisks: true}); err != nil {
		t.Fatal(err)
	}
	assertGone(t, b, spec.Name)
	for _, p := range []string{qcow, raw} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("base %s: %v", p, err)
		}
	}
}

func TestTestDriverLogs(t *testing.T) {
	b := newTestDriverBackend(t)
	ctx := context.Background()
	vm := createVM(t, b, testSpec(testName(t)))
	_, err := b.TailLog(ctx, vm.ID, 0)
	wantKind(t, "zero lines", err, plugin.KindInvalidArgument, "lines")
	_, err = b.TailLog(ctx, vm.ID, backend.MaxTailLines+1)
	wantKind(t, "too many lines", err, plugin.KindInvalidArgument, "lines")
	tail, err := b.TailLog(ctx, vm.ID, 10)
	if err != nil || tail.Exists || tail.Lines == nil || len(tail.Lines) != 0 {
		t.Fatalf("missing log: %+v, %v", tail, err)
	}
	rt, _ := b.current()
	path := filepath.Join(rt.cfg.QEMULogDir, vm.Name+".log")
	if tail.Path != path {
		t.Errorf("path %s, want %s", tail.Path, path)
	}
	// Followed from its start, the log that does not exist yet gives its
	// first lines whether the call looks before or after they are written.
	sctx, cancel := context.WithCancel(ctx)
	lines := make(chan backend.LogLine, 10)
	done := make(chan error, 1)
	go func() {
		done <- b.StreamLog(sctx, vm.ID, 0, func(l backend.LogLine) error { lines <- l; return nil })
	}()
	appendFile(t, path, "2026-01-01 starting up\nqemu: ready\n")
	tail, err = b.TailLog(ctx, vm.ID, 1)
	if err != nil || !tail.Exists || !tail.Truncated || !slices.Equal(tail.Lines, []string{"qemu: ready"}) {
		t.Fatalf("tail: %+v, %v", tail, err)
	}
	for _, want := range []string{"2026-01-01 starting up", "qemu: ready"} {
		select {
		case l := <-lines:
			if l.Text != want {
				t.Errorf("streamed %q, want %q", l.Text, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no streamed line %q", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("StreamLog returned %v after cancel", err)
	}
}

func TestTestDriverHostInfoAndHealth(t *testing.T) {
	b := newTestDriverBackend(t)
	ctx := context.Background()
	if err := b.Health(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := b.HostInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.DomainType != "test" || h.Hypervisor != "TEST" || h.CPUs <= 0 || h.MemoryMiB == 0 || h.Hostname == "" ||
		!strings.HasPrefix(h.LibraryVersion, "9.") || h.KVMUsable {
		t.Errorf("host info = %+v", h)
	}
}

// TestTestDriverConcurrentPower hammers one VM with every power operation
// from many goroutines: only conflicts may come back, never internal errors.
func TestTestDriverConcurrentPower(t *testing.T) {
	b := newTestDriverBackend(t)
	vm := createVM(t, b, testSpec(testName(t)))
	hammer(t, b, vm.ID, 8, 40)
}

// hammer runs n goroutines doing ops random power operations each on id.
func hammer(t *testing.T, b *Backend, id string, n, ops int) {
	t.Helper()
	ctx := context.Background()
	actions := []func() error{
		func() error { _, err := b.StartVM(ctx, id); return err },
		func() error { _, err := b.StopVM(ctx, id, backend.StopOptions{Force: true}); return err },
		func() error { _, err := b.PauseVM(ctx, id); return err },
		func() error { _, err := b.ResumeVM(ctx, id); return err },
		func() error { _, err := b.RebootVM(ctx, id); return err },
		func() error { _, err := b.GetVM(ctx, id); return err },
		func() error { _, err := b.ListVMs(ctx); return err },
	}
	var wg sync.WaitGroup
	errs := make(chan error, n*ops)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ops {
				if err := actions[rand.IntN(len(actions))](); err != nil && plugin.KindOf(err) != plugin.KindConflict {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent operation: %v (kind %s)", err, plugin.KindOf(err))
	}
	if vm, err := b.StopVM(ctx, id, backend.StopOptions{Force: true}); err != nil || vm.State != backend.StateStopped {
		t.Errorf("final stop: %+v, %v", vm, err)
	}
}

func TestTestDriverReconfigure(t *testing.T) {
	b := newTestDriverBackend(t)
	vm := createVM(t, b, testSpec(testName(t)))
	cfg := fmt.Sprintf(`{"uri": %q, "image_dir": %q}`, testURI, t.TempDir())
	if err := b.Configure(context.Background(), []byte(cfg), backend.APIVersion); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetVM(context.Background(), vm.ID); err != nil {
		t.Fatalf("after reconfigure: %v", err)
	}
}

// appendFile appends s to the file at path, creating it.
func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
