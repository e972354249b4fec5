package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/quantixvm/quantix/core/vm"
)

// TestPatchRules checks, in every state, which fields a patch may change:
// the spec only where vm.Check allows editing, the rest always.
func TestPatchRules(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	ctx := context.Background()
	str := func(s string) *string { return &s }
	n := func(v int64) *int64 { return &v }
	patches := []struct {
		name string
		spec bool
		p    PatchRequest
	}{
		{"vcpus", true, PatchRequest{VCPUs: n(2)}},
		{"memory_mib", true, PatchRequest{MemoryMiB: n(128)}},
		{"boot", true, PatchRequest{Boot: &[]string{"network"}}},
		{"kernel", true, PatchRequest{Kernel: str("/srv/guest/vmlinuz")}},
		{"description", false, PatchRequest{Description: str("changed")}},
		{"labels", false, PatchRequest{Labels: &map[string]string{"env": "test"}}},
		{"restart_policy", false, PatchRequest{RestartPolicy: str("on-crash")}},
		{"desired_state", false, PatchRequest{DesiredState: str("running")}},
	}
	for _, s := range vm.States {
		for _, p := range patches {
			v := e.seed(t, fmt.Sprintf("p-%s-%s", s, p.name), s, "")
			got, err := e.svc.Patch(ctx, v.ID, p.p)
			allowed := !p.spec || vm.Check(vm.ActionEdit, s, false) == nil
			if !allowed {
				wantKind(t, err, KindConflict, string(s))
				cur, _ := e.store.VMs().Get(ctx, v.ID)
				if cur.Version != v.Version {
					t.Errorf("%s in %s: refused patch wrote the vm", p.name, s)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s in %s: %v", p.name, s, err)
				continue
			}
			if got.State != s {
				t.Errorf("%s in %s: state became %s", p.name, s, got.State)
			}
			evs := e.events(t, v.ID)
			if len(evs) != 1 || evs[0].Action != "edit" || evs[0].Message != "changed "+p.name {
				t.Errorf("%s in %s: events %+v, want one edit event", p.name, s, evs)
			}
		}
	}
}

func TestPatchValues(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	ctx := context.Background()
	v := e.seed(t, "pv", vm.StateStopped, "")
	other := e.seed(t, "pv-other", vm.StateStopped, "")
	str := func(s string) *string { return &s }
	n := func(v int64) *int64 { return &v }
	cases := []struct {
		p     PatchRequest
		kind  Kind
		parts []string
	}{
		{PatchRequest{Name: str("bad name")}, KindInvalid, []string{"name:"}},
		{PatchRequest{Name: str(other.Name)}, KindConflict, []string{"taken"}},
		{PatchRequest{VCPUs: n(0)}, KindInvalid, []string{"vcpus: must be at least 1"}},
		{PatchRequest{MemoryMiB: n(8)}, KindInvalid, []string{"memory_mib: must be at least 16"}},
		{PatchRequest{RestartPolicy: str("sometimes")}, KindInvalid, []string{"restart_policy"}},
		{PatchRequest{DesiredState: str("paused")}, KindInvalid, []string{"desired_state"}},
		{PatchRequest{Boot: &[]string{"floppy"}}, KindInvalid, []string{"boot[0]"}},
		{PatchRequest{Labels: &map[string]string{"-x": "y"}}, KindInvalid, []string{"labels"}},
	}
	for _, c := range cases {
		_, err := e.svc.Patch(ctx, v.ID, c.p)
		wantKind(t, err, c.kind, c.parts...)
	}
	got, err := e.svc.Patch(ctx, "pv", PatchRequest{Name: str("pv-renamed"), Labels: &map[string]string{"a": "b"}})
	if err != nil || got.Name != "pv-renamed" || got.Labels["a"] != "b" {
		t.Fatalf("rename = %+v, %v", got, err)
	}
	if _, err := e.svc.Get(ctx, "pv-renamed"); err != nil {
		t.Errorf("renamed vm not found by its new name: %v", err)
	}
}

// TestActionRules checks every power action and delete in every state
// with no node connected: a refused transition is a conflict naming the
// state, an allowed one is unavailable; neither writes anything.
func TestActionRules(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	ctx := context.Background()
	actions := map[vm.Action]func(ref string) error{
		vm.ActionStart:  func(ref string) error { _, err := e.svc.Start(ctx, ref); return err },
		vm.ActionStop:   func(ref string) error { _, err := e.svc.Stop(ctx, ref, StopOptions{}); return err },
		vm.ActionReboot: func(ref string) error { _, err := e.svc.Reboot(ctx, ref); return err },
		vm.ActionPause:  func(ref string) error { _, err := e.svc.Pause(ctx, ref); return err },
		vm.ActionResume: func(ref string) error { _, err := e.svc.Resume(ctx, ref); return err },
		vm.ActionDelete: func(ref string) error { _, err := e.svc.Delete(ctx, ref, false); return err },
	}
	for _, s := range vm.States {
		v := e.seed(t, "a-"+string(s), s, "node-gone")
		for a, run := range actions {
			err := run(v.ID)
			if vm.Check(a, s, false) != nil {
				wantKind(t, err, KindConflict, string(s), string(a))
			} else {
				wantKind(t, err, KindUnavailable, "node-gone", "not connected")
			}
			var ce *Error
			if err != nil && asError(err, &ce) && (ce.VM == nil || ce.VM.ID != v.ID) {
				t.Errorf("%s in %s: the error does not carry the vm", a, s)
			}
		}
		cur, _ := e.store.VMs().Get(ctx, v.ID)
		if cur.Version != v.Version || len(e.events(t, v.ID)) != 0 {
			t.Errorf("refused actions in %s wrote the vm", s)
		}
	}
	if _, err := e.svc.Start(ctx, "no-such-vm"); KindOf(err) != KindNotFound || err.Error() != `vm "no-such-vm" not found` {
		t.Errorf("start of an unknown vm: %v", err)
	}
}

func TestForcedDeleteRules(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	for _, s := range vm.States {
		v := e.seed(t, "fd-"+string(s), s, "node-gone")
		_, err := e.svc.Delete(context.Background(), v.ID, true)
		if vm.Check(vm.ActionDelete, s, true) != nil {
			wantKind(t, err, KindConflict, string(s))
		} else {
			wantKind(t, err, KindUnavailable, "node-gone")
		}
	}
}

// TestResetStateForce: from every state, force sets STOPPED without asking
// any host, and records the change.
func TestResetStateForce(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver, false)
		ctx := context.Background()
		for _, s := range vm.States {
			v := e.seed(t, "r-"+string(s), s, "node-gone")
			res, err := e.svc.ResetState(ctx, v.ID, true)
			if err != nil {
				t.Fatalf("forced reset_state in %s: %v", s, err)
			}
			if s == vm.StateCreating {
				// The record of a create no request runs is removed, not
				// made a STOPPED vm the host may lack (see also
				// api.TestResetStateOfLeftoverCreate).
				if res.VM != nil || !strings.Contains(res.Message, "removed without asking") {
					t.Errorf("forced reset_state in CREATING = %+v %q, want the record removed", res.VM, res.Message)
				}
				if _, err := e.store.VMs().Get(ctx, v.ID); err == nil {
					t.Error("forced reset_state in CREATING: the record is still there")
				}
				continue
			}
			if res.VM.State != vm.StateStopped || res.Message != "VM state reset to STOPPED" {
				t.Errorf("forced reset_state in %s = %s %q", s, res.VM.State, res.Message)
			}
			evs := e.events(t, v.ID)
			if s == vm.StateStopped {
				if len(evs) != 1 || evs[0].OldState != s {
					t.Errorf("reset in STOPPED: events %+v, want one recording the message", evs)
				}
				continue
			}
			if len(evs) != 1 || evs[0].OldState != s || evs[0].NewState != vm.StateStopped || evs[0].Action != "reset_state" {
				t.Errorf("reset in %s: events %+v", s, evs)
			}
		}
	})
}

func TestResetStateUnreachable(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	v := e.seed(t, "stuck", vm.StateStopping, "node-gone")
	_, err := e.svc.ResetState(context.Background(), v.ID, false)
	wantKind(t, err, KindUnavailable, "unreachable", "force=true")
}

// TestConcurrentBegin: of many concurrent starts of one VM exactly one
// moves it to STARTING; the others get a conflict naming STARTING.
func TestConcurrentBegin(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver, false)
		v := e.seed(t, "race", vm.StateStopped, "n1")
		const n = 10
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { _, _, errs[i] = e.svc.rec.Begin(context.Background(), v.ID, vm.ActionStart, false) })
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case KindOf(err) == KindConflict:
			default:
				t.Errorf("begin: unexpected error %v", err)
			}
		}
		if won != 1 {
			t.Errorf("%d begins won, want exactly 1", won)
		}
		evs := e.events(t, v.ID)
		if len(evs) != 1 || evs[0].NewState != vm.StateStarting {
			t.Errorf("events %+v, want one STOPPED→STARTING", evs)
		}
	})
}

// TestListHidesTerminated pages through a mix of VMs: TERMINATED ones only
// show when asked for, and no VM is skipped or repeated.
func TestListHidesTerminated(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver, false)
		ctx := context.Background()
		var live, gone []string
		for i := range 11 {
			s := vm.StateStopped
			if i%3 == 1 {
				s = vm.StateTerminated
			}
			v := e.seed(t, fmt.Sprintf("l%02d", i), s, "")
			if s == vm.StateTerminated {
				gone = append(gone, v.Name)
			} else {
				live = append(live, v.Name)
			}
		}
		collect := func(q ListQuery) []string {
			var names []string
			for range 20 {
				p, err := e.svc.List(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.VMs) > q.Limit {
					t.Fatalf("page of %d, limit %d", len(p.VMs), q.Limit)
				}
				for _, v := range p.VMs {
					names = append(names, v.Name)
				}
				if p.NextCursor == "" {
					return names
				}
				q.Cursor = p.NextCursor
			}
			t.Fatal("paging did not end")
			return nil
		}
		if got := collect(ListQuery{Limit: 2}); !slices.Equal(got, live) {
			t.Errorf("list = %v, want %v", got, live)
		}
		if got := collect(ListQuery{Limit: 2, State: vm.StateTerminated}); !slices.Equal(got, gone) {
			t.Errorf("list of TERMINATED = %v, want %v", got, gone)
		}
		if _, err := e.svc.List(ctx, ListQuery{Limit: 1001}); KindOf(err) != KindBadRequest {
			t.Errorf("limit 1001: %v", err)
		}
		if _, err := e.svc.List(ctx, ListQuery{Cursor: "not-a-cursor"}); KindOf(err) != KindBadRequest {
			t.Errorf("bad cursor: %v", err)
		}
	})
}

func asError(err error, target **Error) bool {
	e, ok := err.(*Error)
	if ok {
		*target = e
	}
	return ok
}

// TestBeingCreated: while this process creates a VM, reset_state and
// delete leave its placeholder alone; afterwards they work on it.
func TestBeingCreated(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	ctx := context.Background()
	v := e.seed(t, "in-the-making", vm.StateCreating, "n1")
	e.svc.creating.Store(v.ID, struct{}{})
	_, err := e.svc.ResetState(ctx, v.ID, true)
	wantKind(t, err, KindConflict, "being created")
	_, err = e.svc.Delete(ctx, v.ID, true)
	wantKind(t, err, KindConflict, "being created")
	e.svc.creating.Delete(v.ID)
	if res, err := e.svc.ResetState(ctx, v.ID, true); err != nil || res.VM != nil {
		t.Errorf("reset_state of a placeholder left by a crash = %+v, %v; want it removed", res, err)
	}
}

// TestPatchKernelBoot: kernel, initrd and cmdline change by PATCH under the
// rules of create, each refusal naming its field and writing nothing; an
// empty value clears a field, and clearing the kernel while initrd or
// cmdline stay is refused naming the one left.
func TestPatchKernelBoot(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	ctx := context.Background()
	v := e.seed(t, "pk", vm.StateStopped, "")
	str := func(s string) *string { return &s }
	const kernel, initrd, cmdline = "/srv/guest/vmlinuz", "/srv/guest/initrd.img", "console=ttyS0 quiet"

	refused := []struct {
		p     PatchRequest
		field string
		parts []string
	}{
		{PatchRequest{Kernel: str("vmlinuz")}, "kernel", []string{"kernel:", "absolute"}},
		{PatchRequest{Kernel: str("/srv/vm\x01linuz")}, "kernel", []string{"kernel:", "control"}},
		{PatchRequest{Kernel: str("/" + strings.Repeat("k", 5000))}, "kernel", []string{"kernel:"}},
		{PatchRequest{Initrd: str(initrd)}, "initrd", []string{"initrd: only allowed with kernel"}},
		{PatchRequest{Cmdline: str(cmdline)}, "cmdline", []string{"cmdline: only allowed with kernel"}},
		{PatchRequest{Kernel: str(kernel), Initrd: str("initrd.img")}, "initrd", []string{"initrd:", "absolute"}},
		{PatchRequest{Kernel: str(kernel), Cmdline: str("console=ttyS0\nquiet")}, "cmdline", []string{"cmdline: control character"}},
		{PatchRequest{Kernel: str(kernel), Cmdline: str(strings.Repeat("x", 2049))}, "cmdline", []string{"cmdline: 2049 bytes"}},
	}
	for _, c := range refused {
		_, err := e.svc.Patch(ctx, v.ID, c.p)
		wantKind(t, err, KindInvalid, c.parts...)
		if ce := (*Error)(nil); errors.As(err, &ce) && ce.Field != c.field {
			t.Errorf("patch %+v: error names field %q, want %q", c.p, ce.Field, c.field)
		}
	}
	if cur, _ := e.store.VMs().Get(ctx, v.ID); cur.Version != v.Version {
		t.Fatalf("refused patches wrote the vm: version %d, was %d", cur.Version, v.Version)
	}

	got, err := e.svc.Patch(ctx, v.ID, PatchRequest{Kernel: str(kernel), Initrd: str(initrd), Cmdline: str(cmdline)})
	if err != nil {
		t.Fatalf("setting the kernel boot: %v", err)
	}
	if got.Spec.Kernel != kernel || got.Spec.Initrd != initrd || got.Spec.Cmdline != cmdline {
		t.Fatalf("spec after patch = %+v", got.Spec)
	}
	if evs := e.events(t, v.ID); len(evs) != 1 || evs[0].Message != "changed kernel, initrd, cmdline" {
		t.Errorf("events %+v, want one edit event naming kernel, initrd, cmdline", evs)
	}

	// Clearing the kernel alone leaves initrd and cmdline without one.
	for _, c := range []struct {
		p     PatchRequest
		field string
	}{
		{PatchRequest{Kernel: str("")}, "initrd"},
		{PatchRequest{Kernel: str(""), Initrd: str("")}, "cmdline"},
	} {
		_, err := e.svc.Patch(ctx, v.ID, c.p)
		wantKind(t, err, KindInvalid, c.field+":", "needs a kernel")
		if ce := (*Error)(nil); errors.As(err, &ce) && ce.Field != c.field {
			t.Errorf("clearing the kernel: error names field %q, want %q", ce.Field, c.field)
		}
	}
	got, err = e.svc.Patch(ctx, v.ID, PatchRequest{Cmdline: str("")})
	if err != nil || got.Spec.Cmdline != "" || got.Spec.Kernel != kernel || got.Spec.Initrd != initrd {
		t.Fatalf("clearing cmdline = %+v, %v", got, err)
	}
	got, err = e.svc.Patch(ctx, v.ID, PatchRequest{Kernel: str(""), Initrd: str("")})
	if err != nil || got.Spec.Kernel != "" || got.Spec.Initrd != "" || got.Spec.Cmdline != "" {
		t.Fatalf("clearing kernel and initrd = %+v, %v", got, err)
	}
	stored, err := e.store.VMs().Get(ctx, v.ID)
	if err != nil || stored.Spec.Kernel != "" || stored.Spec.Initrd != "" {
		t.Errorf("stored spec after clearing = %+v, %v", stored.Spec, err)
	}
}
