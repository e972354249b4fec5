package vm

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// allowed is the design's table, written per state: which actions a VM in
// that state accepts without force.
var allowed = map[State][]Action{
	StateCreating:   {ActionResetState, ActionAdopt},
	StateStarting:   {ActionResetState, ActionAdopt},
	StateRunning:    {ActionStop, ActionReboot, ActionPause, ActionResetState, ActionAdopt},
	StateStopping:   {ActionResetState, ActionAdopt},
	StateStopped:    {ActionStart, ActionDelete, ActionEdit, ActionResetState, ActionAdopt},
	StatePaused:     {ActionStart, ActionStop, ActionResume, ActionResetState, ActionAdopt},
	StateSuspended:  {ActionStop, ActionResume, ActionResetState, ActionAdopt},
	StateRebooting:  {ActionResetState, ActionAdopt},
	StateCrashed:    {ActionStart, ActionDelete, ActionEdit, ActionResetState, ActionAdopt},
	StateMigrating:  {ActionResetState, ActionAdopt},
	StateDeleting:   {ActionResetState, ActionAdopt},
	StateError:      {ActionDelete, ActionEdit, ActionResetState, ActionAdopt},
	StateUnknown:    {ActionResetState, ActionAdopt},
	StateLost:       {ActionDelete, ActionResetState, ActionAdopt},
	StateTerminated: {ActionResetState, ActionAdopt},
}

func TestCheckEveryPair(t *testing.T) {
	if len(allowed) != len(States) {
		t.Fatalf("table covers %d states, model has %d", len(allowed), len(States))
	}
	for _, s := range States {
		for _, a := range Actions {
			want := slices.Contains(allowed[s], a)
			err := Check(a, s, false)
			if (err == nil) != want {
				t.Errorf("Check(%s, %s) = %v, want allowed=%v", a, s, err, want)
			}
			if err != nil {
				var te *TransitionError
				if !errors.As(err, &te) {
					t.Errorf("Check(%s, %s): error %T is not a *TransitionError", a, s, err)
				} else if !strings.Contains(err.Error(), string(s)) {
					t.Errorf("Check(%s, %s): message %q does not name the state", a, s, err)
				}
			}
		}
	}
}

func TestForceDelete(t *testing.T) {
	for _, s := range States {
		err := Check(ActionDelete, s, true)
		refused := s == StateDeleting || s == StateTerminated
		if (err != nil) != refused {
			t.Errorf("forced delete in %s: err=%v, want refused=%v", s, err, refused)
		}
	}
	if err := Check(ActionStart, StateRunning, true); err == nil {
		t.Error("force must only widen delete, but start in RUNNING was allowed")
	}
}

func TestTransitional(t *testing.T) {
	want := map[State]bool{StateCreating: true, StateStarting: true, StateStopping: true, StateRebooting: true, StateMigrating: true, StateDeleting: true}
	for _, s := range States {
		if s.Transitional() != want[s] {
			t.Errorf("%s.Transitional() = %v, want %v", s, s.Transitional(), want[s])
		}
	}
}

func TestThrough(t *testing.T) {
	cases := map[Action]State{
		ActionStart: StateStarting, ActionStop: StateStopping, ActionReboot: StateRebooting,
		ActionDelete: StateDeleting, ActionPause: "", ActionResume: "", ActionResetState: "",
	}
	for a, want := range cases {
		if got := Through(a); got != want {
			t.Errorf("Through(%s) = %q, want %q", a, got, want)
		}
	}
}

func TestHints(t *testing.T) {
	cases := []struct {
		a    Action
		s    State
		want string
	}{
		{ActionStart, StateStopping, "reset_state"},
		{ActionDelete, StateRunning, "force=true"},
		{ActionEdit, StateRunning, "stop it first"},
		{ActionStart, StateUnknown, "unreachable"},
	}
	for _, c := range cases {
		err := Check(c.a, c.s, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%s, %s) = %v, want a message containing %q", c.a, c.s, err, c.want)
		}
	}
	if err := Check("explode", StateRunning, false); err == nil {
		t.Error("unknown action accepted")
	}
}

func TestParse(t *testing.T) {
	if s, err := ParseState(" running "); err != nil || s != StateRunning {
		t.Errorf("ParseState(running) = %q, %v", s, err)
	}
	if _, err := ParseState("flying"); err == nil || !strings.Contains(err.Error(), "flying") {
		t.Errorf("ParseState(flying) = %v, want an error naming it", err)
	}
	if o, err := ParseOrigin("Imported"); err != nil || o != OriginImported {
		t.Errorf("ParseOrigin = %q, %v", o, err)
	}
	if _, err := ParseOrigin("elsewhere"); err == nil {
		t.Error("ParseOrigin(elsewhere) accepted")
	}
	if OriginHostDiscovered.Managed() || !OriginImported.Managed() || !OriginControlPlane.Managed() {
		t.Error("Managed() wrong for some origin")
	}
	if p, err := ParseRestartPolicy(""); err != nil || p != RestartNever {
		t.Errorf("empty restart policy = %q, %v; want never", p, err)
	}
	if _, err := ParseRestartPolicy("sometimes"); err == nil {
		t.Error("ParseRestartPolicy(sometimes) accepted")
	}
	if d, err := ParseDesiredState("STOPPED"); err != nil || d != DesiredStopped {
		t.Errorf("ParseDesiredState = %q, %v", d, err)
	}
	if _, err := ParseDesiredState("paused"); err == nil {
		t.Error("ParseDesiredState(paused) accepted")
	}
}
