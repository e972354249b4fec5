package controlplane

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/core/vmlog"
	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// TestLifecycle drives one VM through every action on a simulated host,
// through its agent, checking the record, the history and the host.
func TestLifecycle(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver, true)
		ctx := context.Background()

		v, err := e.svc.Create(ctx, CreateRequest{Name: "life", VCPUs: 1, MemoryMiB: 64, Labels: map[string]string{"env": "test"},
			Disks: []vm.Disk{{SizeGiB: 1}}, NICs: []vm.NIC{{Type: "user"}}, Boot: []string{"hd"}})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		host, err := e.b.GetVM(ctx, v.ID)
		if err != nil || host.Name != "life" {
			t.Fatalf("the host does not have the created vm under its id: %+v, %v", host, err)
		}
		if v.State != vm.StateStopped || v.NodeID != e.node || v.DesiredState != vm.DesiredStopped || v.Spec.Disks[0].Path == "" {
			t.Errorf("created vm = %+v", v)
		}
		e.settle(t)
		evs := e.events(t, v.ID)
		if len(evs) != 2 || evs[0].NewState != vm.StateCreating || evs[1].NewState != vm.StateStopped {
			t.Errorf("create history = %+v", evs)
		}
		_, err = e.svc.Create(ctx, CreateRequest{Name: "life", VCPUs: 1, MemoryMiB: 64})
		wantKind(t, err, KindConflict, "taken")

		step := func(name string, want vm.State, res *ActionResult, err error) *vm.VM {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if res.VM.State != want {
				t.Fatalf("%s: state %s, want %s", name, res.VM.State, want)
			}
			h, err := e.b.GetVM(ctx, v.ID)
			if err != nil || vm.StateOf(h.State) != want {
				t.Fatalf("%s: host says %+v, %v; want %s", name, h, err, want)
			}
			// The agent reports the change too; the next action must not
			// race that report.
			e.settle(t)
			return res.VM
		}
		res, err := e.svc.Start(ctx, "life")
		v = step("start", vm.StateRunning, res, err)
		if v.DesiredState != vm.DesiredRunning {
			t.Errorf("desired_state after start = %s", v.DesiredState)
		}
		_, err = e.svc.Start(ctx, v.ID)
		wantKind(t, err, KindConflict, "RUNNING")
		res, err = e.svc.Pause(ctx, v.ID)
		step("pause", vm.StatePaused, res, err)
		res, err = e.svc.Start(ctx, v.ID) // a paused VM starts by resuming
		step("start from paused", vm.StateRunning, res, err)
		res, err = e.svc.Reboot(ctx, v.ID)
		step("reboot", vm.StateRunning, res, err)
		// A graceful stop says the guest shut down (the simulated guest
		// always does), in the reply and the VM's history.
		res, err = e.svc.Stop(ctx, v.ID, StopOptions{})
		v = step("graceful stop", vm.StateStopped, res, err)
		if want := "VM stopped: the guest shut down"; res.Message != want || v.Message != want {
			t.Errorf("after a graceful stop: reply %q, vm message %q; want %q", res.Message, v.Message, want)
		}
		evs = e.events(t, v.ID)
		if last := evs[len(evs)-1]; last.Action != "stop" || last.Message != "VM stopped: the guest shut down" {
			t.Errorf("the graceful stop's event = %+v", last)
		}
		res, err = e.svc.Start(ctx, v.ID)
		step("start again", vm.StateRunning, res, err)
		res, err = e.svc.Stop(ctx, v.ID, StopOptions{Force: true})
		v = step("stop", vm.StateStopped, res, err)
		if v.DesiredState != vm.DesiredStopped || res.Message != "VM stopped (forced)" {
			t.Errorf("after stop: desired %s, message %q", v.DesiredState, res.Message)
		}

		// reset_state asks the host.
		res, err = e.svc.Start(ctx, v.ID)
		step("start", vm.StateRunning, res, err)
		if _, err := e.svc.ResetState(ctx, v.ID, true); err != nil {
			t.Fatal(err)
		}
		res, err = e.svc.ResetState(ctx, v.ID, false)
		if err != nil || res.VM.State != vm.StateRunning || res.Message != "VM state reset to RUNNING" {
			t.Fatalf("reset_state after a forced reset = %+v, %v; want RUNNING from the host", res, err)
		}
		// A reset that finds the state right changes nothing but is in the
		// VM's history all the same.
		before := len(e.events(t, v.ID))
		if res, err = e.svc.ResetState(ctx, v.ID, false); err != nil || res.VM.State != vm.StateRunning {
			t.Fatalf("reset_state of a vm in the right state = %+v, %v", res, err)
		}
		evs = e.events(t, v.ID)
		if last := evs[len(evs)-1]; len(evs) != before+1 || last.Action != "reset_state" || last.OldState != vm.StateRunning ||
			last.NewState != vm.StateRunning || !strings.Contains(last.Message, "reports RUNNING") {
			t.Errorf("history after a reset that changed nothing: %d events, last %+v", len(evs)-before, last)
		}

		_, err = e.svc.Delete(ctx, v.ID, false)
		wantKind(t, err, KindConflict, "RUNNING", "force=true")
		res, err = e.svc.Delete(ctx, v.ID, true)
		if err != nil || res.VM.State != vm.StateTerminated {
			t.Fatalf("forced delete = %+v, %v", res, err)
		}
		if _, err := e.b.GetVM(ctx, v.ID); plugin.KindOf(err) != plugin.KindNotFound {
			t.Errorf("the host still has the deleted vm: %v", err)
		}
		if _, err := e.svc.Get(ctx, "life"); KindOf(err) != KindNotFound {
			t.Errorf("a TERMINATED vm is found by name: %v", err)
		}
		if got, err := e.svc.Get(ctx, v.ID); err != nil || got.State != vm.StateTerminated {
			t.Errorf("by id: %+v, %v", got, err)
		}
		// The name is free again.
		if _, err := e.svc.Create(ctx, CreateRequest{Name: "life", VCPUs: 1, MemoryMiB: 64}); err != nil {
			t.Errorf("re-creating a deleted vm's name: %v", err)
		}
	})
}

// TestCreateFailureLeavesNothing: the backend refuses (the host already
// has a VM of that name); neither the host nor the inventory keeps anything.
func TestCreateFailureLeavesNothing(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	ctx := context.Background()
	foreign, err := e.b.CreateVM(ctx, backend.VMSpec{Name: "taken-on-host", VCPUs: 1, MemoryMiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	// The agent reports the host's own vm: the inventory has it, unmanaged.
	e.settle(t)
	_, err = e.svc.Create(ctx, CreateRequest{Name: "taken-on-host", VCPUs: 1, MemoryMiB: 64})
	wantKind(t, err, KindConflict, "taken-on-host")
	if got, err := e.svc.Get(ctx, "taken-on-host"); err != nil || got.ID != foreign.ID || got.IsManaged || e.count(t) != 1 {
		t.Errorf("after a failed create the name finds %+v, %v (%d records); want the host's own vm only, unmanaged", got, err, e.count(t))
	}
	if h, err := e.b.GetVM(ctx, foreign.ID); err != nil || h.Name != "taken-on-host" {
		t.Errorf("the host's own vm was touched: %v", err)
	}
	_, err = e.svc.Create(ctx, CreateRequest{Name: "bad-image", VCPUs: 1, MemoryMiB: 64, Disks: []vm.Disk{{Name: "root", BaseImage: "/nonexistent/base.qcow2"}}})
	if err == nil {
		t.Fatal("create from a missing base image succeeded")
	}
	if _, err := e.svc.Get(ctx, "bad-image"); KindOf(err) != KindNotFound {
		t.Errorf("a failed create left a record: %v", err)
	}
	_, err = e.svc.Create(ctx, CreateRequest{Name: "x", VCPUs: 1, MemoryMiB: 64, NodeID: "nowhere"})
	wantKind(t, err, KindInvalid, "node_id", "nowhere")
}

// TestHostLostVM: the record places the VM on a host that does not have it
// (it vanished, and no report of that has come yet): an action fails, the
// state goes back with the error kept, and reset_state sets STOPPED.
func TestHostLostVM(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	ctx := context.Background()
	v := rec(u1, "vanishing", vm.StateStopped, e.node, true)
	e.seedAll(t, v)
	_, err := e.svc.Start(ctx, v.ID)
	wantKind(t, err, KindConflict, "reset_state")
	got, _ := e.svc.Get(ctx, v.ID)
	if got.State != vm.StateStopped || got.Message == "" {
		t.Errorf("after a failed start: state %s, message %q; want STOPPED with the error", got.State, got.Message)
	}
	evs := e.events(t, v.ID)
	last := evs[len(evs)-1]
	if last.OldState != vm.StateStarting || last.NewState != vm.StateStopped || last.Message == "" {
		t.Errorf("last event %+v, want STARTING→STOPPED with the error", last)
	}
	if err := e.store.VMs().Update(ctx, withState(got, vm.StateStopping)); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.ResetState(ctx, v.ID, false)
	if err != nil || res.VM.State != vm.StateStopped {
		t.Fatalf("reset_state of a vm the host lacks = %+v, %v", res, err)
	}
}

func withState(v *vm.VM, s vm.State) *vm.VM {
	v.State = s
	return v
}

// TestLogs: the tail comes from the host with a severity per line; a VM
// without a log has an empty tail.
func TestLogs(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	ctx := context.Background()
	v, err := e.svc.Create(ctx, CreateRequest{Name: "logger", VCPUs: 1, MemoryMiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	tail, err := e.svc.Logs(ctx, v.ID, 100)
	if err != nil || tail.Exists || len(tail.Lines) != 0 || tail.LastModified != nil {
		t.Fatalf("tail without a log = %+v, %v; want empty", tail, err)
	}
	content := "starting up\nqemu: warning: slow disk\nIO error on drive\nshutting down\n"
	if err := os.WriteFile(filepath.Join(e.host.LogDir, "logger.log"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tail, err = e.svc.Logs(ctx, "logger", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []LogLine{{1, "qemu: warning: slow disk", vmlog.SeverityWarning}, {2, "IO error on drive", vmlog.SeverityError}, {3, "shutting down", vmlog.SeverityInfo}}
	if len(tail.Lines) != len(want) || !tail.Truncated || tail.SizeBytes != int64(len(content)) || tail.LastModified == nil {
		t.Fatalf("tail = %+v", tail)
	}
	for i := range want {
		if tail.Lines[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, tail.Lines[i], want[i])
		}
	}
	_, err = e.svc.Logs(ctx, v.ID, 0)
	wantKind(t, err, KindBadRequest, "lines")
}

// TestNodes: the agent registers its node with host info and backend
// health; once it goes away, the node is shown UNREACHABLE and actions
// answer unavailable.
func TestNodes(t *testing.T) {
	e := newEnv(t, "sqlite", true)
	ctx := context.Background()
	v, err := e.svc.Create(ctx, CreateRequest{Name: "on-node", VCPUs: 1, MemoryMiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.svc.Nodes(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("nodes = %v, %v", list, err)
	}
	n := list[0]
	if n.ID != e.node || n.State != node.StateReady || !n.Backend.Healthy || n.Backend.Name != "sim" || n.Host.CPUs == 0 || n.LastHeartbeat == nil {
		t.Errorf("node = %+v", n)
	}
	if byName, err := e.svc.Node(ctx, n.Name); err != nil || byName.ID != n.ID {
		t.Errorf("node by name = %+v, %v", byName, err)
	}
	if _, err := e.svc.Node(ctx, "nope"); KindOf(err) != KindNotFound {
		t.Errorf("unknown node: %v", err)
	}
	e.host.Stop()
	wait.Until(t, 5*time.Second, "the node's session to end", func() bool { return len(e.disp.Connected()) == 0 })
	if n, _ := e.svc.Node(ctx, e.node); n.State != node.StateUnreachable || n.Connected {
		t.Errorf("node after its agent went away: %s, connected %v", n.State, n.Connected)
	}
	_, err = e.svc.Start(ctx, v.ID)
	wantKind(t, err, KindUnavailable, e.node)
	_, err = e.svc.Create(ctx, CreateRequest{Name: "nowhere", VCPUs: 1, MemoryMiB: 64})
	wantKind(t, err, KindUnavailable)
}

// A direct kernel boot is checked, sent to the host, stored with the spec
// and read back (the simulated host keeps the paths; the libvirt plugin's
// tests check the files).
func TestCreateKernelBoot(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver, true)
		ctx := context.Background()
		dir := t.TempDir()
		kernel, initrd := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
		for _, f := range []string{kernel, initrd} {
			if err := os.WriteFile(f, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		req := CreateRequest{Name: "kboot", VCPUs: 1, MemoryMiB: 64, Kernel: kernel, Initrd: initrd, Cmdline: "console=ttyS0 quiet"}
		v, err := e.svc.Create(ctx, req)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		check := func(what string, s vm.Spec) {
			t.Helper()
			if s.Kernel != kernel || s.Initrd != initrd || s.Cmdline != "console=ttyS0 quiet" {
				t.Errorf("%s: kernel %q, initrd %q, cmdline %q", what, s.Kernel, s.Initrd, s.Cmdline)
			}
		}
		check("created", v.Spec)
		got, err := e.svc.Get(ctx, "kboot")
		if err != nil {
			t.Fatal(err)
		}
		check("stored", got.Spec)
		host, err := e.b.GetVM(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if host.Spec.Kernel != kernel || host.Spec.Initrd != initrd || host.Spec.Cmdline != req.Cmdline {
			t.Errorf("the host's spec = %+v", host.Spec)
		}

		for _, tc := range []struct {
			name  string
			edit  func(r *CreateRequest)
			field string
		}{
			{"relative kernel", func(r *CreateRequest) { r.Kernel = "vmlinuz" }, "kernel"},
			{"initrd without kernel", func(r *CreateRequest) { r.Kernel = "" }, "initrd"},
		} {
			bad := req
			bad.Name = "kboot-bad"
			tc.edit(&bad)
			_, err := e.svc.Create(ctx, bad)
			var se *Error
			if KindOf(err) != KindInvalid || !errors.As(err, &se) || se.Field != tc.field {
				t.Errorf("%s: create = %v; want invalid naming %s", tc.name, err, tc.field)
			}
			if _, err := e.svc.Get(ctx, "kboot-bad"); KindOf(err) != KindNotFound {
				t.Errorf("%s: the refused vm is in the inventory: %v", tc.name, err)
			}
		}
	})
}
