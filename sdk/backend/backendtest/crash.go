package backendtest

import (
	"context"
	"fmt"
	"testing"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
)

// testCrash makes the hypervisor process of a running VM die behind the
// backend's back (Harness.Crash) and checks that the backend reports the VM
// CRASHED: in a state_changed event on a running WatchEvents call, then in
// GetVM and ListVMs.
func testCrash(t *testing.T, e *env) {
	if e.h.Crash == nil {
		t.Skipf("SKIPPED: Harness.Crash is nil, so a VM whose hypervisor process dies on its own is not tested; " +
			"give the harness a way to kill a running VM's hypervisor process (for QEMU: SIGKILL to the VM's QEMU process)")
	}
	var w *watcher
	if e.info.Has(backend.CapEvents) {
		w = e.watch(t, "WatchEvents")
		e.awaitLive(t, w)
	} else {
		t.Logf("backend does not announce %q: only GetVM and ListVMs are checked after the crash", backend.CapEvents)
	}

	vm, _ := e.create(t, "crash")
	id := vm.ID
	got, err := e.c.StartVM(e.op(t), id)
	e.wantState(t, "StartVM before the crash", id, got, err, backend.StateRunning)
	if w != nil {
		w.expect(t, "StartVM", id, backend.EventStateChanged, backend.StateRunning)
	}
	if got != nil {
		vm = got
	}

	if err := e.h.Crash(t, vm); err != nil {
		t.Fatalf("Harness.Crash(%s) = %v, want the VM's hypervisor process gone", fmtVM(vm), err)
	}
	what := "the hypervisor process of a running VM dying (Harness.Crash)"
	if w != nil {
		w.expect(t, what, id, backend.EventStateChanged, backend.StateCrashed)
	}
	// Without events the backend may notice a moment later; with them, the
	// event came after the state changed.
	ctx, cancel := context.WithTimeout(t.Context(), e.h.eventTimeout())
	defer cancel()
	var last *backend.VM
	err = wait.Poll(ctx, func() error {
		got, err := e.c.GetVM(e.op(t), id)
		if err != nil {
			return fmt.Errorf("GetVM: %s", describe(err))
		}
		last = got
		if got == nil || got.State != backend.StateCrashed {
			return fmt.Errorf("GetVM = %s", fmtVM(got))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after %s: GetVM(%s) did not report state %s within %s (last: %s); a VM whose hypervisor process died without being asked is CRASHED, not %s",
			what, id, backend.StateCrashed, e.h.eventTimeout(), err, stateOf(last))
	}
	if l := e.listByID(t, id); l == nil || l.State != backend.StateCrashed {
		t.Errorf("after %s: ListVMs() lists %s, want it in state %s", what, fmtVM(l), backend.StateCrashed)
	}
	if w != nil {
		w.stop(t)
	}
}

// stateOf names the state of vm, or says there is none.
func stateOf(vm *backend.VM) string {
	if vm == nil {
		return "no VM"
	}
	return string(vm.State)
}
