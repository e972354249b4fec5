package sim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// TestStateFile checks that a host with a state file finds its VMs again
// after a restart, changes included, and refuses a file of another host.
func TestStateFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "host.json")
	cfg := Config{Hostname: "keeper", LogDir: dir, StateFile: file, VMs: VMsConfig{Count: 3, State: "running"}}
	first := New(WithLogger(hclog.NewNullLogger()))
	if err := configure(first, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("no state file after Configure: %v", err)
	}
	made, err := first.CreateVM(ctx, minimalSpec("made"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Crash(PopulatedID("keeper", 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Remove(PopulatedID("keeper", 2)); err != nil {
		t.Fatal(err)
	}
	// The last change touches a state only.
	if _, err := first.PauseVM(ctx, PopulatedID("keeper", 1)); err != nil {
		t.Fatal(err)
	}
	want, _ := first.ListVMs(ctx)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	again := newSim(t, cfg)
	got, err := again.ListVMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("after a restart %d VMs, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].State != want[i].State || got[i].Managed != want[i].Managed || len(got[i].Disks) != len(want[i].Disks) {
			t.Errorf("VM %d after a restart = %+v, want %+v", i, got[i], want[i])
		}
	}
	if vm, err := again.GetVM(ctx, made.ID); err != nil || !vm.Managed {
		t.Errorf("the VM created before the restart = %+v, %v", vm, err)
	}
	if _, err := again.CreateVM(ctx, minimalSpec("made")); plugin.KindOf(err) != plugin.KindConflict {
		t.Errorf("CreateVM of a name taken before the restart = %v, want a conflict", err)
	}

	other := New(WithLogger(hclog.NewNullLogger()))
	defer other.Close()
	err = configure(other, Config{Hostname: "thief", LogDir: dir, StateFile: file})
	if plugin.FieldOf(err) != "state_file" {
		t.Errorf("Configure with another host's state file = %v, want an error on state_file", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = configure(New(WithLogger(hclog.NewNullLogger())), Config{Hostname: "keeper", LogDir: dir, StateFile: bad})
	if plugin.FieldOf(err) != "state_file" {
		t.Errorf("Configure with a corrupt state file = %v, want an error on state_file", err)
	}
}

// TestPluginKilledKeepsVMs kills the plugin process with SIGKILL: the host
// relaunches it, and with a state file the VMs created through it are
// still there, in the state they were.
func TestPluginKilledKeepsVMs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := launch(t, pluginBinary(t), map[string]any{
		"hostname": "phoenix", "log_dir": dir, "state_file": filepath.Join(dir, "state.json"),
		"vms": map[string]any{"count": 2},
	})
	vm, err := b.CreateVM(ctx, minimalSpec("survivor"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.StartVM(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}
	pid := b.Status().PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wait.UntilNil(t, 20*time.Second, "the plugin to be relaunched", func() error {
		if st := b.Status(); !st.Healthy || st.PID == pid || st.PID == 0 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	got, err := b.GetVM(ctx, vm.ID)
	if err != nil || got.State != backend.StateRunning || !got.Managed {
		t.Errorf("GetVM(%s) after the relaunch = %+v, %v; want it RUNNING and managed", vm.ID, got, err)
	}
	if vms, err := b.ListVMs(ctx); err != nil || len(vms) != 3 {
		t.Errorf("ListVMs after the relaunch = %d VMs, %v; want 3", len(vms), err)
	}
}
