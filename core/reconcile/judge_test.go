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
