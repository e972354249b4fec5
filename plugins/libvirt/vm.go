package libvirt

import (
	"context"
	"encoding/xml"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/quantixvm/quantix/sdk/backend"
)

// sizeFunc returns the virtual size of the disk at a path, if known.
type sizeFunc func(path string) (uint64, bool)

// GetVM returns the VM whose id (domain UUID) is id.
func (b *Backend) GetVM(_ context.Context, id string) (*backend.VM, error) {
	id, err := checkID(id)
	if err != nil {
		return nil, err
	}
	var vm *backend.VM
	err = b.withConn(func(_ *session, c *libvirt.Connect) error {
		var err error
		vm, err = b.getVM(c, id)
		return err
	})
	return vm, err
}

// getVM looks a domain up by UUID and reads it.
func (b *Backend) getVM(c *libvirt.Connect, id string) (*backend.VM, error) {
	dom, err := lookupDomain(c, id)
	if err != nil {
		return nil, err
	}
	defer dom.Free()
	vm, err := b.readVM(c, dom)
	if err != nil {
		return nil, classify(err, "reading vm %s", id)
	}
	return vm, nil
}

// lookupDomain finds a domain by UUID; a missing one is plugin.NotFound.
func lookupDomain(c *libvirt.Connect, id string) (*libvirt.Domain, error) {
	dom, err := c.LookupDomainByUUIDString(id)
	if hasCode(err, libvirt.ERR_NO_DOMAIN) {
		return nil, vmNotFound(id)
	}
	if err != nil {
		return nil, classify(err, "looking up vm %s", id)
	}
	return dom, nil
}

// ListVMs returns every domain on the host, Quantix's own and foreign ones,
// sorted by name.
func (b *Backend) ListVMs(ctx context.Context) ([]*backend.VM, error) {
	var vms []*backend.VM
	err := b.withConn(func(_ *session, c *libvirt.Connect) error {
		doms, err := c.ListAllDomains(0)
		if err != nil {
			return classify(err, "listing vms")
		}
		defer freeDomains(doms)
		vms, err = b.readVMs(ctx, c, doms)
		return err
	})
	return vms, err
}

func freeDomains(doms []libvirt.Domain) {
	for i := range doms {
		_ = doms[i].Free()
	}
}

// readVMs reads domains in parallel; domains that vanish meanwhile are
// left out.
func (b *Backend) readVMs(ctx context.Context, c *libvirt.Connect, doms []libvirt.Domain) ([]*backend.VM, error) {
	out := make([]*backend.VM, len(doms))
	errs := make([]error, len(doms))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(len(doms), 2*runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = b.readVM(c, &doms[i])
			}
		}()
	}
	for i := range doms {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("listing vms: %w", err)
	}
	vms, err := collectVMs(out, errs)
	if err == nil {
		b.parsed.retain(vms)
	}
	return vms, err
}

func collectVMs(vms []*backend.VM, errs []error) ([]*backend.VM, error) {
	res := make([]*backend.VM, 0, len(vms))
	for i, vm := range vms {
		if errs[i] != nil {
			if hasCode(errs[i], libvirt.ERR_NO_DOMAIN) {
				continue
			}
			return nil, classify(errs[i], "listing vms")
		}
		res = append(res, vm)
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Name < res[j].Name })
	return res, nil
}

// readVM reads a domain's live definition and state. Definitions are
// decoded once per distinct XML text (see parseCache).
func (b *Backend) readVM(c *libvirt.Connect, dom *libvirt.Domain) (*backend.VM, error) {
	doc, err := dom.GetXMLDesc(0)
	if err != nil {
		return nil, err
	}
	state, reason, err := dom.GetState()
	if err != nil {
		return nil, err
	}
	uuid, err := dom.GetUUIDString()
	if err != nil {
		return nil, err
	}
	p, err := b.parsed.parse(uuid, doc)
	if err != nil {
		return nil, err
	}
	return buildVM(p, state, reason, func(path string) (uint64, bool) {
		return volumeCapacity(c, path)
	}), nil
}

// domainView is the part of a domain definition a VM is read from, made of
// libvirtxml's types. Decoding it skips the sections and devices Quantix does
// not read, which makes it several times cheaper than a whole
// libvirtxml.Domain when listing many VMs.
type domainView struct {
	XMLName     xml.Name                   `xml:"domain"`
	Name        string                     `xml:"name"`
	UUID        string                     `xml:"uuid"`
	Description string                     `xml:"description"`
	Metadata    *libvirtxml.DomainMetadata `xml:"metadata"`
	Memory      *libvirtxml.DomainMemory   `xml:"memory"`
	VCPU        *libvirtxml.DomainVCPU     `xml:"vcpu"`
	OS          *osView                    `xml:"os"`
	Devices     *devicesView               `xml:"devices"`
}

type osView struct {
	BootDevices []libvirtxml.DomainBootDevice `xml:"boot"`
	Kernel      string                        `xml:"kernel"`
	Initrd      string                        `xml:"initrd"`
	Cmdline     string                        `xml:"cmdline"`
}

type devicesView struct {
	Disks      []libvirtxml.DomainDisk      `xml:"disk"`
	Interfaces []libvirtxml.DomainInterface `xml:"interface"`
	Serials    []libvirtxml.DomainSerial    `xml:"serial"`
	Consoles   []libvirtxml.DomainConsole   `xml:"console"`
}

// vmFromXML builds a VM from a domain's XML and state.
func vmFromXML(doc string, state libvirt.DomainState, reason int, size sizeFunc) (*backend.VM, error) {
	p, err := parseDomain(doc)
	if err != nil {
		return nil, err
	}
	return buildVM(p, state, reason, size), nil
}

// parsedDomain is a decoded domain definition.
type parsedDomain struct {
	doc     string
	def     domainView
	meta    vmMetadata
	managed bool
}

func parseDomain(doc string) (*parsedDomain, error) {
	p := &parsedDomain{doc: doc}
	if err := xml.Unmarshal([]byte(doc), &p.def); err != nil {
		return nil, fmt.Errorf("parsing domain xml: %w", err)
	}
	if p.def.Metadata != nil {
		var err error
		if p.meta, p.managed, err = parseMetadata(p.def.Metadata.XML); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// buildVM makes a VM of a parsed domain; it only reads p.
func buildVM(p *parsedDomain, state libvirt.DomainState, reason int, size sizeFunc) *backend.VM {
	def := &p.def
	vm := &backend.VM{
		ID:      strings.ToLower(def.UUID),
		Name:    def.Name,
		Managed: p.managed,
		Spec: backend.VMSpec{
			Name:        def.Name,
			VCPUs:       domainVCPUs(def),
			MemoryMiB:   domainMemoryMiB(def),
			Boot:        bootDevices(def),
			Description: def.Description,
		},
	}
	if def.OS != nil {
		vm.Spec.Kernel, vm.Spec.Initrd, vm.Spec.Cmdline = def.OS.Kernel, def.OS.Initrd, def.OS.Cmdline
	}
	if p.managed {
		vm.Spec.Description = p.meta.Description
	}
	vm.State, vm.StateReason = mapState(state, reason)
	if def.Devices != nil {
		vm.Disks, vm.Spec.Disks = readDisks(def.Devices.Disks, p.meta, size)
		vm.Spec.NICs = readNICs(def.Devices.Interfaces)
		vm.ConsolePTY = consolePTY(def.Devices)
	}
	return vm
}

func domainVCPUs(def *domainView) uint32 {
	if def.VCPU == nil {
		return 0
	}
	return uint32(def.VCPU.Value)
}

func domainMemoryMiB(def *domainView) uint64 {
	if def.Memory == nil {
		return 0
	}
	return toBytes(uint64(def.Memory.Value), def.Memory.Unit) >> 20
}

// toBytes converts a libvirt scaled integer; the default unit is KiB.
func toBytes(v uint64, unit string) uint64 {
	switch strings.ToLower(unit) {
	case "b", "bytes":
		return v
	case "kb":
		return v * 1000
	case "", "k", "kib":
		return v << 10
	case "mb":
		return v * 1000 * 1000
	case "m", "mib":
		return v << 20
	case "gb":
		return v * 1000 * 1000 * 1000
	case "g", "gib":
		return v << 30
	case "tb":
		return v * 1000 * 1000 * 1000 * 1000
	case "t", "tib":
		return v << 40
	}
	return v << 10
}

func bootDevices(def *domainView) []string {
	if def.OS == nil {
		return nil
	}
	var boot []string
	for _, d := range def.OS.BootDevices {
		boot = append(boot, d.Dev)
	}
	return boot
}

// readDisks returns the disks (not cdroms or floppies) as attached and as
// spec.
func readDisks(disks []libvirtxml.DomainDisk, meta vmMetadata, size sizeFunc) ([]backend.Disk, []backend.DiskSpec) {
	var out []backend.Disk
	var specs []backend.DiskSpec
	for _, d := range disks {
		if d.Device != "" && d.Device != "disk" {
			continue
		}
		disk := readDisk(d, meta, size)
		out = append(out, disk)
		specs = append(specs, backend.DiskSpec{
			Name:      disk.Name,
			SizeGiB:   (disk.SizeBytes + gib - 1) / gib,
			BaseImage: disk.BaseImage,
			Bus:       diskBus(d),
		})
	}
	return out, specs
}

func readDisk(d libvirtxml.DomainDisk, meta vmMetadata, size sizeFunc) backend.Disk {
	disk := backend.Disk{Path: diskPath(d.Source)}
	if d.Driver != nil {
		disk.Format = d.Driver.Type
	}
	if d.Target != nil {
		disk.Name = d.Target.Dev
	}
	if v, ok := meta.owns(disk.Path); ok && disk.Path != "" {
		disk.Name, disk.BaseImage, disk.Owned = v.Disk, v.Base, true
	} else if d.BackingStore != nil {
		disk.BaseImage = diskPath(d.BackingStore.Source)
	}
	if disk.Path != "" {
		disk.SizeBytes, _ = size(disk.Path)
	}
	return disk
}

func diskPath(src *libvirtxml.DomainDiskSource) string {
	switch {
	case src == nil:
		return ""
	case src.File != nil:
		return src.File.File
	case src.Block != nil:
		return src.Block.Dev
	case src.Dir != nil:
		return src.Dir.Dir
	case src.Volume != nil:
		return src.Volume.Pool + "/" + src.Volume.Volume
	}
	return ""
}

func diskBus(d libvirtxml.DomainDisk) string {
	if d.Target == nil {
		return ""
	}
	return d.Target.Bus
}

func readNICs(ifaces []libvirtxml.DomainInterface) []backend.NICSpec {
	var nics []backend.NICSpec
	for _, i := range ifaces {
		n := backend.NICSpec{}
		n.Type, n.Source = nicType(i.Source)
		if i.MAC != nil {
			n.MAC = i.MAC.Address
		}
		if i.Model != nil {
			n.Model = i.Model.Type
		}
		nics = append(nics, n)
	}
	return nics
}

// nicType names an interface's type and source as Quantix does; types
// Quantix does not create keep libvirt's name.
func nicType(src *libvirtxml.DomainInterfaceSource) (string, string) {
	switch {
	case src == nil:
		return "", ""
	case src.Network != nil:
		return backend.NICNetwork, src.Network.Network
	case src.Bridge != nil:
		return backend.NICBridge, src.Bridge.Bridge
	case src.User != nil:
		return backend.NICUser, ""
	case src.Direct != nil:
		return "direct", src.Direct.Dev
	case src.Ethernet != nil:
		return "ethernet", ""
	case src.VHostUser != nil:
		return "vhostuser", ""
	}
	return "other", ""
}

// consolePTY returns the pty of the serial console of a running domain.
func consolePTY(devs *devicesView) string {
	for _, c := range devs.Consoles {
		if c.TTY != "" {
			return c.TTY
		}
		if c.Source != nil && c.Source.Pty != nil && c.Source.Pty.Path != "" {
			return c.Source.Pty.Path
		}
	}
	for _, s := range devs.Serials {
		if s.Source != nil && s.Source.Pty != nil && s.Source.Pty.Path != "" {
			return s.Source.Pty.Path
		}
	}
	return ""
}
