package sim

import (
	"cmp"
	"context"
	"runtime"
	"slices"

	"github.com/quantixvm/quantix/sdk/backend"
)

// HostInfo describes the simulated host as configured.
func (b *Backend) HostInfo(ctx context.Context) (*backend.HostInfo, error) {
	s, err := b.enter(ctx, "reading host info")
	if err != nil {
		return nil, err
	}
	return &backend.HostInfo{
		Hostname:          s.hostname,
		CPUs:              s.cfg.CPUs,
		MemoryMiB:         s.cfg.MemoryMiB,
		Arch:              runtime.GOARCH,
		Hypervisor:        Name,
		HypervisorVersion: Version,
		LibraryVersion:    runtime.Version(),
		KVMUsable:         false,
		DomainType:        Name,
	}, nil
}

// ListVMs returns every VM on the host, Quantix's own and foreign ones,
// sorted by name.
func (b *Backend) ListVMs(ctx context.Context) ([]*backend.VM, error) {
	if _, err := b.enter(ctx, "listing vms"); err != nil {
		return nil, err
	}
	b.mu.RLock()
	out := make([]*backend.VM, 0, len(b.vms))
	for _, vm := range b.vms {
		out = append(out, cloneVM(vm))
	}
	b.mu.RUnlock()
	slices.SortFunc(out, func(a, c *backend.VM) int { return cmp.Compare(a.Name, c.Name) })
	return out, nil
}

// GetVM returns one VM by id; a not-found error when absent.
func (b *Backend) GetVM(ctx context.Context, id string) (*backend.VM, error) {
	id, err := checkID(id)
	if err != nil {
		return nil, err
	}
	verb := "reading vm " + id
	if _, err := b.enter(ctx, verb); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	vm, err := b.lookup(verb, id)
	if err != nil {
		return nil, err
	}
	return cloneVM(vm), nil
}
