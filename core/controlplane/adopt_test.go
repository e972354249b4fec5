package controlplane

import (
	"context"
	"testing"

	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

// TestAdopt: a host-discovered VM becomes imported and managed; others are
// refused with the reason.
func TestAdopt(t *testing.T) {
	forEachDriver(t, func(t *testing.T, driver string) {
		e := newEnv(t, driver, false)
		ctx := context.Background()
		a := e.register(t, "node-a", 0)
		if err := e.rec.FullSync(ctx, a, []*backend.VM{hostVM(u1, "found", backend.StateRunning), hostVM(u2, "taken", backend.StateStopped),
			hostVM(u3, "off", backend.StateStopped)}); err != nil {
			t.Fatal(err)
		}
		e.seedAll(t, rec(u4, "taken", vm.StateStopped, a, true))

		res, err := e.svc.Adopt(ctx, "found")
		if err != nil {
			t.Fatal(err)
		}
		v := res.VM
		if v.Origin != vm.OriginImported || !v.IsManaged || v.DesiredState != vm.DesiredRunning || v.RestartPolicy != vm.RestartNever || v.State != vm.StateRunning {
			t.Errorf("adopted vm = %+v", v)
		}
		evs := e.events(t, u1)
		if last := evs[len(evs)-1]; last.Action != "adopt" || last.Cause != vm.CauseAPI || !contains(last.Message, "imported") {
			t.Errorf("adopt event %+v", last)
		}
		if res, err := e.svc.Adopt(ctx, u3); err != nil || res.VM.DesiredState != vm.DesiredStopped {
			t.Errorf("adopting a stopped vm = %+v, %v; want desired_state stopped", res, err)
		}
		_, err = e.svc.Adopt(ctx, u1)
		wantKind(t, err, KindConflict, "already managed", "origin imported")
		_, err = e.svc.Adopt(ctx, u4)
		wantKind(t, err, KindConflict, "already managed", "origin control-plane")
		_, err = e.svc.Adopt(ctx, u2)
		wantKind(t, err, KindConflict, "taken by managed vm "+u4)
		_, err = e.svc.Adopt(ctx, "nothing")
		wantKind(t, err, KindNotFound)

		// Adopted, the VM is managed: a full sync without it makes it LOST
		// instead of removing it.
		if err := e.rec.FullSync(ctx, a, []*backend.VM{hostVM(u2, "taken", backend.StateStopped), hostVM(u3, "off", backend.StateStopped)}); err != nil {
			t.Fatal(err)
		}
		if v := e.get(t, u1); v.State != vm.StateLost {
			t.Errorf("the adopted vm gone from its host is %s, want LOST", v.State)
		}
	})
}

// TestUnmanagedRefused: every action but adopt and reads is refused on a
// VM Quantix does not manage, naming why.
func TestUnmanagedRefused(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	ctx := context.Background()
	a := e.register(t, "node-a", 0)
	if err := e.rec.FullSync(ctx, a, []*backend.VM{hostVM(u1, "foreign", backend.StateRunning)}); err != nil {
		t.Fatal(err)
	}
	desc, vcpus := "x", int64(2)
	actions := map[string]func() error{
		"start":       func() error { _, err := e.svc.Start(ctx, u1); return err },
		"stop":        func() error { _, err := e.svc.Stop(ctx, u1, StopOptions{}); return err },
		"reboot":      func() error { _, err := e.svc.Reboot(ctx, u1); return err },
		"pause":       func() error { _, err := e.svc.Pause(ctx, u1); return err },
		"resume":      func() error { _, err := e.svc.Resume(ctx, u1); return err },
		"delete":      func() error { _, err := e.svc.Delete(ctx, u1, true); return err },
		"reset_state": func() error { _, err := e.svc.ResetState(ctx, u1, true); return err },
		"edit":        func() error { _, err := e.svc.Patch(ctx, u1, PatchRequest{Description: &desc}); return err },
		"edit spec":   func() error { _, err := e.svc.Patch(ctx, u1, PatchRequest{VCPUs: &vcpus}); return err },
	}
	for name, act := range actions {
		wantKind(t, act(), KindConflict, `vm "foreign" is not managed by quantix (origin host-discovered); adopt it first`)
		if v := e.get(t, u1); v.State != vm.StateRunning || v.Description != "made by hand" || v.Spec.VCPUs != 4 {
			t.Errorf("%s changed the unmanaged vm: %+v", name, v)
		}
	}
	if _, err := e.svc.Get(ctx, "foreign"); err != nil {
		t.Errorf("reading an unmanaged vm: %v", err)
	}
	if page, err := e.svc.VMEvents(ctx, u1, "", 0); err != nil || len(page.Events) != 1 {
		t.Errorf("its history = %+v, %v", page, err)
	}
	if _, err := e.svc.Adopt(ctx, u1); err != nil {
		t.Fatalf("adopt: %v", err)
	}
	if _, err := e.svc.Patch(ctx, u1, PatchRequest{Description: &desc}); err != nil {
		t.Errorf("editing the adopted vm: %v", err)
	}
}

// TestVMEventsPaging pages a VM's history.
func TestVMEventsPaging(t *testing.T) {
	e := newEnv(t, "sqlite", false)
	ctx := context.Background()
	v := e.seed(t, "paged", vm.StateStopped, "n1")
	for range 5 {
		d := "again"
		if _, err := e.svc.Patch(ctx, v.ID, PatchRequest{Description: &d}); err != nil {
			t.Fatal(err)
		}
	}
	var all []*vm.Event
	cursor := ""
	for pages := 0; ; pages++ {
		page, err := e.svc.VMEvents(ctx, "paged", cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Events...)
		if page.NextCursor == "" {
			if pages != 2 {
				t.Errorf("%d pages before the last, want 2", pages)
			}
			break
		}
		cursor = page.NextCursor
	}
	if len(all) != 5 {
		t.Fatalf("%d events over the pages, want 5", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Errorf("events out of order: %d after %d", all[i].ID, all[i-1].ID)
		}
	}
	_, err := e.svc.VMEvents(ctx, "paged", "x", 2)
	wantKind(t, err, KindBadRequest, "cursor")
	_, err = e.svc.VMEvents(ctx, "paged", "", MaxEventPage+1)
	wantKind(t, err, KindBadRequest, "limit")
	_, err = e.svc.VMEvents(ctx, "nothing", "", 0)
	wantKind(t, err, KindNotFound)
}
