package libvirt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// CreateVM defines a stopped VM: its volumes in the image pool, then the
// domain. When a step fails, whatever was created is removed again.
func (b *Backend) CreateVM(ctx context.Context, spec backend.VMSpec) (*backend.VM, error) {
	if err := backend.ValidateSpec(spec); err != nil {
		return nil, err
	}
	unlock, err := b.locks.lock(ctx, "name:"+spec.Name)
	if err != nil {
		return nil, fmt.Errorf("creating vm %s: %w", spec.Name, err)
	}
	defer unlock()
	var vm *backend.VM
	err = b.withConn(func(s *session, c *libvirt.Connect) error {
		var err error
		vm, err = b.create(ctx, s, c, spec)
		return err
	})
	return vm, err
}

// undoStack collects the steps that take back what a failed create made.
type undoStack []func()

func (u *undoStack) push(f func()) { *u = append(*u, f) }

func (u undoStack) run() {
	for i := len(u) - 1; i >= 0; i-- {
		u[i]()
	}
}

func (b *Backend) create(ctx context.Context, s *session, c *libvirt.Connect, spec backend.VMSpec) (_ *backend.VM, err error) {
	if err := checkNameFree(c, spec.Name); err != nil {
		return nil, err
	}
	if err := checkBootFiles(s.cfg.URI, spec); err != nil {
		return nil, err
	}
	disks, err := planDisks(c, s.pool, spec)
	if err != nil {
		return nil, err
	}
	var undo undoStack
	defer func() {
		if err != nil {
			undo.run()
		}
	}()
	if err := b.createVolumes(ctx, s, c, disks, &undo); err != nil {
		return nil, err
	}
	nics, err := planNICs(c, spec.NICs)
	if err != nil {
		return nil, err
	}
	dom, err := defineDomain(ctx, c, s.domainType, spec, disks, nics)
	if err != nil {
		return nil, err
	}
	defer dom.Free()
	undo.push(func() { _ = undefine(dom) })
	vm, err := b.readVM(c, dom)
	if err != nil {
		return nil, classify(err, "creating vm %s: reading it back", spec.Name)
	}
	b.log.Info("vm created", "vm", spec.Name, "id", vm.ID, "disks", len(disks))
	return vm, nil
}

// checkBootFiles checks that the kernel and initrd of a direct kernel boot
// are regular files, when libvirt runs on this machine (a remote
// connection's files are on its host, and QEMU says at start when one is
// missing there).
func checkBootFiles(uri string, spec backend.VMSpec) error {
	if u, err := url.Parse(uri); err != nil || u.Host != "" {
		return nil
	}
	for _, f := range []struct{ field, path string }{{"kernel", spec.Kernel}, {"initrd", spec.Initrd}} {
		if f.path == "" {
			continue
		}
		fi, err := os.Stat(f.path)
		switch {
		case err != nil:
			return plugin.InvalidArgument(f.field, "%s: %s", f.field, describe(err))
		case !fi.Mode().IsRegular():
			return plugin.InvalidArgument(f.field, "%s: %s is not a regular file", f.field, f.path)
		}
	}
	return nil
}

// checkNameFree fails with a conflict when a domain is called name.
func checkNameFree(c *libvirt.Connect, name string) error {
	dom, err := c.LookupDomainByName(name)
	if err == nil {
		_ = dom.Free()
		return plugin.Conflict("creating vm %s: a vm named %q already exists", name, name)
	}
	if !hasCode(err, libvirt.ERR_NO_DOMAIN) {
		return classify(err, "creating vm %s: looking up the name", name)
	}
	return nil
}

// planDisks names each disk's volume and sizes it; overlays take their
// format and minimum size from the base image.
func planDisks(c *libvirt.Connect, pool string, spec backend.VMSpec) ([]diskPlan, error) {
	plans := make([]diskPlan, 0, len(spec.Disks))
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
		p := diskPlan{Name: name, Bus: d.Bus, Pool: pool, VolName: volumeName(spec.Name, name),
			Format: formatQCOW2, Capacity: d.SizeGiB * gib}
		if d.BaseImage != "" {
			if err := planOverlay(c, field, d, &p); err != nil {
				return nil, err
			}
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// volumeSep separates the VM's name from the disk's in a volume name. VM
// and disk names cannot contain it (backend.ValidateName), so no two disks
// of any VMs get the same volume name: with "-", VM "a" with disk "b-c"
// and VM "a-b" with disk "c" both got "a-b-c.qcow2". Volumes of VMs
// created with that naming are still deleted with their VM: the names of
// the volumes a VM owns are recorded in its metadata, never derived again.
const volumeSep = "+"

// volumeName is the name of the volume of disk of VM vm:
// <vm>+<disk>.qcow2.
func volumeName(vm, disk string) string {
	return vm + volumeSep + disk + ".qcow2"
}

// planOverlay makes p a copy-on-write overlay of d.BaseImage.
func planOverlay(c *libvirt.Connect, field string, d backend.DiskSpec, p *diskPlan) error {
	if !filepath.IsAbs(d.BaseImage) {
		return plugin.InvalidArgument(field+".base_image", "%s.base_image: %q is not an absolute path", field, d.BaseImage)
	}
	info, err := probeBase(c, d.BaseImage)
	if err != nil {
		return plugin.InvalidArgument(field+".base_image", "%s.base_image: %s", field, describe(err))
	}
	p.Base, p.BaseFormat = filepath.Clean(d.BaseImage), info.Format
	p.Capacity = max(info.VirtualSize, d.SizeGiB*gib)
	return nil
}

// probeBase reads the base image's header, or asks libvirt about it when the
// file is not on this machine (a remote connection).
func probeBase(c *libvirt.Connect, path string) (imageInfo, error) {
	info, err := probeImage(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return info, err
	}
	vol, verr := c.LookupStorageVolByPath(path)
	if verr != nil {
		return imageInfo{}, err
	}
	defer vol.Free()
	doc, verr := vol.GetXMLDesc(0)
	if verr != nil {
		return imageInfo{}, err
	}
	var def libvirtxml.StorageVolume
	if verr := def.Unmarshal(doc); verr != nil || def.Capacity == nil {
		return imageInfo{}, err
	}
	info = imageInfo{Format: formatRaw, VirtualSize: toBytes(def.Capacity.Value, orBytes(def.Capacity.Unit))}
	if def.Target != nil && def.Target.Format != nil && def.Target.Format.Type != "" {
		info.Format = def.Target.Format.Type
	}
	return info, nil
}

func orBytes(unit string) string {
	if unit == "" {
		return "bytes"
	}
	return unit
}

// createVolumes creates each disk's volume, recording how to delete it.
// A pool removed behind the plugin's back is defined again once.
func (b *Backend) createVolumes(ctx context.Context, s *session, c *libvirt.Connect, disks []diskPlan, undo *undoStack) error {
	for i := range disks {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("creating volumes: %w", err)
		}
		d := &disks[i]
		err := createVolume(c, d)
		if hasCode(err, libvirt.ERR_NO_STORAGE_POOL) {
			if _, perr := ensurePool(c, s.cfg.ImageDir); perr == nil {
				err = createVolume(c, d)
			}
		}
		if err != nil {
			return classify(err, "creating disk %s", d.Name)
		}
		v := ownedVolume{Disk: d.Name, Pool: d.Pool, Name: d.VolName, Path: d.Path}
		undo.push(func() { _ = deleteVolume(c, v) })
	}
	return nil
}

// planNICs checks that the libvirt networks NICs attach to exist.
func planNICs(c *libvirt.Connect, nics []backend.NICSpec) ([]nicPlan, error) {
	plans := make([]nicPlan, 0, len(nics))
	for i, n := range nics {
		if n.Type == backend.NICNetwork {
			net, err := c.LookupNetworkByName(n.Source)
			if hasCode(err, libvirt.ERR_NO_NETWORK) {
				return nil, plugin.InvalidArgument(fmt.Sprintf("nics[%d].source", i), "nics[%d].source: network %q not found", i, n.Source)
			}
			if err != nil {
				return nil, classify(err, "nics[%d]: looking up network %s", i, n.Source)
			}
			_ = net.Free()
		}
		plans = append(plans, nicPlan{NICSpec: n})
	}
	return plans, nil
}

// defineDomain defines the domain with its Quantix metadata.
func defineDomain(ctx context.Context, c *libvirt.Connect, domainType string, spec backend.VMSpec, disks []diskPlan, nics []nicPlan) (*libvirt.Domain, error) {
	meta := vmMetadata{Description: spec.Description, CreatedAt: time.Now()}
	for _, d := range disks {
		meta.Volumes = append(meta.Volumes, ownedVolume{Disk: d.Name, Pool: d.Pool, Name: d.VolName, Path: d.Path, Base: d.Base})
	}
	metaXML, err := meta.marshal()
	if err != nil {
		return nil, err
	}
	doc, err := buildDomain(domainPlan{Spec: spec, DomainType: domainType, Disks: disks, NICs: nics, Metadata: metaXML}).Marshal()
	if err != nil {
		return nil, fmt.Errorf("creating vm %s: encoding domain xml: %w", spec.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("creating vm %s: %w", spec.Name, err)
	}
	dom, err := c.DomainDefineXML(doc)
	if err != nil {
		if checkNameFree(c, spec.Name) != nil {
			return nil, plugin.Conflict("creating vm %s: a vm named %q already exists", spec.Name, spec.Name)
		}
		return nil, classify(err, "creating vm %s: defining the domain", spec.Name)
	}
	return dom, nil
}
