package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

const gib = 1 << 30

// CreateVM defines a stopped, managed VM with a random UUID. Its disks are
// records only: they have sim:// paths and take no space; an overlay's base
// image must exist on this machine. A name in use is a conflict.
func (b *Backend) CreateVM(ctx context.Context, spec backend.VMSpec) (*backend.VM, error) {
	if err := backend.ValidateSpec(spec); err != nil {
		return nil, err
	}
	verb := "creating vm " + spec.Name
	s, err := b.enter(ctx, verb)
	if err != nil {
		return nil, err
	}
	vm, err := newVM(s.hostname, spec, true)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.checkFree(verb, vm); err != nil {
		return nil, err
	}
	b.insert(vm, ReasonAdded)
	b.log.Debug("vm created", "vm", vm.Name, "id", vm.ID)
	return cloneVM(vm), nil
}

// newVM builds a stopped VM of spec, which ValidateSpec accepted, with a
// random UUID, its disks and a MAC for every NIC without one.
func newVM(hostname string, spec backend.VMSpec, managed bool) (*backend.VM, error) {
	spec = cloneSpec(spec)
	for i := range spec.NICs {
		if spec.NICs[i].MAC == "" {
			spec.NICs[i].MAC = fmt.Sprintf("52:54:00:%02x:%02x:%02x", rand.IntN(256), rand.IntN(256), rand.IntN(256))
		}
	}
	disks, err := planDisks(hostname, spec)
	if err != nil {
		return nil, err
	}
	return &backend.VM{
		ID:      uuid.NewString(),
		Name:    spec.Name,
		State:   backend.StateStopped,
		Managed: managed,
		Spec:    spec,
		Disks:   disks,
	}, nil
}

// planDisks returns the disks of a VM of spec: named after the disk's name
// (disk<i> when empty), sized as asked or as their base image.
func planDisks(hostname string, spec backend.VMSpec) ([]backend.Disk, error) {
	disks := make([]backend.Disk, 0, len(spec.Disks))
	seen := map[string]bool{}
	for i, d := range spec.Disks {
		field := fmt.Sprintf("disks[%d]", i)
		name := d.Name
		if name == "" {
			name = fmt.Sprintf("disk%d", i)
		}
		if seen[name] {
			return nil, plugin.InvalidArgument(field+".name", "%s.name: %q is used by another disk", field, name)
		}
		seen[name] = true
		disk := backend.Disk{
			Name:      name,
			Path:      fmt.Sprintf("sim://%s/%s-%s.qcow2", hostname, spec.Name, name),
			SizeBytes: d.SizeGiB * gib,
			Format:    "qcow2",
			Owned:     true,
		}
		if d.BaseImage != "" {
			size, err := baseImageSize(field, d.BaseImage)
			if err != nil {
				return nil, err
			}
			disk.BaseImage = filepath.Clean(d.BaseImage)
			disk.SizeBytes = max(disk.SizeBytes, size)
		}
		disks = append(disks, disk)
	}
	return disks, nil
}

// baseImageSize checks that a base image is a file on this machine and
// returns its size.
func baseImageSize(field, path string) (uint64, error) {
	if !filepath.IsAbs(path) {
		return 0, plugin.InvalidArgument(field+".base_image", "%s.base_image: %q is not an absolute path", field, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, plugin.InvalidArgument(field+".base_image", "%s.base_image: %v", field, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, plugin.InvalidArgument(field+".base_image", "%s.base_image: %s is not a regular file", field, path)
	}
	return uint64(fi.Size()), nil
}

// DeleteVM removes a VM. Deleting one that does not exist succeeds; a VM
// that is not stopped or crashed is a conflict naming its state unless
// opts.Force, which stops it first (a state_changed STOPPED event, then
// deleted). Disks are records only, so DeleteDisks removes no file.
func (b *Backend) DeleteVM(ctx context.Context, id string, opts backend.DeleteOptions) error {
	id, err := checkID(id)
	if err != nil {
		return err
	}
	verb := "deleting vm " + id
	if _, err := b.enter(ctx, verb); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	vm, ok := b.vms[id]
	if !ok {
		return nil
	}
	switch vm.State {
	case backend.StateStopped, backend.StateCrashed:
	default:
		if !opts.Force {
			return stateConflict(verb, vm, "; stop it first or force the delete")
		}
		b.setState(vm, backend.StateStopped, ReasonDestroyed)
	}
	b.drop(vm, ReasonRemoved)
	b.log.Debug("vm deleted", "vm", vm.Name, "id", vm.ID)
	return nil
}
