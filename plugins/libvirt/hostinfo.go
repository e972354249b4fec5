package libvirt

import (
	"context"
	"fmt"

	"libvirt.org/go/libvirt"

	"github.com/quantixvm/quantix/sdk/backend"
)

// HostInfo describes the host: CPUs, memory, architecture, the hypervisor
// and libvirt versions and the domain type new VMs get.
func (b *Backend) HostInfo(context.Context) (*backend.HostInfo, error) {
	var info *backend.HostInfo
	err := b.withConn(func(s *session, c *libvirt.Connect) error {
		var err error
		info, err = hostInfo(s, c)
		if err != nil {
			return classify(err, "reading host info")
		}
		return nil
	})
	return info, err
}

func hostInfo(s *session, c *libvirt.Connect) (*backend.HostInfo, error) {
	host, err := c.GetHostname()
	if err != nil {
		return nil, err
	}
	node, err := c.GetNodeInfo()
	if err != nil {
		return nil, err
	}
	hv, err := c.GetType()
	if err != nil {
		return nil, err
	}
	hvVersion, err := c.GetVersion()
	if err != nil {
		return nil, err
	}
	libVersion, err := c.GetLibVersion()
	if err != nil {
		return nil, err
	}
	arch := s.arch
	if arch == "" {
		arch = node.Model
	}
	return &backend.HostInfo{
		Hostname:          host,
		CPUs:              int(node.Cpus),
		MemoryMiB:         node.Memory >> 10,
		Arch:              arch,
		Hypervisor:        hv,
		HypervisorVersion: formatVersion(hvVersion),
		LibraryVersion:    formatVersion(libVersion),
		KVMUsable:         s.kvm,
		DomainType:        s.domainType,
	}, nil
}

// formatVersion renders libvirt's major*1,000,000+minor*1,000+release as
// x.y.z.
func formatVersion(v uint32) string {
	return fmt.Sprintf("%d.%d.%d", v/1000000, v/1000%1000, v%1000)
}
