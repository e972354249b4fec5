package wire

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/node"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

func TestVMRoundTrip(t *testing.T) {
	in := &backend.VM{
		ID: "aaaaaaaa-0000-4000-8000-000000000001", Name: "web", State: backend.StateCrashed, StateReason: "crashed", Managed: true,
		Spec: backend.VMSpec{
			Name: "web", VCPUs: 2, MemoryMiB: 512, Boot: []string{"hd", "network"}, Description: "d",
			Disks: []backend.DiskSpec{{Name: "disk0", SizeGiB: 4, BaseImage: "/b.qcow2", Bus: "sata"}},
			NICs:  []backend.NICSpec{{Type: "bridge", Source: "br0", MAC: "52:54:00:00:00:01", Model: "e1000"}},
		},
		Disks:      []backend.Disk{{Name: "disk0", Path: "/i/web.qcow2", SizeBytes: 1 << 32, Format: "qcow2", BaseImage: "/b.qcow2", Owned: true}},
		ConsolePTY: "/dev/pts/3",
	}
	if out := VMFromProto(VMToProto(in)); !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
	for _, s := range []backend.PowerState{backend.StateUnknown, backend.StateRunning, backend.StateStopped, backend.StatePaused,
		backend.StateSuspended, backend.StateCrashed, backend.StateStarting, backend.StateStopping} {
		if got := StateFromProto(StateToProto(s)); got != s {
			t.Errorf("state %s came back as %s", s, got)
		}
	}
	if got := StateFromProto(StateToProto("NEW")); got != backend.StateUnknown {
		t.Errorf("an unknown state came back as %s", got)
	}
	if VMToProto(nil) != nil || VMFromProto(nil) != nil || LogTailToProto(nil) != nil || LogTailFromProto(nil) != nil {
		t.Error("nil does not convert to nil")
	}
}

func TestLogTailAndNodeRoundTrip(t *testing.T) {
	tail := &backend.LogTail{Path: "/l", Exists: true, SizeBytes: 9, LastModified: time.Unix(1700000000, 5).UTC(), Lines: []string{"a"}, Truncated: true}
	if got := LogTailFromProto(LogTailToProto(tail)); !reflect.DeepEqual(got, tail) {
		t.Errorf("log tail: %+v", got)
	}
	h := node.HostInfo{Hostname: "h", CPUs: 8, MemoryMiB: 1024, Arch: "x86_64", Hypervisor: "QEMU", HypervisorVersion: "7.2", KVMUsable: true}
	if got := HostFromProto(HostToProto(h)); got != h {
		t.Errorf("host: %+v", got)
	}
	b := node.Backend{Name: "libvirt", Version: "1", Healthy: false, Error: "down"}
	if got := BackendFromProto(BackendToProto(b)); got != b {
		t.Errorf("backend: %+v", got)
	}
}

func TestErrorRoundTrip(t *testing.T) {
	cases := []struct {
		err  error
		is   error
		kind plugin.Kind
	}{
		{plugin.NotFound("vm x not found"), plugin.ErrNotFound, plugin.KindNotFound},
		{plugin.Conflict("vm is stopped"), plugin.ErrConflict, plugin.KindConflict},
		{plugin.Unavailable("libvirtd is down"), plugin.ErrUnavailable, plugin.KindUnavailable},
		{plugin.Unsupported("no pause"), plugin.ErrUnsupported, plugin.KindUnsupported},
		{fmt.Errorf("wrapped: %w", plugin.InvalidArgument("spec.vcpus", "too many")), plugin.ErrInvalidArgument, plugin.KindInvalidArgument},
		{errors.New("boom"), nil, plugin.KindInternal},
		{fmt.Errorf("stop: %w", context.DeadlineExceeded), context.DeadlineExceeded, plugin.KindInternal},
		{fmt.Errorf("stop: %w", context.Canceled), context.Canceled, plugin.KindInternal},
	}
	for _, c := range cases {
		got := ErrorFromProto(ErrorToProto(c.err))
		if got == nil || got.Error() != c.err.Error() {
			t.Errorf("%v came back as %v", c.err, got)
			continue
		}
		if c.is != nil && !errors.Is(got, c.is) {
			t.Errorf("%v came back as %v, not matching %v", c.err, got, c.is)
		}
		if plugin.KindOf(got) != c.kind {
			t.Errorf("%v came back of kind %s, want %s", c.err, plugin.KindOf(got), c.kind)
		}
	}
	if got := ErrorFromProto(ErrorToProto(plugin.InvalidArgument("lines", "bad"))); plugin.FieldOf(got) != "lines" {
		t.Errorf("field lost: %v", got)
	}
	if ErrorToProto(nil) != nil || ErrorFromProto(nil) != nil {
		t.Error("nil does not convert to nil")
	}
}
