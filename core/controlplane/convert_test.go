package controlplane

import (
	"testing"

	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
)

func TestStateOf(t *testing.T) {
	cases := map[backend.PowerState]vm.State{
		backend.StateRunning:   vm.StateRunning,
		backend.StateStopped:   vm.StateStopped,
		backend.StatePaused:    vm.StatePaused,
		backend.StateSuspended: vm.StateSuspended,
		backend.StateCrashed:   vm.StateCrashed,
		backend.StateStarting:  vm.StateStarting,
		backend.StateStopping:  vm.StateStopping,
		backend.StateUnknown:   vm.StateUnknown,
		"SOMETHING-NEW":        vm.StateUnknown,
	}
	for in, want := range cases {
		if got := vm.StateOf(in); got != want {
			t.Errorf("vm.StateOf(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestWithHostDisks(t *testing.T) {
	spec := vm.Spec{Disks: []vm.Disk{{SizeGiB: 1}, {Name: "data", SizeGiB: 2}}}
	host := &backend.VM{Disks: []backend.Disk{{Name: "disk0", Path: "/img/a-disk0.qcow2"}, {Name: "data", Path: "/img/a-data.qcow2"}}}
	got := vm.WithHostDisks(spec, host)
	if got.Disks[0].Name != "disk0" || got.Disks[0].Path != "/img/a-disk0.qcow2" || got.Disks[1].Path != "/img/a-data.qcow2" {
		t.Errorf("withHostDisks = %+v", got.Disks)
	}
	if spec.Disks[0].Path != "" {
		t.Error("withHostDisks changed the requested spec")
	}
}
