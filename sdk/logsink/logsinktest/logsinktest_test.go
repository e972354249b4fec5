package logsinktest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/quantixvm/quantix/sdk/logsink"
	"github.com/quantixvm/quantix/sdk/logsink/logsinktest"
)

// mutantEnv names the contract violation the fake sink commits in a child
// test process started by TestSuiteCatchesViolations.
const mutantEnv = "QX_LOGSINKTEST_MUTANT"

// harness returns a harness over one fake sink shared by every subtest, as
// a sink whose successive instances share one destination.
func harness(t *testing.T, mutant string) logsinktest.Harness {
	fake := &fakeSink{mutant: mutant}
	return logsinktest.Harness{
		Sink: func(t *testing.T) logsink.Sink {
			if err := fake.Configure(t.Context(), []byte(`{}`), logsink.APIVersion); err != nil {
				t.Fatal(err)
			}
			return fake
		},
		Delivered: func(*testing.T) []logsink.Entry { return fake.delivered() },
		Outage: func(*testing.T) func() {
			fake.setDown(true)
			return func() { fake.setDown(false) }
		},
		Refusal: func(*testing.T) func() {
			fake.setRefusing(true)
			return func() { fake.setRefusing(false) }
		},
		Reject:          func(e *logsink.Entry) { e.Message = rejectMark + " " + e.Message },
		DeliveryTimeout: time.Second,
	}
}

// TestConformance runs the suite against the fake sink, which keeps the
// contract, so every subtest must pass and none may be skipped.
func TestConformance(t *testing.T) {
	logsinktest.Run(t, harness(t, os.Getenv(mutantEnv)))
}

// TestConformanceGivenClient hands the suite a *logsink.GRPCClient, as a
// caller that launched its plugin out of process does; the suite must use it
// as is and pass, skipping only the fault injection.
func TestConformanceGivenClient(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("running as a child of TestSuiteCatchesViolations")
	}
	h := harness(t, "")
	inner := h.Sink
	h.Sink = func(t *testing.T) logsink.Sink { return logsinktest.Serve(t, inner(t)) }
	logsinktest.Run(t, h)
}

// TestSuiteRefusesIncompleteHarness checks the required fields.
func TestSuiteRefusesIncompleteHarness(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("running as a child of TestSuiteCatchesViolations")
	}
	for _, tc := range []struct{ mutant, want string }{
		{"no-sink", "Harness.Sink is nil"},
		{"no-delivered", "Harness.Delivered is nil"},
	} {
		t.Run(tc.mutant, func(t *testing.T) {
			out := runChild(t, tc.mutant)
			if !strings.Contains(out, tc.want) {
				t.Fatalf("the suite did not say %q; output:\n%s", tc.want, out)
			}
		})
	}
}

// TestIncompleteHarness is run by TestSuiteRefusesIncompleteHarness only.
func TestIncompleteHarness(t *testing.T) {
	h := harness(t, "")
	switch os.Getenv(mutantEnv) {
	case "no-sink":
		h.Sink = nil
	case "no-delivered":
		h.Delivered = nil
	default:
		t.Skip("run by TestSuiteRefusesIncompleteHarness")
	}
	logsinktest.Run(t, h)
}

// runChild runs the conformance tests of this binary with a mutant and
// returns their output; the child must fail.
func runChild(t *testing.T, mutant string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^(TestConformance|TestIncompleteHarness)$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), mutantEnv+"="+mutant)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed against a sink with violation %q, want it to fail; output:\n%s", mutant, out)
	}
	return string(out)
}

// TestSuiteCatchesViolations runs the suite in child processes against the
// fake sink with one contract violation each and checks that the suite
// fails, saying what is wrong.
func TestSuiteCatchesViolations(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("running as a child of TestSuiteCatchesViolations")
	}
	cases := []struct {
		mutant string
		want   string
	}{
		{"bad-type", `Info().Type = "backend", want "logsink"`},
		{"short-results", "log sink answered 0 results for 1 entries"},
		{"no-outcome", "without an outcome"},
		{"drop-last", "entries reported delivered are not at the destination"},
		{"buffered", "entries reported delivered are not at the destination"},
		{"duplicate", "was delivered 2 times, want once"},
		{"mangle-newlines", `message: got "first line second line`},
		{"truncate-8k", "message: got"},
		{"drop-fields", "fields: got \"\""},
		{"truncate-time", "timestamp: got"},
		{"drop-ids", "vm_id: got \"\""},
		{"outage-permanent", "during the outage: entry"},
		{"outage-delivered", "delivered, want retryable"},
		{"outage-no-message", "retryable without a message"},
		{"refusal-retryable", "while the destination refuses: entry"},
		{"reject-all", "next to one to reject: permanent"},
		{"write-after-close", "Write after Close succeeded"},
		{"closed-permanent", "Write after Close: error"},
		{"close-twice-error", "Close of a closed sink"},
	}
	for _, tc := range cases {
		t.Run(tc.mutant, func(t *testing.T) {
			t.Parallel()
			out := runChild(t, tc.mutant)
			if !strings.Contains(out, tc.want) {
				t.Fatalf("the suite failed against violation %q without saying %q; output:\n%s", tc.mutant, tc.want, out)
			}
		})
	}
}
