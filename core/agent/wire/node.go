package wire

import (
	"github.com/quantixvm/quantix/core/node"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
)

// HostToProto converts what a node says about its machine.
func HostToProto(h node.HostInfo) *agentv1.HostInfo {
	return &agentv1.HostInfo{
		Hostname:          h.Hostname,
		Cpus:              int32(h.CPUs),
		MemoryMib:         h.MemoryMiB,
		Arch:              h.Arch,
		Hypervisor:        h.Hypervisor,
		HypervisorVersion: h.HypervisorVersion,
		KvmUsable:         h.KVMUsable,
	}
}

// HostFromProto converts back; nil gives the zero value.
func HostFromProto(p *agentv1.HostInfo) node.HostInfo {
	return node.HostInfo{
		Hostname:          p.GetHostname(),
		CPUs:              int(p.GetCpus()),
		MemoryMiB:         p.GetMemoryMib(),
		Arch:              p.GetArch(),
		Hypervisor:        p.GetHypervisor(),
		HypervisorVersion: p.GetHypervisorVersion(),
		KVMUsable:         p.GetKvmUsable(),
	}
}

// BackendToProto converts a node's backend and its health.
func BackendToProto(b node.Backend) *agentv1.BackendInfo {
	return &agentv1.BackendInfo{Name: b.Name, Version: b.Version, Healthy: b.Healthy, Error: b.Error}
}

// BackendFromProto converts back; nil gives the zero value.
func BackendFromProto(p *agentv1.BackendInfo) node.Backend {
	return node.Backend{Name: p.GetName(), Version: p.GetVersion(), Healthy: p.GetHealthy(), Error: p.GetError()}
}
