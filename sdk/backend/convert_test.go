package backend

import (
	"reflect"
	"testing"
	"time"
)

func TestVMRoundTrip(t *testing.T) {
	in := &VM{
		ID: "aaaaaaaa-0000-4000-8000-000000000001", Name: "web", State: StateCrashed, StateReason: "crashed", Managed: true,
		Spec: VMSpec{
			Name: "web", VCPUs: 2, MemoryMiB: 512, Boot: []string{"hd", "network"}, Description: "d",
			Kernel: "/k/vmlinuz", Initrd: "/k/initrd.img", Cmdline: "console=ttyS0 quiet",
			Disks: []DiskSpec{{Name: "disk0", SizeGiB: 4, BaseImage: "/b.qcow2", Bus: "sata"}},
			NICs:  []NICSpec{{Type: "bridge", Source: "br0", MAC: "52:54:00:00:00:01", Model: "e1000"}},
		},
		Disks:      []Disk{{Name: "disk0", Path: "/i/web.qcow2", SizeBytes: 1 << 32, Format: "qcow2", BaseImage: "/b.qcow2", Owned: true}},
		ConsolePTY: "/dev/pts/3",
	}
	if out := VMFromProto(VMToProto(in)); !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
	for _, s := range []PowerState{StateUnknown, StateRunning, StateStopped, StatePaused, StateSuspended, StateCrashed, StateStarting, StateStopping} {
		if got := powerStateFromProto(powerStateToProto(s)); got != s {
			t.Errorf("state %s came back as %s", s, got)
		}
	}
	if got := powerStateFromProto(powerStateToProto("NEW")); got != StateUnknown {
		t.Errorf("an unknown state came back as %s", got)
	}
}

func TestHostInfoAndLogTailRoundTrip(t *testing.T) {
	h := &HostInfo{Hostname: "h", CPUs: 8, MemoryMiB: 1024, Arch: "x86_64", Hypervisor: "QEMU", HypervisorVersion: "7.2",
		LibraryVersion: "9.0.0", KVMUsable: true, DomainType: "kvm"}
	if got := HostInfoFromProto(HostInfoToProto(h)); !reflect.DeepEqual(got, h) {
		t.Errorf("host info: %+v", got)
	}
	tail := &LogTail{Path: "/l", Exists: true, SizeBytes: 9, LastModified: time.Unix(1700000000, 5).UTC(), Lines: []string{"a"}, Truncated: true}
	if got := LogTailFromProto(LogTailToProto(tail)); !reflect.DeepEqual(got, tail) {
		t.Errorf("log tail: %+v", got)
	}
	if got := LogTailFromProto(LogTailToProto(&LogTail{})); got.Lines == nil || !got.LastModified.IsZero() {
		t.Errorf("empty log tail: %+v", got)
	}
}

func TestNilConvertsToNil(t *testing.T) {
	if VMToProto(nil) != nil || VMFromProto(nil) != nil || HostInfoToProto(nil) != nil || HostInfoFromProto(nil) != nil ||
		LogTailToProto(nil) != nil || LogTailFromProto(nil) != nil {
		t.Error("nil does not convert to nil")
	}
	if !reflect.DeepEqual(SpecFromProto(nil), VMSpec{}) {
		t.Error("a nil spec is not the zero spec")
	}
}
