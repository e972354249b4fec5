package backendtest

import (
	"testing"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// testRelaunch leaves VMs in several states on the host, relaunches the
// plugin (Harness.Relaunch) and checks that the new plugin finds them as
// they were, drives them and reports their events. Every later subtest runs
// against the relaunched plugin.
func testRelaunch(t *testing.T, e *env) {
	if e.h.Relaunch == nil {
		if e.h.CannotRelaunch != "" {
			t.Skipf("SKIPPED: the backend cannot find its VMs again after a relaunch (Harness.CannotRelaunch: %s)", e.h.CannotRelaunch)
		}
		t.Fatal("backendtest: Harness.Relaunch is nil; it must end the plugin under test and start it again, so that the suite checks that a relaunched plugin finds the VMs that run. " +
			"A backend whose VMs cannot outlive its plugin process says why in Harness.CannotRelaunch instead")
	}

	// The VMs to find again, in the states they must be found in.
	type kept struct {
		vm    *backend.VM
		state backend.PowerState
	}
	var vms []kept
	keep := func(label string, steps ...func(id string) (*backend.VM, error)) *backend.VM {
		t.Helper()
		vm, _ := e.create(t, label)
		for _, step := range steps {
			got, err := step(vm.ID)
			if err != nil {
				t.Fatalf("preparing VM %s (%q) for the relaunch: %s", vm.ID, vm.Name, describe(err))
			}
			vm = got
		}
		vms = append(vms, kept{vm, vm.State})
		return vm
	}
	start := func(id string) (*backend.VM, error) { return e.c.StartVM(e.op(t), id) }
	running := keep("relaunch-run", start)
	stopped := keep("relaunch-stop")
	if e.info.Has(backend.CapPause) {
		keep("relaunch-pause", start, func(id string) (*backend.VM, error) { return e.c.PauseVM(e.op(t), id) })
	}
	for _, k := range vms {
		e.wantGetState(t, "before the relaunch", k.vm.ID, k.state)
	}

	impl, err := e.h.Relaunch(e.root)
	if err != nil {
		t.Fatalf("Harness.Relaunch() = %v, want the plugin ended and started again", err)
	}
	if impl == nil {
		t.Fatal("backendtest: Harness.Relaunch returned a nil Backend")
	}
	if err := e.use(t, impl); err != nil {
		t.Fatalf("the relaunched plugin: %v", err)
	}

	const after = "after the plugin was relaunched"
	for _, k := range vms {
		got, err := e.c.GetVM(e.op(t), k.vm.ID)
		switch {
		case plugin.KindOf(err) == plugin.KindNotFound:
			t.Errorf("%s: GetVM(%s) = %s; the VM %q it left %s on the host must be found again", after, k.vm.ID, describe(err), k.vm.Name, k.state)
			continue
		case err != nil:
			t.Errorf("%s: GetVM(%s) = %s, want VM %q %s", after, k.vm.ID, describe(err), k.vm.Name, k.state)
			continue
		case got == nil || got.Name != k.vm.Name || got.State != k.state || !got.Managed:
			t.Errorf("%s: GetVM(%s) = %s, want VM %q still %s and managed, as it was left", after, k.vm.ID, fmtVM(got), k.vm.Name, k.state)
		}
		if l := e.listByID(t, k.vm.ID); l == nil || l.State != k.state {
			t.Errorf("%s: ListVMs() lists %s for VM %s, want it %s", after, fmtVM(l), k.vm.ID, k.state)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// The relaunched plugin drives the VMs it found and reports their
	// events.
	var w *watcher
	if e.info.Has(backend.CapEvents) {
		w = e.watch(t, "WatchEvents "+after)
		e.awaitLive(t, w)
	}
	got, err := e.c.StopVM(e.op(t), running.ID, backend.StopOptions{Force: true})
	e.wantState(t, "StopVM(Force) "+after, running.ID, got, err, backend.StateStopped)
	if w != nil {
		w.expect(t, "StopVM(Force) "+after, running.ID, backend.EventStateChanged, backend.StateStopped)
	}
	if err := e.c.DeleteVM(e.op(t), stopped.ID, backend.DeleteOptions{DeleteDisks: true}); err != nil {
		t.Fatalf("DeleteVM(%s) of a stopped VM %s = %s, want success", stopped.ID, after, describe(err))
	}
	if w != nil {
		w.expect(t, "DeleteVM "+after, stopped.ID, backend.EventDeleted, "")
		w.stop(t)
	}
	e.wantGone(t, stopped.ID, stopped.Name)
}
