// Package backendtest is the conformance suite for Quantix hypervisor
// backends. A backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, backendtest.Harness{
//			Backend: func(t *testing.T) backend.Backend { ... configured backend ... },
//			Spec:    func(name string) backend.VMSpec { return backend.VMSpec{Name: name, VCPUs: 1, MemoryMiB: 64} },
//			LogPath: func(vm *backend.VM) string { return filepath.Join(logDir, vm.Name+".log") },
//			Relaunch: func(t *testing.T) (backend.Backend, error) { ... close it, configure a new one ... },
//		})
//	}
//
// Relaunch ends the plugin and starts it again, which must find the VMs
// that run (a backend that cannot says why in CannotRelaunch instead).
// Optional hooks let the suite go further: Crash makes a VM's hypervisor
// process die, which must be reported CRASHED, and Config gives an
// unconfigured backend and bad config blocks, which must be refused naming
// the attribute.
//
// Run serves the backend through go-plugin's gRPC transport inside the test
// process and makes every call through the *backend.GRPCClient the Quantix
// agent uses, so kinds of errors, fields and types are checked after they
// crossed the wire. The suite relies on the Backend contract only: it never
// looks inside a guest, so a backend whose VMs cannot really boot (a
// simulated hypervisor) passes as long as it reports the right states.
//
// Every VM the suite creates is named NamePrefix + what the subtest tests +
// random hex, and is deleted (Force, DeleteDisks) when its subtest ends,
// whether it passed or not.
package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/quantixvm/quantix/internal/wait"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// env is what every subtest shares: the harness, the client and the
// backend's Info. The Relaunch subtest replaces the client, alone, before
// the others start.
type env struct {
	h Harness
	// root is the test Run was given.
	root *testing.T
	c    *backend.GRPCClient
	// tr sees the plugin side of streaming calls; nil when the backend under
	// test was handed over as a *backend.GRPCClient.
	tr   *tracker
	info plugin.Info
}

// subtest is one named conformance check.
type subtest struct {
	name string
	fn   func(t *testing.T, e *env)
	// alone runs the subtest by itself, before the parallel ones start.
	alone bool
}

var subtests = []subtest{
	{"Relaunch", testRelaunch, true},
	{"Info", testInfo, false},
	{"HostInfo", testHostInfo, false},
	{"Config", testConfig, false},
	{"Create", testCreate, false},
	{"InvalidSpec", testInvalidSpec, false},
	{"KernelBoot", testKernelBoot, false},
	{"NotFound", testNotFound, false},
	{"Transitions", testTransitions, false},
	{"Events", testEvents, false},
	{"Crash", testCrash, false},
	{"Concurrency", testConcurrency, false},
	{"Disks", testDisks, false},
	{"TailLog", testTailLog, false},
	{"StreamLog", testStreamLog, false},
	{"StreamLogFrom", testStreamLogFrom, false},
	{"StreamLogDeleted", testStreamLogDeleted, false},
	{"Console", testConsole, false},
}

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,20}$`)

// Run runs the whole conformance suite against the backend h describes, one
// subtest per area: Relaunch, Info, HostInfo, Config, Create, InvalidSpec,
// KernelBoot (when the backend announces backend.CapKernelBoot), NotFound, Transitions, Events, Crash, Concurrency, Disks, TailLog,
// StreamLog, StreamLogFrom, StreamLogDeleted and Console. Relaunch runs first and alone (it
// replaces the backend the others use); the others run in parallel unless
// h.Sequential. A missing
// required Harness field fails the run; a capability the backend does not
// announce, or an optional Harness hook left nil, skips the subtests that
// need it, saying so.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Backend == nil {
		t.Fatal("backendtest: Harness.Backend is nil; it must return the configured Backend under test")
	}
	if h.Spec == nil {
		t.Fatal("backendtest: Harness.Spec is nil; it must return a minimal bootable VMSpec for a given name")
	}
	if !prefixRE.MatchString(h.namePrefix()) {
		t.Fatalf("backendtest: Harness.NamePrefix %q must be 1..20 characters of [A-Za-z0-9._-]", h.namePrefix())
	}
	impl := h.Backend(t)
	if impl == nil {
		t.Fatal("backendtest: Harness.Backend returned a nil Backend")
	}
	e := &env{h: h, root: t}
	if _, ok := impl.(*backend.GRPCClient); ok {
		t.Logf("backendtest: Harness.Backend returned a *backend.GRPCClient; it is used as is and the plugin side of cancelled streams is not checked")
	}
	if err := e.use(t, impl); err != nil {
		t.Fatalf("backendtest: %v", err)
	}
	t.Logf("backendtest: backend %q version %q, api versions %v, capabilities %v", e.info.Name, e.info.Version, e.info.APIVersions, e.info.Capabilities)
	for _, st := range subtests {
		t.Run(st.name, func(t *testing.T) {
			if !h.Sequential && !st.alone {
				t.Parallel()
			}
			st.fn(t, e)
		})
	}
}

// use makes impl the backend every later call goes to: impl itself when it
// is a *backend.GRPCClient, impl served over gRPC otherwise (its connection
// closed when Run's test ends). It reads impl's Info through t's context.
func (e *env) use(t *testing.T, impl backend.Backend) error {
	c, tr := (*backend.GRPCClient)(nil), (*tracker)(nil)
	if gc, ok := impl.(*backend.GRPCClient); ok {
		c = gc
	} else {
		tr = newTracker(impl)
		var err error
		if c, err = dispense(e.root, tr.served()); err != nil {
			return err
		}
	}
	info, err := c.Info(e.op(t))
	if err != nil {
		return fmt.Errorf("Info() over gRPC failed: %s; the suite needs the announced capabilities", describe(err))
	}
	e.c, e.tr, e.info = c, tr, info
	return nil
}

// op returns a context for one Backend call: it ends with t and after the
// harness's per-call timeout.
func (e *env) op(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), e.h.opTimeout())
	t.Cleanup(cancel)
	return ctx
}

// needCap skips t when the backend does not announce capability c.
func (e *env) needCap(t *testing.T, c, what string) {
	t.Helper()
	if !e.info.Has(c) {
		t.Skipf("SKIPPED: backend %q does not announce the %q capability (Info().Capabilities = %v), so %s is not tested",
			e.info.Name, c, e.info.Capabilities, what)
	}
}

// needLogPath fails t when the harness cannot say where a VM's log is.
func (e *env) needLogPath(t *testing.T) {
	t.Helper()
	if e.h.LogPath == nil {
		t.Fatalf("FAILED: backend %q announces the %q capability but Harness.LogPath is nil; the log subtests need the path of a VM's hypervisor log",
			e.info.Name, backend.CapLogs)
	}
}

// randHex returns n random bytes as hex.
func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("backendtest: crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// randomUUID returns a random version 4 UUID, which no VM has.
func randomUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("backendtest: crypto/rand: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// checkUUID reports whether id is a usable VM UUID: canonical form, not the
// nil UUID, not all 0xFF (the agent ignores those).
func checkUUID(id string) error {
	if !uuidRE.MatchString(id) {
		return fmt.Errorf("id %q is not a UUID in canonical 8-4-4-4-12 form", id)
	}
	hexOnly := strings.ReplaceAll(id, "-", "")
	if strings.Trim(hexOnly, "0") == "" || strings.Trim(strings.ToLower(hexOnly), "f") == "" {
		return fmt.Errorf("id %q is the nil or all-ones UUID, which the agent ignores", id)
	}
	return nil
}

// describe formats an error with its plugin kind and field.
func describe(err error) string {
	if err == nil {
		return "no error"
	}
	s := fmt.Sprintf("error %q (kind %s", err.Error(), plugin.KindOf(err))
	if f := plugin.FieldOf(err); f != "" {
		s += fmt.Sprintf(", field %q", f)
	}
	return s + ")"
}

// fmtVM formats what the suite checks of a VM.
func fmtVM(vm *backend.VM) string {
	if vm == nil {
		return "<nil VM>"
	}
	return fmt.Sprintf("{id %s, name %q, state %s, managed %v, vcpus %d, memory_mib %d}",
		vm.ID, vm.Name, vm.State, vm.Managed, vm.Spec.VCPUs, vm.Spec.MemoryMiB)
}

// reservation is a VM name the suite uses, and the ids of VMs created with
// it. When the subtest ends, every VM of that name or id is deleted with
// Force and DeleteDisks, and a hypervisor log that appeared for it is
// removed.
type reservation struct {
	name string
	mu   sync.Mutex
	ids  []string
	// logs maps log paths of created VMs to whether they existed before the
	// VM was created.
	logs map[string]bool
}

// reserve returns a unique VM name for what label tests and registers the
// cleanup of everything created under it.
func (e *env) reserve(t *testing.T, label string) *reservation {
	t.Helper()
	return e.reserveName(t, e.h.namePrefix()+label+"-"+randHex(4))
}

// reserveName is reserve for an exact name (which may be invalid).
func (e *env) reserveName(t *testing.T, name string) *reservation {
	t.Helper()
	r := &reservation{name: name, logs: map[string]bool{}}
	t.Cleanup(func() { e.cleanup(t, r) })
	return r
}

// add records a VM created under r.
func (e *env) add(r *reservation, vm *backend.VM) {
	if vm == nil || vm.ID == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(r.ids, vm.ID) {
		r.ids = append(r.ids, vm.ID)
	}
	if e.h.LogPath != nil {
		p := e.h.LogPath(vm)
		if _, seen := r.logs[p]; p != "" && !seen {
			_, err := os.Lstat(p)
			r.logs[p] = err == nil
		}
	}
}

func (e *env) cleanup(t *testing.T, r *reservation) {
	r.mu.Lock()
	ids := slices.Clone(r.ids)
	r.mu.Unlock()
	vms, err := retryUnavailable(e, func(ctx context.Context) ([]*backend.VM, error) { return e.c.ListVMs(ctx) })
	if err != nil {
		t.Errorf("cleanup: ListVMs failed: %s; deleting the VMs created under name %q by id only", describe(err), r.name)
	}
	for _, vm := range vms {
		if r.name != "" && vm.Name == r.name && !slices.Contains(ids, vm.ID) {
			ids = append(ids, vm.ID)
		}
	}
	deleted := true
	for _, id := range ids {
		_, err := retryUnavailable(e, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, e.c.DeleteVM(ctx, id, backend.DeleteOptions{Force: true, DeleteDisks: true})
		})
		if err != nil {
			deleted = false
			t.Errorf("cleanup: DeleteVM(%s [%q], Force, DeleteDisks) = %s, want success; the VM may be left on the host", id, r.name, describe(err))
		}
	}
	if !deleted {
		return
	}
	for p, existed := range r.logs {
		if existed {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cleanup: removing the log %s of deleted VM %q: %v", p, r.name, err)
		}
	}
}

// retryUnavailable calls fn until it returns anything but an unavailable
// error, for up to the harness's per-call timeout: cleanups outlast a
// hypervisor that is briefly away.
func retryUnavailable[T any](e *env, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.h.opTimeout())
	defer cancel()
	var v T
	var err error
	// Poll's own error only says that the last call was unavailable too:
	// err, returned, says so.
	_ = wait.Poll(ctx, func() error {
		call, cancel := context.WithTimeout(context.Background(), e.h.opTimeout())
		defer cancel()
		if v, err = fn(call); plugin.KindOf(err) == plugin.KindUnavailable {
			return err
		}
		return nil
	})
	return v, err
}

// create creates a VM from the harness's minimal spec under a fresh name
// and fails t when that does not work.
func (e *env) create(t *testing.T, label string) (*backend.VM, *reservation) {
	t.Helper()
	r := e.reserve(t, label)
	spec := e.spec(t, r.name)
	vm, err := e.c.CreateVM(e.op(t), spec)
	e.add(r, vm)
	if err != nil {
		t.Fatalf("CreateVM(%q, the harness's minimal spec) = %s, want a new stopped VM", spec.Name, describe(err))
	}
	if vm == nil || vm.ID == "" {
		t.Fatalf("CreateVM(%q) succeeded but returned %s without an id", spec.Name, fmtVM(vm))
	}
	return vm, r
}

// spec returns the harness's minimal spec for name.
func (e *env) spec(t *testing.T, name string) backend.VMSpec {
	t.Helper()
	spec := e.h.Spec(name)
	if spec.Name != name {
		t.Fatalf("backendtest: Harness.Spec(%q) returned a spec named %q; it must use the name it is given", name, spec.Name)
	}
	return spec
}

// listByName returns the VMs ListVMs reports with the given name.
func (e *env) listByName(t *testing.T, name string) []*backend.VM {
	t.Helper()
	vms, err := e.c.ListVMs(e.op(t))
	if err != nil {
		t.Fatalf("ListVMs() = %s, want the host's VMs", describe(err))
	}
	var out []*backend.VM
	for _, vm := range vms {
		if vm == nil {
			t.Errorf("ListVMs() returned a nil VM")
			continue
		}
		if vm.Name == name {
			out = append(out, vm)
		}
	}
	return out
}

// listByID returns the VM ListVMs reports with the given id, or nil.
func (e *env) listByID(t *testing.T, id string) *backend.VM {
	t.Helper()
	vms, err := e.c.ListVMs(e.op(t))
	if err != nil {
		t.Fatalf("ListVMs() = %s, want the host's VMs", describe(err))
	}
	for _, vm := range vms {
		if vm != nil && vm.ID == id {
			return vm
		}
	}
	return nil
}

// wantKind checks that err is a plugin error of kind want.
func wantKind(t *testing.T, what string, err error, want plugin.Kind) bool {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want a %s error", what, want)
		return false
	}
	if got := plugin.KindOf(err); got != want {
		t.Errorf("%s: got %s, want kind %s", what, describe(err), want)
		return false
	}
	return true
}

// wantConflict checks that err is a conflict naming the VM's current state.
func wantConflict(t *testing.T, what string, err error, state backend.PowerState) {
	t.Helper()
	if !wantKind(t, what, err, plugin.KindConflict) {
		return
	}
	if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(string(state))) {
		t.Errorf("%s: conflict message %q does not name the current state %s (the Backend contract: a refused transition is a conflict naming the state)",
			what, err.Error(), state)
	}
}
