package wire

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/quantixvm/quantix/core/node"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

func TestNodeRoundTrip(t *testing.T) {
	h := &backend.HostInfo{Hostname: "h", CPUs: 8, MemoryMiB: 1024, Arch: "x86_64", Hypervisor: "QEMU", HypervisorVersion: "7.2",
		LibraryVersion: "9.0.0", KVMUsable: true, DomainType: "kvm"}
	want := node.HostInfo{Hostname: "h", CPUs: 8, MemoryMiB: 1024, Arch: "x86_64", Hypervisor: "QEMU", HypervisorVersion: "7.2", KVMUsable: true}
	if got := HostFromProto(backend.HostInfoToProto(h)); got != want {
		t.Errorf("host: %+v", got)
	}
	if got := HostFromProto(nil); got != (node.HostInfo{}) {
		t.Errorf("no host: %+v", got)
	}
	b := node.Backend{Name: "libvirt", Version: "1", Healthy: false, Error: "down"}
	if got := BackendFromProto(BackendToProto(b)); got != b {
		t.Errorf("backend: %+v", got)
	}
	at := time.Unix(1700000000, 5).UTC()
	if got := TimeFromProto(TimeToProto(at)); !got.Equal(at) {
		t.Errorf("time: %v", got)
	}
	if TimeToProto(time.Time{}) != nil || !TimeFromProto(nil).IsZero() {
		t.Error("the zero time does not travel as nil")
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
		{plugin.Unavailable(nil, "libvirtd is down"), plugin.ErrUnavailable, plugin.KindUnavailable},
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

func TestOpName(t *testing.T) {
	for op, want := range map[agentv1.Op]string{
		agentv1.Op_OP_START:    "start",
		agentv1.Op_OP_TAIL_LOG: "tail_log",
		agentv1.Op(99):         "99",
	} {
		if got := OpName(op); got != want {
			t.Errorf("OpName(%d) = %q, want %q", op, got, want)
		}
	}
}
