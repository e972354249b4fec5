package sim

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// outcome is what an operation does to a VM in a given state: a new state
// with the reason of its event, no change ("" reason, same state), a
// conflict, or the VM gone.
type outcome struct {
	state    backend.PowerState
	reason   string
	conflict bool
	gone     bool
}

var (
	noChange = outcome{}
	conflict = outcome{conflict: true}
)

func to(st backend.PowerState, reason string) outcome { return outcome{state: st, reason: reason} }

// TestTransitions drives a VM in every state through every operation and
// checks the result, the VM afterwards and the events sent.
func TestTransitions(t *testing.T) {
	const (
		S  = backend.StateStopped
		R  = backend.StateRunning
		P  = backend.StatePaused
		SU = backend.StateSuspended
		C  = backend.StateCrashed
		ST = backend.StateStarting
		SP = backend.StateStopping
		U  = backend.StateUnknown
	)
	gone := outcome{gone: true}
	destroyed := to(S, ReasonDestroyed)
	table := map[string]map[backend.PowerState]outcome{
		"StartVM":          {S: to(R, ReasonBooted), R: noChange, P: conflict, SU: conflict, C: to(R, ReasonBooted), ST: conflict, SP: conflict, U: conflict},
		"StopVM":           {S: noChange, R: to(S, ReasonShutdown), P: destroyed, SU: destroyed, C: destroyed, ST: destroyed, SP: destroyed, U: destroyed},
		"StopVM(Force)":    {S: noChange, R: destroyed, P: destroyed, SU: destroyed, C: destroyed, ST: destroyed, SP: destroyed, U: destroyed},
		"RebootVM":         {S: conflict, R: noChange, P: conflict, SU: conflict, C: conflict, ST: conflict, SP: conflict, U: conflict},
		"PauseVM":          {S: conflict, R: to(P, ReasonPaused), P: noChange, SU: conflict, C: conflict, ST: conflict, SP: conflict, U: conflict},
		"ResumeVM":         {S: conflict, R: noChange, P: to(R, ReasonUnpaused), SU: conflict, C: conflict, ST: conflict, SP: conflict, U: conflict},
		"DeleteVM":         {S: gone, R: conflict, P: conflict, SU: conflict, C: gone, ST: conflict, SP: conflict, U: conflict},
		"DeleteVM(Force)":  {S: gone, R: gone, P: gone, SU: gone, C: gone, ST: gone, SP: gone, U: gone},
		"Crash (script)":   {S: conflict, R: to(C, ReasonCrashed), P: to(C, ReasonCrashed), SU: to(C, ReasonCrashed), C: conflict, ST: to(C, ReasonCrashed), SP: to(C, ReasonCrashed), U: conflict},
		"GuestShutdown":    {S: conflict, R: to(S, ReasonShutdown), P: conflict, SU: conflict, C: conflict, ST: conflict, SP: to(S, ReasonShutdown), U: conflict},
		"Remove (script)":  {S: gone, R: gone, P: gone, SU: gone, C: gone, ST: gone, SP: gone, U: gone},
		"SetState(PAUSED)": {S: to(P, ReasonScripted), R: to(P, ReasonScripted), P: noChange, SU: to(P, ReasonScripted), C: to(P, ReasonScripted), ST: to(P, ReasonScripted), SP: to(P, ReasonScripted), U: to(P, ReasonScripted)},
	}
	ops := map[string]func(ctx context.Context, b *Backend, id string) (*backend.VM, error){
		"StartVM": func(ctx context.Context, b *Backend, id string) (*backend.VM, error) { return b.StartVM(ctx, id) },
		"StopVM": func(ctx context.Context, b *Backend, id string) (*backend.VM, error) {
			return b.StopVM(ctx, id, backend.StopOptions{})
		},
		"StopVM(Force)": func(ctx context.Context, b *Backend, id string) (*backend.VM, error) {
			return b.StopVM(ctx, id, backend.StopOptions{Force: true})
		},
		"RebootVM": func(ctx context.Context, b *Backend, id string) (*backend.VM, error) { return b.RebootVM(ctx, id) },
		"PauseVM":  func(ctx context.Context, b *Backend, id string) (*backend.VM, error) { return b.PauseVM(ctx, id) },
		"ResumeVM": func(ctx context.Context, b *Backend, id string) (*backend.VM, error) { return b.ResumeVM(ctx, id) },
		"DeleteVM": func(ctx context.Context, b *Backend, id string) (*backend.VM, error) {
			return nil, b.DeleteVM(ctx, id, backend.DeleteOptions{})
		},
		"DeleteVM(Force)": func(ctx context.Context, b *Backend, id string) (*backend.VM, error) {
			return nil, b.DeleteVM(ctx, id, backend.DeleteOptions{Force: true})
		},
		"Crash (script)":   func(_ context.Context, b *Backend, id string) (*backend.VM, error) { return b.Crash(id) },
		"GuestShutdown":    func(_ context.Context, b *Backend, id string) (*backend.VM, error) { return b.GuestShutdown(id) },
		"Remove (script)":  func(_ context.Context, b *Backend, id string) (*backend.VM, error) { return b.Remove(id) },
		"SetState(PAUSED)": func(_ context.Context, b *Backend, id string) (*backend.VM, error) { return b.SetState(id, P) },
	}
	b := newSim(t, Config{Hostname: "trans"})
	ctx := context.Background()
	i := 0
	for op, row := range table {
		for from, want := range row {
			i++
			t.Run(fmt.Sprintf("%s/%s", op, from), func(t *testing.T) {
				vm, err := b.CreateVM(ctx, minimalSpec(fmt.Sprintf("trans-%d", i)))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = b.DeleteVM(ctx, vm.ID, backend.DeleteOptions{Force: true}) })
				if _, err := b.SetState(vm.ID, from); err != nil {
					t.Fatal(err)
				}
				w := watch(t, b)
				got, err := ops[op](ctx, b, vm.ID)
				checkOutcome(t, b, w, op, vm, from, want, got, err)
			})
		}
	}
}

func checkOutcome(t *testing.T, b *Backend, w *events, op string, vm *backend.VM, from backend.PowerState, want outcome, got *backend.VM, err error) {
	t.Helper()
	ctx := context.Background()
	what := fmt.Sprintf("%s of a %s VM", op, from)
	after, gerr := b.GetVM(ctx, vm.ID)
	switch {
	case want.conflict:
		if plugin.KindOf(err) != plugin.KindConflict || !strings.Contains(err.Error(), strings.ToLower(string(from))) {
			t.Errorf("%s = %v, want a conflict naming %s", what, err, strings.ToLower(string(from)))
		}
		if gerr != nil || after.State != from {
			t.Errorf("%s: afterwards %v, %v; want the VM still %s", what, after, gerr, from)
		}
		w.quiet(t, 0, 20*time.Millisecond)
	case want.gone:
		if err != nil {
			t.Fatalf("%s = %v, want success", what, err)
		}
		if plugin.KindOf(gerr) != plugin.KindNotFound {
			t.Errorf("%s: GetVM afterwards = %v, %v; want not found", what, after, gerr)
		}
		var expect []backend.Event
		if !strings.HasPrefix(op, "Remove") && from != backend.StateStopped && from != backend.StateCrashed {
			expect = append(expect, backend.Event{Type: backend.EventStateChanged, State: backend.StateStopped, Reason: ReasonDestroyed})
		}
		expect = append(expect, backend.Event{Type: backend.EventDeleted, Reason: ReasonRemoved})
		checkEvents(t, what, w.wait(t, len(expect)), vm, expect)
		w.quiet(t, len(expect), 20*time.Millisecond)
	default:
		state := want.state
		if state == "" {
			state = from
		}
		if err != nil {
			t.Fatalf("%s = %v, want success and %s", what, err, state)
		}
		if got == nil || got.ID != vm.ID || got.State != state {
			t.Errorf("%s returned %+v, want the VM %s", what, got, state)
		}
		if gerr != nil || after.State != state {
			t.Errorf("%s: GetVM afterwards = %+v, %v; want %s", what, after, gerr, state)
		}
		if want.state == "" {
			w.quiet(t, 0, 20*time.Millisecond)
			return
		}
		if after.StateReason != want.reason {
			t.Errorf("%s: state reason %q, want %q", what, after.StateReason, want.reason)
		}
		expect := []backend.Event{{Type: backend.EventStateChanged, State: state, Reason: want.reason}}
		checkEvents(t, what, w.wait(t, 1), vm, expect)
		w.quiet(t, 1, 20*time.Millisecond)
	}
}

// checkEvents compares events with the expected type, state and reason of
// each, for vm.
func checkEvents(t *testing.T, what string, got []backend.Event, vm *backend.VM, want []backend.Event) {
	t.Helper()
	if len(got) < len(want) {
		t.Errorf("%s: events %s, want %d", what, fmtEvents(got), len(want))
		return
	}
	for i, w := range want {
		g := got[i]
		if g.Type != w.Type || g.State != w.State || g.Reason != w.Reason || g.VMID != vm.ID || g.VMName != vm.Name || g.Time.IsZero() {
			t.Errorf("%s: event %d = %s, want {%s %s %q %s %q} with a time", what, i, fmtEvent(g), w.Type, vm.ID, vm.Name, w.State, w.Reason)
		}
	}
}

// TestInvalidIDs checks that ids that are not UUIDs are invalid arguments
// naming "id", and that an uppercase UUID finds the VM.
func TestInvalidIDs(t *testing.T) {
	ctx := context.Background()
	b := newSim(t, Config{Hostname: "ids", VMs: VMsConfig{Count: 1}})
	for _, id := range []string{"", "vm-1", "1234", PopulatedID("ids", 0) + "0"} {
		_, err := b.GetVM(ctx, id)
		if plugin.KindOf(err) != plugin.KindInvalidArgument || plugin.FieldOf(err) != "id" {
			t.Errorf("GetVM(%q) = %v, want an invalid argument on id", id, err)
		}
		if err := b.DeleteVM(ctx, id, backend.DeleteOptions{}); plugin.FieldOf(err) != "id" {
			t.Errorf("DeleteVM(%q) = %v, want an invalid argument on id", id, err)
		}
		if _, err := b.SetState(id, backend.StateRunning); plugin.FieldOf(err) != "id" {
			t.Errorf("SetState(%q) = %v, want an invalid argument on id", id, err)
		}
	}
	upper := strings.ToUpper(PopulatedID("ids", 0))
	if vm, err := b.GetVM(ctx, upper); err != nil || vm.ID != PopulatedID("ids", 0) {
		t.Errorf("GetVM(%s) = %v, %v; want the VM under its lower-case id", upper, vm, err)
	}
}

// TestStateLog checks the lines state changes write to a VM's log, and that
// log_events false writes none.
func TestStateLog(t *testing.T) {
	ctx := context.Background()
	b := newSim(t, Config{Hostname: "logs"})
	vm, err := b.CreateVM(ctx, minimalSpec("logged"))
	if err != nil {
		t.Fatal(err)
	}
	must := func(_ *backend.VM, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	if tail, err := b.TailLog(ctx, vm.ID, 10); err != nil || tail.Exists {
		t.Fatalf("TailLog of a VM never started = %+v, %v; want no log yet", tail, err)
	}
	must(b.StartVM(ctx, vm.ID))
	must(b.RebootVM(ctx, vm.ID))
	must(b.Crash(vm.ID))
	must(b.StartVM(ctx, vm.ID))
	must(b.StopVM(ctx, vm.ID, backend.StopOptions{}))
	tail, err := b.TailLog(ctx, vm.ID, 10)
	if err != nil || !tail.Exists || tail.Path != b.LogPath("logged") {
		t.Fatalf("TailLog = %+v, %v", tail, err)
	}
	want := []string{
		"sim: vm logged: state stopped -> running (booted)",
		"sim: vm logged: guest rebooted",
		"sim: vm logged: error: guest crashed: state running -> crashed (crashed)",
		"sim: vm logged: state crashed -> running (booted)",
		"sim: vm logged: state running -> stopped (shutdown)",
	}
	if len(tail.Lines) != len(want) {
		t.Fatalf("log lines %q, want %d", tail.Lines, len(want))
	}
	for i, l := range tail.Lines {
		ts, rest, ok := strings.Cut(l, " ")
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !ok || rest != want[i] {
			t.Errorf("log line %d = %q, want a timestamp and %q", i, l, want[i])
		}
	}

	off := false
	quiet := newSim(t, Config{Hostname: "nologs", LogEvents: &off})
	vm, err = quiet.CreateVM(ctx, minimalSpec("silent"))
	if err != nil {
		t.Fatal(err)
	}
	must(quiet.StartVM(ctx, vm.ID))
	if _, err := os.Stat(quiet.LogPath("silent")); !os.IsNotExist(err) {
		t.Errorf("log_events false: %s exists after StartVM (%v)", quiet.LogPath("silent"), err)
	}
}
