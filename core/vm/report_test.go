package vm

import "testing"

func TestHostState(t *testing.T) {
	for _, s := range States {
		want := StateUnknown
		switch s {
		case StateRunning, StateStopped, StatePaused, StateSuspended, StateCrashed, StateStarting, StateStopping:
			want = s
		}
		if got := HostState(string(s)); got != want {
			t.Errorf("HostState(%s) = %s, want %s", s, got, want)
		}
	}
	for _, name := range []string{"", "running", "BLOCKED", "TERMINATED"} {
		if got := HostState(name); got != StateUnknown {
			t.Errorf("HostState(%q) = %s, want UNKNOWN", name, got)
		}
	}
}

func TestIgnoredUUID(t *testing.T) {
	cases := map[string]bool{
		"":                                     true,
		"  ":                                   true,
		"00000000-0000-0000-0000-000000000000": true,
		"00000000000000000000000000000000":     true,
		"ffffffff-ffff-ffff-ffff-ffffffffffff": true,
		"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF": true,
		"0b1f5a3e-0000-4000-8000-000000000001": false,
		"00000000-0000-0000-0000-000000000001": false,
		"ffffffff-ffff-ffff-ffff-fffffffffffe": false,
		// Not UUIDs at all: hosts name their VMs as they like.
		"0000": false,
		"vm-1": false,
	}
	for id, want := range cases {
		if got := IgnoredUUID(id); got != want {
			t.Errorf("IgnoredUUID(%q) = %v, want %v", id, got, want)
		}
	}
}
