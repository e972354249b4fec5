package sim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
)

// TestLatency checks that the configured latency delays Backend calls, that
// a context ending meanwhile cuts the wait short, and that Info and the
// scripting methods are not delayed.
func TestLatency(t *testing.T) {
	const latency = 40 * time.Millisecond
	b := newSim(t, Config{Hostname: "slowhost", Latency: latency.String(), VMs: VMsConfig{Count: 1, State: "running"}})
	ctx := context.Background()
	id := PopulatedID("slowhost", 0)
	calls := map[string]func() error{
		"GetVM":    func() error { _, err := b.GetVM(ctx, id); return err },
		"ListVMs":  func() error { _, err := b.ListVMs(ctx); return err },
		"HostInfo": func() error { _, err := b.HostInfo(ctx); return err },
		"PauseVM":  func() error { _, err := b.PauseVM(ctx, id); return err },
		"TailLog":  func() error { _, err := b.TailLog(ctx, id, 1); return err },
	}
	for name, call := range calls {
		start := time.Now()
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if took := time.Since(start); took < latency {
			t.Errorf("%s took %s, want at least the configured %s", name, took, latency)
		}
	}
	for name, call := range map[string]func() error{
		"Info":     func() error { _, err := b.Info(ctx); return err },
		"SetState": func() error { _, err := b.SetState(id, backend.StateRunning); return err },
		"Crash":    func() error { _, err := b.Crash(id); return err },
	} {
		start := time.Now()
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if took := time.Since(start); took >= latency {
			t.Errorf("%s took %s, want no simulated latency", name, took)
		}
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.StartVM(short, id)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("StartVM with a 5ms deadline = %v, want the deadline's error", err)
	}
	if took := time.Since(start); took >= latency {
		t.Errorf("StartVM with a 5ms deadline took %s, want it cut short", took)
	}
	if vm, _ := b.SetState(id, backend.StateCrashed); vm.State != backend.StateCrashed {
		t.Errorf("the VM changed although StartVM gave up: %+v", vm)
	}
}
