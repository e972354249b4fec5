package backendtest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/backend/backendtest"
)

// mutantEnv names the contract violation the fake backend commits in a
// child test process started by TestSuiteCatchesViolations.
const mutantEnv = "QX_BACKENDTEST_MUTANT"

// TestConformance runs the suite against the fake backend, which keeps the
// contract, so every subtest must pass.
func TestConformance(t *testing.T) {
	mutant := os.Getenv(mutantEnv)
	logDir := t.TempDir()
	fake := newFake(logDir, mutant)
	h := backendtest.Harness{
		Backend: func(*testing.T) backend.Backend { return fake },
		Spec: func(name string) backend.VMSpec {
			return backend.VMSpec{Name: name, VCPUs: 1, MemoryMiB: 64}
		},
		LogPath: func(vm *backend.VM) string { return fake.logPath(vm.Name) },
	}
	if mutant != "" {
		h.EventTimeout = 1500 * time.Millisecond
	}
	if mutant == "no-logpath" {
		h.LogPath = nil
	}
	backendtest.Run(t, h)

	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		entries, err := os.ReadDir(logDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			t.Errorf("the suite left %s in the log directory", e.Name())
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		for _, vm := range fake.vms {
			t.Errorf("the suite left VM %s (%q) on the host", vm.ID, vm.Name)
		}
	})
}

// TestConformanceGivenClient hands the suite a *backend.GRPCClient, as a
// caller that launched its plugin out of process does; the suite must use it
// as is and pass.
func TestConformanceGivenClient(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("running as a child of TestSuiteCatchesViolations")
	}
	fake := newFake(t.TempDir(), "")
	backendtest.Run(t, backendtest.Harness{
		Backend: func(t *testing.T) backend.Backend { return backendtest.Serve(t, fake) },
		Spec: func(name string) backend.VMSpec {
			return backend.VMSpec{Name: name, VCPUs: 1, MemoryMiB: 64}
		},
		LogPath: func(vm *backend.VM) string { return fake.logPath(vm.Name) },
	})
}

// TestSuiteCatchesViolations runs the suite in child processes against the
// fake backend with one contract violation each and checks that the suite
// fails, saying what is wrong.
func TestSuiteCatchesViolations(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("running as a child of TestSuiteCatchesViolations")
	}
	cases := []struct {
		mutant string
		want   string
	}{
		{"dup-name", "CreateVM with a name already in use: got no error, want a conflict error"},
		{"no-field", `names field "", want "vcpus"`},
		{"get-internal", "GetVM(unknown id"},
		{"pause-stopped", "PauseVM of a stopped VM: got no error, want a conflict error"},
		{"no-deleted-event", "DeleteVM: WatchEvents #1 delivered no deleted event for VM"},
		{"delete-unknown", "want success (deleting a VM that does not exist succeeds)"},
		{"tail-truncated", "TailLog("},
		{"stream-no-reopen", "is not marked Reopened, want true"},
		{"stream-from-start", "lines already in the log must not be sent"},
		{"stream-outlives-delete", "it must end with a not-found error once the VM is deleted"},
		{"unsubscribe-all", "PauseVM: WatchEvents #1 delivered no state_changed PAUSED event"},
		{"leak-watch", "the plugin's WatchEvents #2 was still running"},
		{"no-logpath", "Harness.LogPath is nil"},
		{"keep-disks", "still exists after DeleteVM(DeleteDisks)"},
	}
	for _, tc := range cases {
		t.Run(tc.mutant, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestConformance$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), mutantEnv+"="+tc.mutant)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed against a backend with violation %q, want it to fail; output:\n%s", tc.mutant, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("the suite failed against violation %q without saying %q; output:\n%s", tc.mutant, tc.want, out)
			}
		})
	}
}
