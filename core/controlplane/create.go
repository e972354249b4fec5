package controlplane

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/quantixvm/quantix/core/admission"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
)

// CreateRequest is a VM to create. VCPUs and MemoryMiB are signed so that a
// negative value gets its own message rather than a wrap-around.
type CreateRequest struct {
	Name        string
	Description string
	Labels      map[string]string
	VCPUs       int64
	MemoryMiB   int64
	Disks       []vm.Disk
	NICs        []vm.NIC
	Boot        []string
	// Kernel, Initrd and Cmdline ask for a direct kernel boot (vm.Spec).
	Kernel        string
	Initrd        string
	Cmdline       string
	RestartPolicy string
	// NodeID places the VM (a node id or name); empty picks the only
	// connected node.
	NodeID string
}

// validate checks the request and returns the spec and restart policy it
// asks for.
func (r CreateRequest) validate() (vm.Spec, vm.RestartPolicy, error) {
	if err := admit(admission.Size("vcpus", r.VCPUs, 1, admission.MaxVCPUs), nil); err != nil {
		return vm.Spec{}, "", err
	}
	if err := admit(admission.Size("memory_mib", r.MemoryMiB, backend.MinMemoryMiB, admission.MaxMemoryMiB), nil); err != nil {
		return vm.Spec{}, "", err
	}
	disks := make([]vm.Disk, len(r.Disks))
	for i, d := range r.Disks {
		d.Path = "" // the host decides where a disk lives
		disks[i] = d
	}
	spec := vm.Spec{
		VCPUs:     uint32(r.VCPUs),
		MemoryMiB: uint64(r.MemoryMiB),
		Disks:     disks,
		NICs:      slices.Clone(r.NICs),
		Boot:      slices.Clone(r.Boot),
		Kernel:    r.Kernel,
		Initrd:    r.Initrd,
		Cmdline:   r.Cmdline,
	}
	if err := checkSpec(r.Name, spec); err != nil {
		return vm.Spec{}, "", err
	}
	if err := admit(admission.Description(r.Description), nil); err != nil {
		return vm.Spec{}, "", err
	}
	if err := admit(admission.Labels(r.Labels), nil); err != nil {
		return vm.Spec{}, "", err
	}
	policy, err := vm.ParseRestartPolicy(r.RestartPolicy)
	if err != nil {
		return vm.Spec{}, "", invalid("restart_policy", "restart_policy: %v", err)
	}
	return spec, policy, nil
}

// Create defines a VM on a node and records it, stopped. The record shows
// CREATING while the backend works; when the backend fails, nothing of the
// VM stays, neither on the host nor in the inventory.
func (s *Service) Create(ctx context.Context, req CreateRequest) (*vm.VM, error) {
	spec, policy, err := req.validate()
	if err != nil {
		return nil, err
	}
	nodeID, err := s.placement(ctx, req.NodeID)
	if err != nil {
		return nil, err
	}
	if err := s.checkFits(ctx, nodeID, spec.VCPUs, spec.MemoryMiB); err != nil {
		return nil, err
	}
	if v, err := s.store.VMs().GetByName(ctx, req.Name); err == nil && v.IsManaged {
		return nil, nameTaken(req.Name, v, nil)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, storeError(fmt.Sprintf("creating vm %q", req.Name), err)
	}
	placeholder := &vm.VM{
		ID:            uuid.NewString(),
		Name:          req.Name,
		Description:   req.Description,
		Labels:        maps.Clone(req.Labels),
		Origin:        vm.OriginControlPlane,
		IsManaged:     true,
		DesiredState:  vm.DesiredStopped,
		RestartPolicy: policy,
		Spec:          spec,
		NodeID:        nodeID,
	}
	s.creating.Store(placeholder.ID, struct{}{})
	defer s.creating.Delete(placeholder.ID)
	defer s.rec.hold(placeholder.ID)()
	if err := s.rec.Reserve(ctx, placeholder, Note{Cause: vm.CauseAPI, Action: "create", Message: "creation requested"}); err != nil {
		return nil, err
	}
	// From here on the client going away must not leave a half-made VM.
	wctx := context.WithoutCancel(ctx)
	bspec := vm.BackendSpec(req.Name, req.Description, spec)
	res, err := s.execute(wctx, nodeID, nodeapi.Command{Op: agentv1.Op_OP_CREATE, Spec: &bspec})
	if err == nil && res.VM == nil {
		err = fmt.Errorf("node %s reported no vm after creating it", nodeID)
	}
	if err != nil {
		if derr := s.rec.Discard(wctx, placeholder.ID); derr != nil {
			s.log.Error("removing the record of a failed create", "vm", req.Name, "error", derr)
		}
		return nil, hostError(nil, nodeID, agentv1.Op_OP_CREATE, err, "")
	}
	v, err := s.rec.Complete(wctx, placeholder.ID, nodeID, res.VM, vm.WithHostDisks(spec, res.VM), Note{Cause: vm.CauseAPI, Action: "create"})
	if err != nil {
		s.undoCreate(wctx, nodeID, placeholder.ID, res.VM)
		return nil, err
	}
	s.log.Info("vm created", "vm", v.Name, "id", v.ID, "node", nodeID)
	return v, nil
}

// undoCreate removes a VM whose record could not be written.
func (s *Service) undoCreate(ctx context.Context, nodeID, placeholderID string, b *backend.VM) {
	if _, err := s.execute(ctx, nodeID, nodeapi.Command{Op: agentv1.Op_OP_DELETE, VMID: b.ID, Delete: backend.DeleteOptions{Force: true, DeleteDisks: true}}); err != nil {
		s.log.Error("removing a created vm whose record could not be written", "vm", b.Name, "id", b.ID, "node", nodeID, "error", err)
	}
	if err := s.rec.Discard(ctx, placeholderID); err != nil {
		s.log.Error("removing the record of a failed create", "vm", b.Name, "error", err)
	}
}

// placement picks the node of a new VM: the one named, or the only one
// connected.
func (s *Service) placement(ctx context.Context, ref string) (string, error) {
	connected := s.exec.Connected()
	if ref == "" {
		switch len(connected) {
		case 0:
			return "", errorf(KindUnavailable, "no node is connected to create the vm on")
		case 1:
			return connected[0], nil
		}
		return "", invalid("node_id", "node_id: required: %d nodes are connected (%s)", len(connected), strings.Join(connected, ", "))
	}
	n, err := s.node(ctx, ref)
	if KindOf(err) == KindNotFound {
		return "", invalid("node_id", "node_id: node %q not found", ref)
	}
	if err != nil {
		return "", err
	}
	if !slices.Contains(connected, n.ID) {
		return "", errorf(KindUnavailable, "node %q is not connected: cannot create a vm on it now", n.Name)
	}
	return n.ID, nil
}

// nameTaken is the conflict of a name that managed VM other holds; subject
// is the VM the request was about (nil for a create). A VM being created
// is named by no id: its record is a placeholder whose id goes away when
// the create ends, so the message says so instead.
func nameTaken(name string, other, subject *vm.VM) error {
	msg := fmt.Sprintf("vm name %q is taken by another vm (%s)", name, other.ID)
	if other.State == vm.StateCreating {
		msg = fmt.Sprintf("vm name %q is taken by another vm being created right now", name)
	}
	return &Error{Kind: KindConflict, VM: subject, Message: msg}
}
