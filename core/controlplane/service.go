package controlplane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/admission"
	"github.com/quantixvm/quantix/core/events"
	"github.com/quantixvm/quantix/core/nodeapi"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/core/vm"
)

// statusWriteTimeout bounds the status writes that follow a command: they
// run even when the client that asked has gone, so that no VM stays in a
// transitional state because a connection dropped.
const statusWriteTimeout = 30 * time.Second

// Options configure a Service.
type Options struct {
	// Store is the inventory.
	Store store.Store
	// Executor delivers commands to nodes.
	Executor nodeapi.Executor
	// Reconciler writes VM status and applies agents' reports; nil makes
	// one from Reconcile, whose Store, Executor and Logger default to the
	// ones above.
	Reconciler *Reconciler
	// Reconcile configures the Reconciler New makes.
	Reconcile ReconcilerOptions
	// Logger receives the service's log; nil discards.
	Logger hclog.Logger
	// Overcommit bounds what VMs may ask of their node; unset ratios take
	// admission.DefaultCPUOvercommit and DefaultMemoryOvercommit.
	Overcommit admission.Overcommit
	// NodeCerts revokes the agent certificates of a node RemoveNode
	// removes; nil revokes none, and a node whose agent is connected is
	// then removed only when forced.
	NodeCerts NodeCertRevoker
}

// Service is the VM and node service the REST API calls. It writes what
// users ask for (spec, desired_state, name, labels, ...) and leaves every
// status write to its Reconciler.
type Service struct {
	store store.Store
	exec  nodeapi.Executor
	rec   *Reconciler
	log   hclog.Logger
	// overcommit bounds what VMs may ask of their node.
	overcommit admission.Overcommit
	// certs revokes removed nodes' certificates; nil when there are none.
	certs NodeCertRevoker
	// creating holds the placeholder ids of the creates this process runs;
	// reset_state and delete leave those VMs alone until they are done.
	creating sync.Map
	// consoles are the VM consoles open through this service.
	consoles consoles
}

// New returns the service described by opts.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Executor == nil {
		return nil, errors.New("controlplane: a store and an executor are required")
	}
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	rec := opts.Reconciler
	if rec == nil {
		ro := opts.Reconcile
		if ro.Store == nil {
			ro.Store = opts.Store
		}
		if ro.Executor == nil {
			ro.Executor = opts.Executor
		}
		if ro.Logger == nil {
			ro.Logger = logger
		}
		var err error
		if rec, err = NewReconciler(ro); err != nil {
			return nil, err
		}
	}
	return &Service{store: opts.Store, exec: opts.Executor, rec: rec, log: logger.Named("controlplane"), overcommit: opts.Overcommit.WithDefaults(),
		certs: opts.NodeCerts}, nil
}

// Reconciler returns the service's status writer: the ReportHandler of
// agents, whose Run and Close the daemon calls.
func (s *Service) Reconciler() *Reconciler { return s.rec }

// Broker returns the broker VM and node changes are published on.
func (s *Service) Broker() *events.Broker { return s.rec.broker }

// Get returns the VM with id ref, or else the VM named ref (a TERMINATED VM
// is found by id only).
func (s *Service) Get(ctx context.Context, ref string) (*vm.VM, error) {
	if ref == "" {
		return nil, notFound(ref)
	}
	v, err := s.store.VMs().Get(ctx, ref)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, storeError(fmt.Sprintf("getting vm %q", ref), err)
	}
	v, err = s.store.VMs().GetByName(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(ref)
	}
	if err != nil {
		return nil, storeError(fmt.Sprintf("getting vm %q", ref), err)
	}
	return v, nil
}

// connected reports whether an agent serves node id.
func (s *Service) connected(id string) bool {
	return id != "" && slices.Contains(s.exec.Connected(), id)
}

// connectedSoon reports whether an agent serves node id, waiting the
// executor's bounded time for one to attach again when it can wait
// (nodeapi.ConnectWaiter: on a server of a cluster, an agent moving from
// a stopped server to another).
func (s *Service) connectedSoon(ctx context.Context, id string) bool {
	if s.connected(id) {
		return true
	}
	w, ok := s.exec.(nodeapi.ConnectWaiter)
	return ok && id != "" && w.WaitConnected(ctx, id)
}

// execute runs cmd on node nodeID with the command's own time bound.
func (s *Service) execute(ctx context.Context, nodeID string, cmd nodeapi.Command) (*nodeapi.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, cmd.Timeout())
	defer cancel()
	res, err := s.exec.Execute(ctx, nodeID, cmd)
	if err != nil {
		return nil, err
	}
	if res == nil {
		res = &nodeapi.Result{}
	}
	return res, nil
}

// detached returns a context that outlives the request's, for the writes
// that must follow a command whatever the client does.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), statusWriteTimeout)
}

// refuseCreating refuses to touch a VM this process is creating right now.
func (s *Service) refuseCreating(v *vm.VM, what string) error {
	if _, ok := s.creating.Load(v.ID); !ok {
		return nil
	}
	return &Error{Kind: KindConflict, VM: v, Message: fmt.Sprintf("vm %q is being created: cannot %s it before the create ends", v.Name, what)}
}

// requireManaged refuses every action but adopt, and every edit, on VMs
// Quantix does not manage.
func requireManaged(v *vm.VM, what string) error {
	if v.IsManaged {
		return nil
	}
	return &Error{Kind: KindConflict, VM: v,
		Message: fmt.Sprintf("vm %q is not managed by quantix (origin %s); adopt it first: cannot %s it", v.Name, v.Origin, what)}
}

// acting marks an action of the API on VM id: a restart the restart policy
// had planned is dropped (the user decides now), and the stuck-state check
// leaves the VM alone until the returned func is called.
func (s *Service) acting(id string) (done func()) {
	if rs := s.rec.scheduler(); rs != nil {
		rs.Forget(id)
	}
	return s.rec.hold(id)
}
