package backendtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
)

// probeTimeout is how long the Events subtest waits for the event of one
// probe VM before it tries another.
const probeTimeout = 2 * time.Second

// probeAttempts is how many probe VMs the Events subtest creates at most.
const probeAttempts = 3

// fmtEvent formats an event for failure messages.
func fmtEvent(ev backend.Event) string {
	s := fmt.Sprintf("{%s vm %s", ev.Type, ev.VMID)
	if ev.VMName != "" {
		s += fmt.Sprintf(" %q", ev.VMName)
	}
	if ev.Type == backend.EventStateChanged || ev.State != backend.StateUnknown {
		s += " " + string(ev.State)
	}
	if ev.Reason != "" {
		s += " (" + ev.Reason + ")"
	}
	return s + "}"
}

// eventsFor formats the events collected so far for one VM.
func eventsFor(evs *collector[backend.Event], id string) string {
	var out []string
	for _, ev := range evs.snapshot() {
		if ev.VMID == id {
			out = append(out, fmtEvent(ev))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// watcher is one running WatchEvents call.
type watcher struct {
	e      *env
	name   string
	evs    *collector[backend.Event]
	done   chan error
	sc     *streamCall
	cancel context.CancelFunc
	// cursor is where the next expected event is searched from.
	cursor int
}

// watch starts WatchEvents and waits until the plugin side runs.
func (e *env) watch(t *testing.T, name string) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	w := &watcher{e: e, name: name, evs: newCollector[backend.Event](), done: make(chan error, 1), cancel: cancel}
	if e.tr != nil {
		ctx, w.sc = e.tr.tag(ctx, "events-"+randHex(8))
	}
	go func() {
		w.done <- e.c.WatchEvents(ctx, func(ev backend.Event) error {
			w.evs.add(ev)
			return nil
		})
	}()
	if w.sc != nil {
		timeout := e.h.eventTimeout()
		select {
		case <-w.sc.entered:
		case err := <-w.done:
			t.Fatalf("%s returned %s before the plugin side started, want it to run until cancelled", name, describe(err))
		case <-time.After(timeout):
			t.Fatalf("%s did not reach the plugin within %s", name, timeout)
		}
	}
	return w
}

// expect waits for the next event of VM id of type typ (and state, for
// state changes) and moves the cursor past it.
func (w *watcher) expect(t *testing.T, what, id string, typ backend.EventType, state backend.PowerState) {
	t.Helper()
	timeout := w.e.h.eventTimeout()
	i := w.evs.waitFor(w.cursor, timeout, func(ev backend.Event) bool {
		return ev.VMID == id && ev.Type == typ && (typ != backend.EventStateChanged || ev.State == state)
	})
	if i < 0 {
		want := string(typ)
		if typ == backend.EventStateChanged {
			want += " " + string(state)
		}
		t.Errorf("%s: %s delivered no %s event for VM %s within %s; its events for that VM so far: %s",
			what, w.name, want, id, timeout, eventsFor(w.evs, id))
		return
	}
	w.cursor = i + 1
}

// stop cancels the call and checks that both sides end cleanly.
func (w *watcher) stop(t *testing.T) {
	t.Helper()
	select {
	case err := <-w.done:
		t.Fatalf("%s returned %s before its context was cancelled, want it to run until then", w.name, describe(err))
	default:
	}
	timeout := w.e.h.eventTimeout()
	w.cancel()
	select {
	case err := <-w.done:
		if err != nil {
			t.Errorf("%s after its context was cancelled returned %s, want nil", w.name, describe(err))
		}
	case <-time.After(timeout):
		t.Fatalf("%s did not return within %s of its context being cancelled", w.name, timeout)
	}
	if w.sc != nil {
		select {
		case <-w.sc.done:
			if w.sc.err != nil {
				t.Errorf("the plugin's %s returned %s once the host cancelled, want nil (the contract: until ctx ends, returning nil)", w.name, describe(w.sc.err))
			}
		case <-time.After(timeout):
			t.Errorf("the plugin's %s was still running %s after the host cancelled the stream; it must return when its ctx ends", w.name, timeout)
		}
	}
}

// awaitLive waits until every watcher is live: a subscription is live once
// an event for a VM created after it arrives; until then events may be
// missed without a fault. It creates and deletes probe VMs until each
// watcher delivered an event for the same one, and fails t when none did.
func (e *env) awaitLive(t *testing.T, ws ...*watcher) {
	t.Helper()
	wait := min(probeTimeout, e.h.eventTimeout())
	for attempt := 1; attempt <= probeAttempts; attempt++ {
		probe, _ := e.create(t, "evprobe")
		live := true
		for _, w := range ws {
			live = live && w.evs.waitFor(0, wait, func(ev backend.Event) bool { return ev.VMID == probe.ID }) >= 0
		}
		if err := e.c.DeleteVM(e.op(t), probe.ID, backend.DeleteOptions{Force: true, DeleteDisks: true}); err != nil {
			t.Errorf("DeleteVM(probe VM %s) = %s, want success", probe.ID, describe(err))
		}
		if live {
			return
		}
	}
	got := make([]string, len(ws))
	for i, w := range ws {
		got[i] = fmt.Sprintf("%s got %d events", w.name, len(w.evs.snapshot()))
	}
	t.Fatalf("%d subscriptions did not all deliver an event for any of %d VMs created after subscribing (waited %s for each): CreateVM must produce a %q event on every subscription; %s",
		len(ws), probeAttempts, wait, backend.EventCreated, strings.Join(got, ", "))
}

// testEvents subscribes twice to WatchEvents, drives one VM through its life
// and checks that every step produces its event on each subscription still
// open, and that cancelling a subscription ends it cleanly without
// disturbing the other.
func testEvents(t *testing.T, e *env) {
	e.needCap(t, backend.CapEvents, "WatchEvents")
	a := e.watch(t, "WatchEvents #1")
	b := e.watch(t, "WatchEvents #2")
	both := []*watcher{a, b}

	e.awaitLive(t, both...)

	vm, r := e.create(t, "ev")
	id := vm.ID
	act := func(what string, call func(context.Context) error) {
		t.Helper()
		if err := call(e.op(t)); err != nil {
			t.Fatalf("%s = %s, want success", what, describe(err))
		}
	}

	a.expect(t, "CreateVM", id, backend.EventCreated, "")
	b.expect(t, "CreateVM", id, backend.EventCreated, "")
	act("StartVM", func(ctx context.Context) error { _, err := e.c.StartVM(ctx, id); return err })
	a.expect(t, "StartVM", id, backend.EventStateChanged, backend.StateRunning)
	b.expect(t, "StartVM", id, backend.EventStateChanged, backend.StateRunning)

	// The second subscription ends; the first must keep working.
	b.stop(t)

	if e.info.Has(backend.CapPause) {
		act("PauseVM", func(ctx context.Context) error { _, err := e.c.PauseVM(ctx, id); return err })
		a.expect(t, "PauseVM", id, backend.EventStateChanged, backend.StatePaused)
		act("ResumeVM", func(ctx context.Context) error { _, err := e.c.ResumeVM(ctx, id); return err })
		a.expect(t, "ResumeVM", id, backend.EventStateChanged, backend.StateRunning)
	} else {
		t.Logf("backend does not announce %q: events of PauseVM and ResumeVM are not tested", backend.CapPause)
	}
	act("StopVM(Force)", func(ctx context.Context) error {
		_, err := e.c.StopVM(ctx, id, backend.StopOptions{Force: true})
		return err
	})
	a.expect(t, "StopVM(Force)", id, backend.EventStateChanged, backend.StateStopped)
	act("DeleteVM", func(ctx context.Context) error {
		return e.c.DeleteVM(ctx, id, backend.DeleteOptions{DeleteDisks: true})
	})
	a.expect(t, "DeleteVM", id, backend.EventDeleted, "")

	for _, ev := range a.evs.snapshot() {
		if ev.VMID != id {
			continue
		}
		switch ev.Type {
		case backend.EventCreated, backend.EventDeleted, backend.EventStateChanged:
		default:
			t.Errorf("event %s for VM %s has type %q, want created, state_changed or deleted", fmtEvent(ev), id, ev.Type)
		}
		if ev.VMName != "" && ev.VMName != r.name {
			t.Errorf("event %s for VM %s names it %q, want %q", fmtEvent(ev), id, ev.VMName, r.name)
		}
	}
	a.stop(t)
}
