package backendtest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// wantState checks the reply of a power action that must succeed, then that
// GetVM agrees. A reply in the wrong state is an error; GetVM in the wrong
// state ends the subtest, since the steps after it rely on that state.
func (e *env) wantState(t *testing.T, what, id string, vm *backend.VM, err error, want backend.PowerState) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s = %s, want success and state %s", what, describe(err), want)
	}
	switch {
	case vm == nil:
		t.Errorf("%s succeeded but returned no VM, want the VM in state %s", what, want)
	case vm.ID != id:
		t.Errorf("%s returned VM %s, want the VM acted on (%s)", what, fmtVM(vm), id)
	case vm.State != want:
		t.Errorf("%s returned %s in state %s, want %s", what, fmtVM(vm), vm.State, want)
	}
	e.wantGetState(t, "GetVM after "+what, id, want)
}

// wantGetState checks GetVM's state and ends the subtest when it is wrong.
func (e *env) wantGetState(t *testing.T, what, id string, want backend.PowerState) {
	t.Helper()
	got, err := e.c.GetVM(e.op(t), id)
	if err != nil {
		t.Fatalf("%s: GetVM(%s) = %s, want the VM in state %s", what, id, describe(err), want)
	}
	if got == nil || got.State != want {
		t.Fatalf("%s: GetVM(%s) = %s, want state %s", what, id, fmtVM(got), want)
	}
}

// testTransitions walks one VM through every power transition, allowed and
// refused, and deletes it.
func testTransitions(t *testing.T, e *env) {
	vm, r := e.create(t, "trans")
	id := vm.ID
	canPause := e.info.Has(backend.CapPause)
	force := backend.StopOptions{Force: true}

	e.wantGetState(t, "after CreateVM", id, backend.StateStopped)

	// Refused from STOPPED.
	if canPause {
		_, err := e.c.PauseVM(e.op(t), id)
		wantConflict(t, "PauseVM of a stopped VM", err, backend.StateStopped)
		_, err = e.c.ResumeVM(e.op(t), id)
		wantConflict(t, "ResumeVM of a stopped VM", err, backend.StateStopped)
	}
	_, err := e.c.RebootVM(e.op(t), id)
	wantConflict(t, "RebootVM of a stopped VM", err, backend.StateStopped)
	e.wantGetState(t, "after refused transitions from STOPPED", id, backend.StateStopped)

	// Stopping a stopped VM changes nothing.
	got, err := e.c.StopVM(e.op(t), id, force)
	e.wantState(t, "StopVM(Force) of a stopped VM", id, got, err, backend.StateStopped)
	got, err = e.c.StopVM(e.op(t), id, backend.StopOptions{Timeout: e.h.gracefulStopTimeout()})
	e.wantState(t, "graceful StopVM of a stopped VM", id, got, err, backend.StateStopped)

	got, err = e.c.StartVM(e.op(t), id)
	e.wantState(t, "StartVM of a stopped VM", id, got, err, backend.StateRunning)
	got, err = e.c.StartVM(e.op(t), id)
	e.wantState(t, "StartVM of a running VM", id, got, err, backend.StateRunning)

	if canPause {
		got, err = e.c.PauseVM(e.op(t), id)
		e.wantState(t, "PauseVM of a running VM", id, got, err, backend.StatePaused)
		got, err = e.c.PauseVM(e.op(t), id)
		e.wantState(t, "PauseVM of a paused VM", id, got, err, backend.StatePaused)
		_, err = e.c.StartVM(e.op(t), id)
		wantConflict(t, "StartVM of a paused VM", err, backend.StatePaused)
		e.wantGetState(t, "after StartVM of a paused VM", id, backend.StatePaused)
		got, err = e.c.ResumeVM(e.op(t), id)
		e.wantState(t, "ResumeVM of a paused VM", id, got, err, backend.StateRunning)
		got, err = e.c.ResumeVM(e.op(t), id)
		e.wantState(t, "ResumeVM of a running VM", id, got, err, backend.StateRunning)
	} else {
		_, err = e.c.PauseVM(e.op(t), id)
		wantKind(t, "PauseVM of a backend without the \"pause\" capability", err, plugin.KindUnsupported)
		e.wantGetState(t, "after an unsupported PauseVM", id, backend.StateRunning)
		t.Run("Pause", func(t *testing.T) {
			t.Skipf("SKIPPED: backend %q does not announce the %q capability (Info().Capabilities = %v), so pause and resume transitions are not tested",
				e.info.Name, backend.CapPause, e.info.Capabilities)
		})
	}

	got, err = e.c.RebootVM(e.op(t), id)
	e.wantState(t, "RebootVM of a running VM", id, got, err, backend.StateRunning)

	err = e.c.DeleteVM(e.op(t), id, backend.DeleteOptions{DeleteDisks: true})
	wantConflict(t, "DeleteVM of a running VM without Force", err, backend.StateRunning)
	e.wantGetState(t, "after DeleteVM of a running VM without Force", id, backend.StateRunning)

	got, err = e.c.StopVM(e.op(t), id, force)
	e.wantState(t, "StopVM(Force) of a running VM", id, got, err, backend.StateStopped)
	got, err = e.c.StopVM(e.op(t), id, force)
	e.wantState(t, "StopVM(Force) of a stopped VM", id, got, err, backend.StateStopped)

	// A graceful stop of a guest that may ignore it ends STOPPED once the
	// timeout passes.
	gracefulStop := func(from backend.PowerState) {
		t.Helper()
		timeout := e.h.gracefulStopTimeout()
		what := fmt.Sprintf("graceful StopVM(Timeout %s) of a %s VM", timeout, strings.ToLower(string(from)))
		start := time.Now()
		got, err := e.c.StopVM(e.op(t), id, backend.StopOptions{Timeout: timeout})
		took := time.Since(start)
		e.wantState(t, what, id, got, err, backend.StateStopped)
		if limit := timeout + e.h.gracefulStopSlack(); took > limit {
			t.Errorf("%s took %s, want at most %s: the backend must destroy the VM when the timeout passes",
				what, took.Round(time.Millisecond), limit)
		}
	}
	got, err = e.c.StartVM(e.op(t), id)
	e.wantState(t, "StartVM before a graceful stop", id, got, err, backend.StateRunning)
	gracefulStop(backend.StateRunning)

	if canPause {
		got, err = e.c.StartVM(e.op(t), id)
		e.wantState(t, "StartVM after StopVM", id, got, err, backend.StateRunning)
		got, err = e.c.PauseVM(e.op(t), id)
		e.wantState(t, "PauseVM before stopping a paused VM", id, got, err, backend.StatePaused)
		err = e.c.DeleteVM(e.op(t), id, backend.DeleteOptions{DeleteDisks: true})
		wantConflict(t, "DeleteVM of a paused VM without Force", err, backend.StatePaused)
		e.wantGetState(t, "after DeleteVM of a paused VM without Force", id, backend.StatePaused)
		got, err = e.c.StopVM(e.op(t), id, force)
		e.wantState(t, "StopVM(Force) of a paused VM", id, got, err, backend.StateStopped)

		got, err = e.c.StartVM(e.op(t), id)
		e.wantState(t, "StartVM after StopVM of a paused VM", id, got, err, backend.StateRunning)
		got, err = e.c.PauseVM(e.op(t), id)
		e.wantState(t, "PauseVM before a graceful stop", id, got, err, backend.StatePaused)
		gracefulStop(backend.StatePaused)
	}

	// Delete a running VM with Force; deleting again succeeds.
	got, err = e.c.StartVM(e.op(t), id)
	e.wantState(t, "StartVM before DeleteVM(Force)", id, got, err, backend.StateRunning)
	if err := e.c.DeleteVM(e.op(t), id, backend.DeleteOptions{Force: true, DeleteDisks: true}); err != nil {
		t.Fatalf("DeleteVM(Force) of a running VM = %s, want success", describe(err))
	}
	e.wantGone(t, id, r.name)
	if err := e.c.DeleteVM(e.op(t), id, backend.DeleteOptions{Force: true, DeleteDisks: true}); err != nil {
		t.Errorf("DeleteVM(Force) of a deleted VM = %s, want success", describe(err))
	}
	if err := e.c.DeleteVM(e.op(t), id, backend.DeleteOptions{}); err != nil {
		t.Errorf("DeleteVM of a deleted VM without Force = %s, want success", describe(err))
	}
}

// concurrently runs fn in n goroutines released at the same moment and
// returns what each returned.
func concurrently[T any](n int, fn func(i int) (T, error)) ([]T, []error) {
	vals := make([]T, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			vals[i], errs[i] = fn(i)
		}()
	}
	close(gate)
	wg.Wait()
	return vals, errs
}

// parallelism is how many goroutines the Concurrency subtest runs at once.
const parallelism = 8

// testConcurrency fires the same operation at one VM from many goroutines.
func testConcurrency(t *testing.T, e *env) {
	t.Run("PowerActions", func(t *testing.T) {
		if !e.h.Sequential {
			t.Parallel()
		}
		vm, _ := e.create(t, "conc")
		id := vm.ID

		check := func(what string, vms []*backend.VM, errs []error, want backend.PowerState) {
			t.Helper()
			ok := 0
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
					if vms[i] == nil || vms[i].ID != id || vms[i].State != want {
						t.Errorf("%s [goroutine %d] succeeded with %s, want VM %s in state %s", what, i, fmtVM(vms[i]), id, want)
					}
				case plugin.KindOf(err) != plugin.KindConflict:
					t.Errorf("%s [goroutine %d] = %s, want success or a conflict", what, i, describe(err))
				}
			}
			if ok == 0 {
				t.Errorf("%s: none of %d concurrent calls succeeded, want at least one", what, len(errs))
			}
			e.wantGetState(t, "after "+what, id, want)
		}

		vms, errs := concurrently(parallelism, func(int) (*backend.VM, error) { return e.c.StartVM(e.op(t), id) })
		check(fmt.Sprintf("%d concurrent StartVM", parallelism), vms, errs, backend.StateRunning)
		vms, errs = concurrently(parallelism, func(int) (*backend.VM, error) {
			return e.c.StopVM(e.op(t), id, backend.StopOptions{Force: true})
		})
		check(fmt.Sprintf("%d concurrent StopVM(Force)", parallelism), vms, errs, backend.StateStopped)
		vms, errs = concurrently(parallelism, func(int) (*backend.VM, error) { return e.c.GetVM(e.op(t), id) })
		for i, err := range errs {
			if err != nil {
				t.Errorf("concurrent GetVM [goroutine %d] = %s, want the VM", i, describe(err))
			} else if vms[i] == nil || vms[i].ID != id || vms[i].State != backend.StateStopped {
				t.Errorf("concurrent GetVM [goroutine %d] = %s, want VM %s STOPPED", i, fmtVM(vms[i]), id)
			}
		}
	})

	t.Run("CreateSameName", func(t *testing.T) {
		if !e.h.Sequential {
			t.Parallel()
		}
		r := e.reserve(t, "concname")
		spec := e.spec(t, r.name)
		vms, errs := concurrently(parallelism, func(int) (*backend.VM, error) { return e.c.CreateVM(e.op(t), spec) })
		ok := 0
		for i, err := range errs {
			e.add(r, vms[i])
			switch {
			case err == nil:
				ok++
			case plugin.KindOf(err) != plugin.KindConflict:
				t.Errorf("%d concurrent CreateVM(%q) [goroutine %d] = %s, want success or a conflict", parallelism, spec.Name, i, describe(err))
			}
		}
		if ok != 1 {
			t.Errorf("%d concurrent CreateVM(%q): %d succeeded, want exactly 1 (the rest conflicts)", parallelism, spec.Name, ok)
		}
		if n := len(e.listByName(t, spec.Name)); n != 1 {
			t.Errorf("ListVMs() has %d VMs named %q after %d concurrent CreateVM, want 1", n, spec.Name, parallelism)
		}
	})
}
