package reconcile

import (
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

// TestReportDuringAndAfterDelete: the host stopping a VM on the way to
// deleting it leaves DELETING as it is, and a report the host sent before
// the delete ended does not bring a TERMINATED VM back.
func TestReportDuringAndAfterDelete(t *testing.T) {
	j := Judge{LastSeenRefresh: time.Minute}
	now := time.Now()
	seen := now.Add(-time.Second)
	stopped := HostReport{NodeID: "n1", Observed: &backend.VM{ID: "v1", Name: "a", State: backend.StateStopped}, Now: now}
	for _, tc := range []struct {
		name      string
		cur       vm.VM
		wantState vm.State
	}{
		{"deleting", vm.VM{ID: "v1", NodeID: "n1", IsManaged: true, State: vm.StateDeleting, LastKnownState: vm.StateRunning, LastSeen: &seen}, vm.StateDeleting},
		{"stopping", vm.VM{ID: "v1", NodeID: "n1", IsManaged: true, State: vm.StateStopping, LastKnownState: vm.StateRunning, LastSeen: &seen}, vm.StateStopped},
	} {
		vd := j.Report(&tc.cur, stopped)
		got := tc.cur.State
		if vd.Next != nil {
			got = vd.Next.State
		}
		if got != tc.wantState {
			t.Errorf("%s, host shows STOPPED: %s, want %s", tc.name, got, tc.wantState)
		}
	}
	terminated := vm.VM{ID: "v1", NodeID: "n1", IsManaged: true, State: vm.StateTerminated, LastKnownState: vm.StateStopped, LastSeen: &seen}
	if vd := j.Report(&terminated, stopped); !vd.Empty() {
		t.Errorf("a TERMINATED VM reported STOPPED: %+v, want nothing written", vd.Next)
	}
}

// TestReportOlderThanRecord: a report its node observed before the status
// the record holds (a change sent before a command's reply and applied
// after it) writes nothing, not even the restart policy's desired_state; a
// newer one, one of another node, or one without an observation time is
// applied, and the record keeps the newest observation time.
func TestReportOlderThanRecord(t *testing.T) {
	j := Judge{LastSeenRefresh: time.Minute}
	now := time.Now()
	seen := now.Add(-time.Second)
	stoppedAt := now.Add(-500 * time.Millisecond)
	// Stopped through the API: the stop's reply, observed at stoppedAt.
	cur := vm.VM{ID: "v1", NodeID: "n1", IsManaged: true, State: vm.StateStopped, LastKnownState: vm.StateStopped,
		DesiredState: vm.DesiredRunning, RestartPolicy: vm.RestartNever, LastSeen: &seen, ObservedAt: &stoppedAt}
	running := func(node string, observed time.Time) HostReport {
		return HostReport{NodeID: node, Observed: &backend.VM{ID: "v1", Name: "a", State: backend.StateRunning},
			Reason: "booted", ObservedAt: observed, Now: now}
	}
	if vd := j.Report(&cur, running("n1", stoppedAt.Add(-time.Millisecond))); !vd.Empty() {
		t.Errorf("a start's change observed before the stop's reply: wrote %s, want nothing", vd.Next.State)
	}
	for _, tc := range []struct {
		name     string
		rep      HostReport
		observed *time.Time
	}{
		{"observed after the record", running("n1", stoppedAt.Add(time.Millisecond)), ptr(stoppedAt.Add(time.Millisecond))},
		{"another node's clock", running("n2", stoppedAt.Add(-time.Hour)), ptr(stoppedAt.Add(-time.Hour))},
		{"no observation time (full sync)", running("n1", time.Time{}), nil},
	} {
		vd := j.Report(&cur, tc.rep)
		if vd.Next == nil || vd.Next.State != vm.StateRunning {
			t.Errorf("%s: %+v, want RUNNING written", tc.name, vd.Next)
			continue
		}
		if got := vd.Next.ObservedAt; (got == nil) != (tc.observed == nil) || got != nil && !got.Equal(*tc.observed) {
			t.Errorf("%s: observed_at %v, want %v", tc.name, got, tc.observed)
		}
	}
	// Without an observation time on the record, every report counts.
	bare := cur
	bare.ObservedAt = nil
	if vd := j.Report(&bare, running("n1", stoppedAt.Add(-time.Hour))); vd.Next == nil || vd.Next.State != vm.StateRunning {
		t.Errorf("a record without observed_at: %+v, want RUNNING written", vd.Next)
	}
	// A transitional state held by the report keeps the record's time.
	stopping := cur
	stopping.State, stopping.LastKnownState = vm.StateStopping, vm.StateRunning
	if vd := j.Report(&stopping, running("n1", stoppedAt.Add(time.Second))); vd.Next != nil && (vd.Next.State != vm.StateStopping || !vd.Next.ObservedAt.Equal(stoppedAt)) {
		t.Errorf("STOPPING while the host still runs it: %s observed %v, want STOPPING observed %v", vd.Next.State, vd.Next.ObservedAt, stoppedAt)
	}
	if Older(&cur, "n1", time.Time{}) || !Older(&cur, "n1", stoppedAt.Add(-1)) || Older(&cur, "n1", stoppedAt) {
		t.Error("Older: a zero time is never older, a time before the record's is, the same time is not")
	}
}

func ptr[T any](v T) *T { return &v }

// TestGuestShutdownThroughStopping: a guest powering off is reported
// STOPPING (shutting down) and then STOPPED; the restart policy applies as
// for a VM seen stopping at once, while a stop of the control plane (its
// STOPPING keeps the last known RUNNING) restarts nothing.
func TestGuestShutdownThroughStopping(t *testing.T) {
	j := Judge{LastSeenRefresh: time.Minute}
	now := time.Now()
	seen := now.Add(-time.Second)
	report := func(s backend.PowerState, reason string) HostReport {
		return HostReport{NodeID: "n1", Observed: &backend.VM{ID: "v1", Name: "a", State: s}, Reason: reason, Now: now}
	}
	running := vm.VM{ID: "v1", NodeID: "n1", IsManaged: true, State: vm.StateRunning, LastKnownState: vm.StateRunning,
		DesiredState: vm.DesiredRunning, RestartPolicy: vm.RestartAlways, LastSeen: &seen}
	vd := j.Report(&running, report(backend.StateStopping, "guest"))
	if vd.Next == nil || vd.Next.State != vm.StateStopping || vd.Restart {
		t.Fatalf("host reports STOPPING: %+v, restart %v; want STOPPING, no restart yet", vd.Next, vd.Restart)
	}
	stopping := *vd.Next
	vd = j.Report(&stopping, report(backend.StateStopped, "shutdown"))
	if vd.Next == nil || vd.Next.State != vm.StateStopped || !vd.Restart || vd.Next.DesiredState != vm.DesiredRunning {
		t.Errorf("then STOPPED: %+v, restart %v; want STOPPED and a restart by the policy always", vd.Next, vd.Restart)
	}

	never := stopping
	never.RestartPolicy = vm.RestartNever
	if vd = j.Report(&never, report(backend.StateStopped, "shutdown")); vd.Next == nil || vd.Restart || vd.Next.DesiredState != vm.DesiredStopped {
		t.Errorf("policy never, STOPPED after STOPPING: %+v, restart %v; want desired_state stopped", vd.Next, vd.Restart)
	}

	apiStop := running
	apiStop.State = vm.StateStopping // the action's state; last known stays RUNNING
	if vd = j.Report(&apiStop, report(backend.StateStopped, "shutdown")); vd.Restart {
		t.Errorf("a stop of the control plane ending: restart %v, want none", vd.Restart)
	}
}
