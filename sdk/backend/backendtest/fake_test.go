package backendtest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// fakeBackend is an in-memory Backend that keeps the whole contract, used to
// check the suite itself. Its logs are files under logDir named <vm>.log.
// mutant, when set, names one deliberate contract violation.
type fakeBackend struct {
	logDir string
	mutant string

	mu   sync.Mutex
	vms  map[string]*backend.VM
	subs map[*eventQueue]struct{}
}

var _ backend.Backend = (*fakeBackend)(nil)

func newFake(logDir, mutant string) *fakeBackend {
	return &fakeBackend{logDir: logDir, mutant: mutant, vms: map[string]*backend.VM{}, subs: map[*eventQueue]struct{}{}}
}

func (b *fakeBackend) logPath(name string) string { return filepath.Join(b.logDir, name+".log") }

func newUUID() string {
	u := make([]byte, 16)
	_, _ = rand.Read(u)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

func (b *fakeBackend) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{
		Name: "fake", Type: plugin.TypeBackend, Version: "0.0.1", APIVersions: backend.APIVersions,
		Capabilities: []string{backend.CapEvents, backend.CapLogs, backend.CapPause, backend.CapDisks},
	}, nil
}

func (b *fakeBackend) Configure(context.Context, []byte, int) error { return nil }

func (b *fakeBackend) HostInfo(context.Context) (*backend.HostInfo, error) {
	return &backend.HostInfo{Hostname: "fake-host", CPUs: 4, MemoryMiB: 8192, Arch: "x86_64", Hypervisor: "fake"}, nil
}

func clone(vm *backend.VM) *backend.VM {
	c := *vm
	c.Disks = append([]backend.Disk(nil), vm.Disks...)
	return &c
}

// createDisk creates the i-th disk of VM name as a sparse file in the log
// directory's disks/ subdirectory.
func (b *fakeBackend) createDisk(name string, i int, d backend.DiskSpec) (backend.Disk, error) {
	size := d.SizeGiB << 30
	if d.BaseImage != "" {
		fi, err := os.Stat(d.BaseImage)
		if err != nil {
			return backend.Disk{}, plugin.InvalidArgument(fmt.Sprintf("disks[%d].base_image", i), "disks[%d].base_image: %v", i, err)
		}
		size = max(size, uint64(fi.Size()))
	}
	dir := filepath.Join(b.logDir, "disks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return backend.Disk{}, err
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.img", name, i))
	f, err := os.Create(path)
	if err != nil {
		return backend.Disk{}, err
	}
	defer f.Close()
	if err := f.Truncate(int64(size)); err != nil {
		return backend.Disk{}, err
	}
	return backend.Disk{Name: fmt.Sprintf("%s-%d", name, i), Path: path, SizeBytes: size, Format: "raw", BaseImage: d.BaseImage, Owned: true}, nil
}

// removeDisks removes the disk files of vm.
func (b *fakeBackend) removeDisks(vm *backend.VM) {
	for _, d := range vm.Disks {
		_ = os.Remove(d.Path)
	}
	_ = os.Remove(filepath.Join(b.logDir, "disks"))
}

func (b *fakeBackend) ListVMs(context.Context) ([]*backend.VM, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*backend.VM, 0, len(b.vms))
	for _, vm := range b.vms {
		out = append(out, clone(vm))
	}
	return out, nil
}

func (b *fakeBackend) lookup(id string) (*backend.VM, error) {
	vm, ok := b.vms[id]
	if !ok {
		if b.mutant == "get-internal" {
			return nil, fmt.Errorf("no such domain %s", id)
		}
		return nil, plugin.NotFound("vm %s not found", id)
	}
	return vm, nil
}

func (b *fakeBackend) GetVM(_ context.Context, id string) (*backend.VM, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	vm, err := b.lookup(id)
	if err != nil {
		return nil, err
	}
	return clone(vm), nil
}

func (b *fakeBackend) CreateVM(_ context.Context, spec backend.VMSpec) (*backend.VM, error) {
	if err := backend.ValidateSpec(spec); err != nil {
		if b.mutant == "no-field" {
			return nil, plugin.InvalidArgument("", "%v", err)
		}
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mutant != "dup-name" {
		for _, vm := range b.vms {
			if vm.Name == spec.Name {
				return nil, plugin.Conflict("a vm named %q already exists", spec.Name)
			}
		}
	}
	vm := &backend.VM{ID: newUUID(), Name: spec.Name, State: backend.StateStopped, Managed: true, Spec: spec}
	for i, d := range spec.Disks {
		disk, err := b.createDisk(vm.Name, i, d)
		if err != nil {
			b.removeDisks(vm)
			return nil, err
		}
		vm.Disks = append(vm.Disks, disk)
	}
	b.vms[vm.ID] = vm
	b.emit(backend.Event{Type: backend.EventCreated, VMID: vm.ID, VMName: vm.Name, State: vm.State})
	return clone(vm), nil
}

func (b *fakeBackend) DeleteVM(_ context.Context, id string, opts backend.DeleteOptions) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	vm, ok := b.vms[id]
	if !ok {
		if b.mutant == "delete-unknown" {
			return plugin.NotFound("vm %s not found", id)
		}
		return nil
	}
	if vm.State != backend.StateStopped && !opts.Force {
		return plugin.Conflict("vm %s is %s; stop it first or force", vm.Name, vm.State)
	}
	delete(b.vms, id)
	if opts.DeleteDisks && b.mutant != "keep-disks" {
		b.removeDisks(vm)
	}
	if b.mutant != "no-deleted-event" {
		b.emit(backend.Event{Type: backend.EventDeleted, VMID: id, VMName: vm.Name})
	}
	return nil
}

// transition moves a VM to a new state when it is in one of from, succeeds
// unchanged when it is already in to, and is a conflict naming the state
// otherwise.
func (b *fakeBackend) transition(id, op string, to backend.PowerState, from ...backend.PowerState) (*backend.VM, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	vm, err := b.lookup(id)
	if err != nil {
		return nil, err
	}
	if vm.State == to && op != "reboot" {
		return clone(vm), nil
	}
	allowed := false
	for _, f := range from {
		allowed = allowed || vm.State == f
	}
	if op == "pause" && b.mutant == "pause-stopped" {
		allowed = true
	}
	if !allowed {
		return nil, plugin.Conflict("cannot %s vm %s: it is %s", op, vm.Name, vm.State)
	}
	if vm.State != to {
		vm.State = to
		b.emit(backend.Event{Type: backend.EventStateChanged, VMID: vm.ID, VMName: vm.Name, State: to})
	}
	return clone(vm), nil
}

func (b *fakeBackend) StartVM(_ context.Context, id string) (*backend.VM, error) {
	return b.transition(id, "start", backend.StateRunning, backend.StateStopped, backend.StateCrashed)
}

func (b *fakeBackend) StopVM(_ context.Context, id string, _ backend.StopOptions) (*backend.VM, error) {
	return b.transition(id, "stop", backend.StateStopped, backend.StateRunning, backend.StatePaused)
}

func (b *fakeBackend) RebootVM(_ context.Context, id string) (*backend.VM, error) {
	return b.transition(id, "reboot", backend.StateRunning, backend.StateRunning)
}

func (b *fakeBackend) PauseVM(_ context.Context, id string) (*backend.VM, error) {
	return b.transition(id, "pause", backend.StatePaused, backend.StateRunning)
}

func (b *fakeBackend) ResumeVM(_ context.Context, id string) (*backend.VM, error) {
	return b.transition(id, "resume", backend.StateRunning, backend.StatePaused)
}

func (b *fakeBackend) vmLog(id string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	vm, err := b.lookup(id)
	if err != nil {
		return "", err
	}
	return b.logPath(vm.Name), nil
}

func (b *fakeBackend) TailLog(_ context.Context, id string, n int) (*backend.LogTail, error) {
	if n < 1 {
		return nil, plugin.InvalidArgument("lines", "lines: %d, want at least 1", n)
	}
	path, err := b.vmLog(id)
	if err != nil {
		return nil, err
	}
	tail := &backend.LogTail{Path: path, Lines: []string{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return tail, nil
	}
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	tail.Exists, tail.SizeBytes, tail.LastModified = true, fi.Size(), fi.ModTime()
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(data) == 0 {
		lines = nil
	}
	if b.mutant == "tail-truncated" {
		n++
	}
	if len(lines) > n {
		tail.Truncated = true
		lines = lines[len(lines)-n:]
	}
	tail.Lines = append(tail.Lines, lines...)
	return tail, nil
}

// logGone says whether VM id, named name, was deleted, and whether another
// VM has its name now.
func (b *fakeBackend) logGone(id, name string) (deleted, taken bool) {
	if b.mutant == "stream-outlives-delete" {
		return false, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.vms[id]; ok {
		return false, false
	}
	for _, vm := range b.vms {
		if vm.Name == name {
			return true, true
		}
	}
	return true, false
}

// StreamLog polls the file every 10 ms, noticing rotation (another file at
// the path) and truncation (the file shorter than what was read). Once the
// VM is deleted it hands on what is left in the file and ends, at once when
// another VM has its name.
func (b *fakeBackend) StreamLog(ctx context.Context, id string, offset int64, fn func(backend.LogLine) error) error {
	path, err := b.vmLog(id)
	if err != nil {
		return err
	}
	name := strings.TrimSuffix(filepath.Base(path), ".log")
	gone := plugin.NotFound("following the log of vm %s: the vm was deleted", id)
	var f *os.File
	defer func() {
		if f != nil {
			_ = f.Close()
		}
	}()
	var pos int64
	started, reopened := false, false
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if f != nil {
			cur, err := f.Stat()
			if err != nil {
				return err
			}
			if onDisk, err := os.Stat(path); err != nil || !os.SameFile(cur, onDisk) {
				_ = f.Close()
				f = nil
			} else if onDisk.Size() < pos {
				pos, reopened = 0, b.mutant != "stream-no-reopen"
			}
		}
		if f == nil {
			if nf, err := os.Open(path); err == nil {
				f = nf
				switch {
				case !started && offset < 0 && b.mutant != "stream-from-start":
					fi, err := f.Stat()
					if err != nil {
						return err
					}
					pos = fi.Size()
				case !started && offset > 0:
					pos = offset
				default:
					pos = 0
					reopened = started && b.mutant != "stream-no-reopen"
				}
			}
			started = true
		}
		deleted, _ := b.logGone(id, name)
		if f != nil {
			data, err := io.ReadAll(io.NewSectionReader(f, pos, 1<<40))
			if err != nil {
				return err
			}
			for {
				nl := bytes.IndexByte(data, '\n')
				if nl < 0 {
					break
				}
				if _, taken := b.logGone(id, name); taken {
					return gone
				}
				pos += int64(nl) + 1
				if err := fn(backend.LogLine{Text: string(data[:nl]), Offset: pos, Time: time.Now(), Reopened: reopened}); err != nil {
					return err
				}
				reopened = false
				data = data[nl+1:]
			}
		}
		if deleted {
			return gone
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// eventQueue is one WatchEvents subscriber's backlog.
type eventQueue struct {
	mu     sync.Mutex
	events []backend.Event
	wake   chan struct{}
}

// emit queues ev for every subscriber; b.mu is held.
func (b *fakeBackend) emit(ev backend.Event) {
	ev.Time = time.Now()
	for q := range b.subs {
		q.mu.Lock()
		q.events = append(q.events, ev)
		q.mu.Unlock()
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

func (b *fakeBackend) WatchEvents(ctx context.Context, fn func(backend.Event) error) error {
	q := &eventQueue{wake: make(chan struct{}, 1)}
	b.mu.Lock()
	b.subs[q] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.subs, q)
		if b.mutant == "unsubscribe-all" {
			clear(b.subs)
		}
		b.mu.Unlock()
	}()
	done := ctx.Done()
	if b.mutant == "leak-watch" {
		done = nil
	}
	for {
		q.mu.Lock()
		evs := q.events
		q.events = nil
		q.mu.Unlock()
		for _, ev := range evs {
			if err := fn(ev); err != nil {
				if b.mutant == "leak-watch" {
					select {}
				}
				return err
			}
		}
		select {
		case <-done:
			return nil
		case <-q.wake:
		}
	}
}
