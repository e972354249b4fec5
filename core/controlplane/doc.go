// Package controlplane is the VM service behind the REST API: it validates
// requests, writes what users ask for (the spec and desired_state), checks
// each action against the state model of core/vm and dispatches commands to
// the node that hosts the VM.
//
// Two seams shape it:
//
//   - An Executor (core/nodeapi) carries a Command to a node and brings
//     back what the host reports afterwards. In the daemon it is the agent
//     server's Dispatcher (core/agentserver), which routes each command to
//     the session of the agent serving the node; `quantixd dev` runs its
//     own agent in the same process, dialling that server like any other.
//   - Reconciler is the only writer of VM status (state, node, last_seen,
//     message, ...). The service asks it to begin an action, to apply what
//     the host reported, or to set a state it decided on (reset_state,
//     TERMINATED); every state change is stored with a vm.Event in the same
//     transaction. Host reports pushed by agents go through the same type.
//
// Creating a VM reserves its name with a placeholder record in state
// CREATING (keyed by a fresh id, since the hypervisor assigns the real UUID),
// then asks the backend to define it, then swaps the placeholder for the
// record under the backend's UUID in one transaction. Both the swap and the
// insertion of VMs reported by hosts hold the reconciler's insert lock, and a
// report of an unknown UUID whose name matches a CREATING placeholder on that
// node is taken as the VM being created, not as a discovery: the inventory
// never shows the VM twice. While its create runs, reset_state and delete
// refuse the placeholder; one left behind by a crash is settled by
// reset_state or the stuck-state scan (placeholder.go): the host is asked
// for the VM of that name Quantix made, which the record then becomes, or
// the record is removed.
//
// # Reconciliation
//
// The Reconciler is also the ReportHandler (core/nodeapi) agents report to
// through the agent server (docs/reconciliation.md).
// Each report is applied in one transaction (commit.go), by the rules of
// core/reconcile, pure functions of the record and the report, so that a
// record written concurrently is read again and judged anew inside the
// transaction. The decisions are made on a read
// outside it: a full sync that changes nothing opens no transaction and
// writes nothing. Unknown UUIDs are inserted as host-discovered in one
// batch; known ones get status only (store.VMRepo.UpdateStatus cannot write
// a spec); full syncs make the node's missing VMs LOST, removed or
// TERMINATED.
//
// Node liveness lives in memory (liveness.go): a heartbeat updates a clock
// and, unless the node comes back or its backend's health changes, writes
// the node row at most every NodeWriteInterval. Run checks the clocks and
// makes a node that missed its heartbeats UNREACHABLE, its VMs UNKNOWN,
// and scans for VMs stuck in a transitional state (stuck.go). Restart
// policies are applied after the commit of the report that showed the VM
// down (restart.go; core/restart schedules them). Requests are checked
// against the rules of core/admission before anything is written.
//
// Every VM event is published on the events.Broker (core/events) after its
// commit, with the node changes and the removals of unmanaged records,
// which the store does not keep; Subscribe serves the stream, resuming from
// the store what the broker no longer holds.
//
// Wiring, for the daemon:
//
//	dispatcher := agentserver.NewDispatcher()
//	svc, _ := controlplane.New(controlplane.Options{Store: st, Executor: dispatcher, Logger: log,
//		Reconcile: controlplane.ReconcilerOptions{StuckTimeout: cfg.Server.Reconcile.StuckTimeout}})
//	rec := svc.Reconciler()  // the ReportHandler of the agent server
//	go rec.Run(ctx)          // liveness and stuck states, until ctx ends
//	httpServer.RegisterOnShutdown(svc.Broker().Close) // ends open event streams
//	defer rec.Close()        // stops pending restarts
package controlplane
