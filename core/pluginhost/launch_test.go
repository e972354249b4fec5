package pluginhost

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

func TestLaunchAndCallRealPlugin(t *testing.T) {
	cfg := testConfig(t)
	logger, logs := testLogger()
	cfg.Logger = logger
	b := launch(t, cfg)
	ctx := t.Context()

	st := b.Status()
	if !st.Healthy || st.PID <= 0 || st.Restarts != 0 || st.InProcess {
		t.Fatalf("Status after launch = %+v", st)
	}
	if !processAlive(st.PID) {
		t.Fatalf("plugin pid %d is not running", st.PID)
	}
	if st.APIVersion != backend.APIVersion {
		t.Errorf("negotiated API version %d, want %d", st.APIVersion, backend.APIVersion)
	}
	if err := b.Health(ctx); err != nil {
		t.Errorf("Health: %v", err)
	}

	info, err := b.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Name != pluginName || info.Type != plugin.TypeBackend || info.Version == "" {
		t.Errorf("Info = %+v", info)
	}
	if v, err := plugin.Negotiate(backend.APIVersions, info.APIVersions); err != nil || v != st.APIVersion {
		t.Errorf("Info.APIVersions %v negotiate to %d (%v), status says %d", info.APIVersions, v, err, st.APIVersion)
	}

	host, err := b.HostInfo(ctx)
	if err != nil {
		t.Fatalf("HostInfo: %v", err)
	}
	if host.CPUs <= 0 || host.MemoryMiB == 0 || host.Hypervisor == "" {
		t.Errorf("HostInfo = %+v", host)
	}

	before, err := b.ListVMs(ctx)
	if err != nil {
		t.Fatalf("ListVMs: %v", err)
	}
	vm, err := b.CreateVM(ctx, backend.VMSpec{Name: "pluginhost-create", VCPUs: 1, MemoryMiB: 128})
	if err != nil {
		t.Fatalf("CreateVM: %v", err)
	}
	if vm.ID == "" || vm.Name != "pluginhost-create" || vm.State != backend.StateStopped || !vm.Managed {
		t.Errorf("CreateVM = %+v", vm)
	}
	got, err := b.GetVM(ctx, vm.ID)
	if err != nil {
		t.Fatalf("GetVM: %v", err)
	}
	if got.ID != vm.ID || got.Name != vm.Name || got.Spec.VCPUs != 1 || got.Spec.MemoryMiB != 128 {
		t.Errorf("GetVM = %+v, created %+v", got, vm)
	}
	after, err := b.ListVMs(ctx)
	if err != nil {
		t.Fatalf("ListVMs: %v", err)
	}
	if len(after) != len(before)+1 {
		t.Errorf("ListVMs: %d VMs after creating one, %d before", len(after), len(before))
	}
	if _, err := b.CreateVM(ctx, backend.VMSpec{Name: "pluginhost-create", VCPUs: 1, MemoryMiB: 128}); !errors.Is(err, plugin.ErrConflict) {
		t.Errorf("CreateVM of a taken name: %v, want a conflict", err)
	}
	if err := b.DeleteVM(ctx, vm.ID, backend.DeleteOptions{}); err != nil {
		t.Fatalf("DeleteVM: %v", err)
	}
	if _, err := b.GetVM(ctx, vm.ID); !errors.Is(err, plugin.ErrNotFound) {
		t.Errorf("GetVM of a deleted VM: %v, want not found", err)
	}

	// go-plugin's server logs its address through the plugin's logger, in
	// the plugin process: seeing it here means plugin output is re-logged
	// under the plugin's name.
	wait.UntilNil(t, 2*time.Second, "the plugin's log lines in the host log under agent.plugin.libvirt", func() error {
		if out := logs.String(); !strings.Contains(out, "agent.plugin.libvirt: plugin address") {
			return fmt.Errorf("the host log:\n%s", out)
		}
		return nil
	})
	out := logs.String()
	if strings.Contains(out, "agent.plugin.libvirt.quantix-backend-libvirt") {
		t.Errorf("plugin lines are logged under the binary name, not the plugin's:\n%s", out)
	}
}

func TestConfigureErrorNamesPluginAndAttribute(t *testing.T) {
	cfg := testConfig(t)
	cfg.Settings = map[string]any{"uri": "test:///default", "bogus": 1}
	b, err := LaunchBackend(t.Context(), cfg)
	if err == nil {
		b.Close()
		t.Fatal("LaunchBackend with an unknown config attribute succeeded")
	}
	var perr *plugin.Error
	if !errors.As(err, &perr) {
		t.Fatalf("error %v (%T) is not a *plugin.Error", err, err)
	}
	if perr.Kind != plugin.KindInvalidArgument || perr.Field != "bogus" {
		t.Errorf("kind %v, field %q; want invalid argument, bogus", perr.Kind, perr.Field)
	}
	if !errors.Is(err, plugin.ErrInvalidArgument) {
		t.Errorf("errors.Is(err, plugin.ErrInvalidArgument) is false for %v", err)
	}
	for _, s := range []string{`plugin "libvirt" config`, `"bogus"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
	if strings.Contains(err.Error(), "config: config:") {
		t.Errorf("error repeats its context: %q", err)
	}
	if left := childPlugins(); len(left) > 0 {
		t.Errorf("a plugin whose configuration failed still runs: %v", left)
	}
}

func TestReconfigureIsKeptForRelaunch(t *testing.T) {
	b := launch(t, testConfig(t))
	ctx := t.Context()
	err := b.Configure(ctx, []byte(`{"uri":"test:///default","bogus":true}`), backend.APIVersion)
	if !errors.Is(err, plugin.ErrInvalidArgument) || !strings.Contains(err.Error(), `plugin "libvirt" config`) {
		t.Fatalf("Configure with a bad attribute: %v", err)
	}
	if err := b.Configure(ctx, []byte(`{"uri":"test:///default"}`), backend.APIVersion); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	b.mu.RLock()
	kept := string(b.settings)
	b.mu.RUnlock()
	if kept != `{"uri":"test:///default"}` {
		t.Errorf("settings kept for relaunch = %s", kept)
	}
}
