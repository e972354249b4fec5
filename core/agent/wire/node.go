package wire

import (
	"github.com/quantixvm/quantix/core/node"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	backendv1 "github.com/quantixvm/quantix/proto/quantix/backend/v1"
)

// HostFromProto is what the inventory keeps of the host a backend
// described; nil gives the zero value.
func HostFromProto(p *backendv1.HostInfo) node.HostInfo {
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
