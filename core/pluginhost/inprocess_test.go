package pluginhost

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// withInfo is a backend that describes itself differently.
type withInfo struct {
	backend.Backend
	info plugin.Info
}

func (w withInfo) Info(context.Context) (plugin.Info, error) { return w.info, nil }

// Any Go value implementing backend.Backend links in-process; here it is the
// real plugin's client, so the in-process path runs against the real backend.
func TestInProcessBackend(t *testing.T) {
	real := launch(t, testConfig(t))
	ctx := t.Context()
	logger, _ := testLogger()
	h := NewHost("", logger)
	t.Cleanup(func() { h.Close() })

	p, err := h.AddBackend(ctx, "builtin", real, testSettings())
	if err != nil {
		t.Fatalf("AddBackend: %v", err)
	}
	st := p.Status()
	if !st.Healthy || !st.InProcess || st.PID != 0 || st.APIVersion != backend.APIVersion || st.Info.Name != pluginName {
		t.Errorf("Status = %+v", st)
	}
	if err := p.Health(ctx); err != nil {
		t.Errorf("Health: %v", err)
	}
	vm, err := p.CreateVM(ctx, backend.VMSpec{Name: "pluginhost-inproc", VCPUs: 1, MemoryMiB: 64})
	if err != nil {
		t.Fatalf("CreateVM: %v", err)
	}
	if got, err := p.GetVM(ctx, vm.ID); err != nil || got.Name != vm.Name {
		t.Errorf("GetVM = %+v, %v", got, err)
	}
	if _, err := h.AddBackend(ctx, "builtin", real, testSettings()); err == nil {
		t.Error("a second backend named builtin was accepted")
	}
	if got, ok := h.Backend("builtin"); !ok || got != Managed(p) {
		t.Errorf("Backend(builtin) = %v, %v", got, ok)
	}

	// Closing the in-process backend closes the value it wraps.
	pid := real.Status().PID
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := p.Status(); st.Healthy || !errors.Is(st.LastError, ErrClosed) {
		t.Errorf("Status after Close = %+v", st)
	}
	if err := p.Health(ctx); !errors.Is(err, plugin.ErrUnavailable) {
		t.Errorf("Health after Close = %v", err)
	}
	if processAlive(pid) {
		t.Errorf("the wrapped backend was not closed: plugin pid %d runs", pid)
	}
}

func TestInProcessRefusals(t *testing.T) {
	// The plain gRPC client of the real plugin, without the host's wrapping.
	real := launch(t, testConfig(t)).cur.backend
	ctx := t.Context()
	good, err := real.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sink := good
	sink.Type = plugin.TypeLogSink
	future := good
	future.APIVersions = []int{99}
	incomplete := good
	incomplete.Version = ""

	tests := []struct {
		name    string
		b       backend.Backend
		cfg     map[string]any
		wantHas []string
		kind    plugin.Kind
	}{
		{"not a backend", withInfo{real, sink}, testSettings(), []string{`"logsink" plugin`}, plugin.KindInternal},
		{"no common API version", withInfo{real, future}, testSettings(), []string{"no common plugin API version", "[99]"}, plugin.KindInternal},
		{"incomplete info", withInfo{real, incomplete}, testSettings(), []string{"missing version"}, plugin.KindInternal},
		{"bad config", real, map[string]any{"uri": "test:///default", "bogus": 1}, []string{`plugin "x" config`, `"bogus"`}, plugin.KindInvalidArgument},
		{"unencodable config", real, map[string]any{"uri": make(chan int)}, []string{`plugin "x" config`}, plugin.KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := InProcess(ctx, "x", tt.b, tt.cfg)
			if err == nil {
				t.Fatal("InProcess succeeded")
			}
			for _, s := range tt.wantHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %s", err, s)
				}
			}
			if k := plugin.KindOf(err); k != tt.kind {
				t.Errorf("kind %v, want %v", k, tt.kind)
			}
		})
	}
	if _, err := InProcess(ctx, "", real, nil); err == nil {
		t.Error("InProcess without a name succeeded")
	}
}

// A backend that speaks API version 1, or 2 without the kernel-boot
// capability, gets no direct kernel boot: CreateVM refuses it, naming the
// field, instead of the backend dropping a field it does not know.
func TestKernelBootNeedsTheCapability(t *testing.T) {
	real := launch(t, testConfig(t)).cur.backend
	ctx := t.Context()
	good, err := real.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v1 := good
	v1.APIVersions = []int{1}
	noCap := good
	noCap.Capabilities = nil
	spec := backend.VMSpec{Name: "pluginhost-kernel", VCPUs: 1, MemoryMiB: 64, Kernel: "/boot/vmlinuz", Cmdline: "console=ttyS0"}
	for _, tt := range []struct {
		name string
		info plugin.Info
		want string
	}{
		{"api version 1", v1, "needs backend API version 2"},
		{"no kernel-boot capability", noCap, `capability "kernel-boot"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := InProcess(ctx, "x", withInfo{real, tt.info}, testSettings())
			if err != nil {
				t.Fatal(err)
			}
			vm, err := p.CreateVM(ctx, spec)
			if plugin.KindOf(err) != plugin.KindUnsupported || plugin.FieldOf(err) != "kernel" || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CreateVM with a kernel = %v, %v; want an unsupported error naming kernel and saying %q", vm, err, tt.want)
			}
			if vms, err := real.ListVMs(ctx); err != nil {
				t.Fatal(err)
			} else {
				for _, v := range vms {
					if v.Name == spec.Name {
						t.Errorf("the refused VM %s was created", v.Name)
					}
				}
			}
			// Without kernel boot fields the same backend creates VMs.
			plain := spec
			plain.Name, plain.Kernel, plain.Cmdline = spec.Name+"-"+strings.ReplaceAll(tt.name, " ", "-"), "", ""
			if _, err := p.CreateVM(ctx, plain); err != nil {
				t.Errorf("CreateVM without kernel boot: %v", err)
			}
		})
	}
}
